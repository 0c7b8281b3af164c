package store

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRecordCommits(t *testing.T) { eachBackend(t, testRecordCommits) }

func testRecordCommits(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	mustCreateApp(t, s, "shop")
	mustCreateApp(t, s, "blog")
	start := stepClock(s)
	at := func(min int) time.Time { return time.Date(2026, 2, 1, 10, min, 0, 0, time.UTC) }

	first := []Commit{
		{App: "shop", SHA: "aaa", Branch: "main", Author: "Ann <ann@example.com>", AuthorTime: at(1), CommitTime: at(2), Message: "first"},
		{App: "shop", SHA: "bbb", Branch: "main", Author: "Bob <bob@example.com>", AuthorTime: at(3), CommitTime: at(5), Message: "second\n\nbody"},
		{App: "blog", SHA: "aaa", Branch: "main", CommitTime: at(9), Message: "same sha, other app"},
	}
	if err := s.RecordCommits(ctx, first); err != nil { // pushed at start
		t.Fatalf("RecordCommits: %v", err)
	}
	// A second push of bbb (on another branch) with a new commit ccc: bbb keeps
	// its first push time and branch.
	second := []Commit{
		{App: "shop", SHA: "bbb", Branch: "feature", CommitTime: at(5), Message: "second\n\nbody"},
		{App: "shop", SHA: "ccc", Branch: "feature", CommitTime: at(4), Message: "third, committed earlier"},
	}
	if err := s.RecordCommits(ctx, second); err != nil { // pushed at start+1s
		t.Fatalf("second RecordCommits: %v", err)
	}

	got, err := s.ListCommits(ctx, "shop", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Commit{
		{App: "shop", SHA: "bbb", Branch: "main", Author: "Bob <bob@example.com>", AuthorTime: at(3), CommitTime: at(5), Message: "second\n\nbody", PushedAt: start},
		{App: "shop", SHA: "ccc", Branch: "feature", CommitTime: at(4), Message: "third, committed earlier", PushedAt: start.Add(time.Second)},
		{App: "shop", SHA: "aaa", Branch: "main", Author: "Ann <ann@example.com>", AuthorTime: at(1), CommitTime: at(2), Message: "first", PushedAt: start},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListCommits =\n%+v\nwant\n%+v", got, want)
	}
	if got, err := s.ListCommits(ctx, "shop", 2); err != nil || len(got) != 2 || got[0].SHA != "bbb" || got[1].SHA != "ccc" {
		t.Errorf("ListCommits limit 2 = %+v, %v; want bbb, ccc", got, err)
	}
	if c, err := s.GetCommit(ctx, "blog", "aaa"); err != nil || c.Message != "same sha, other app" {
		t.Errorf("GetCommit(blog, aaa) = %+v, %v", c, err)
	}
	if _, err := s.GetCommit(ctx, "blog", "bbb"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetCommit of a missing commit err = %v, want ErrNotFound", err)
	}

	explicit := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.RecordCommits(ctx, []Commit{{App: "blog", SHA: "ddd", PushedAt: explicit}}); err != nil {
		t.Fatal(err)
	}
	if c, err := s.GetCommit(ctx, "blog", "ddd"); err != nil || !c.PushedAt.Equal(explicit) {
		t.Errorf("commit with an explicit PushedAt = %+v, %v", c, err)
	}
}

func TestRecordCommitsRejects(t *testing.T) { eachBackend(t, testRecordCommitsRejects) }

func testRecordCommitsRejects(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	mustCreateApp(t, s, "shop")
	tests := []struct {
		name    string
		commits []Commit
		want    error
	}{
		{"missing app", []Commit{{App: "shop", SHA: "aaa"}, {App: "nope", SHA: "bbb"}}, ErrNotFound},
		{"empty sha", []Commit{{App: "shop", SHA: "aaa"}, {App: "shop"}}, ErrInvalid},
	}
	for _, tc := range tests {
		if err := s.RecordCommits(ctx, tc.commits); !errors.Is(err, tc.want) {
			t.Errorf("%s: RecordCommits err = %v, want %v", tc.name, err, tc.want)
		}
	}
	// All or nothing: the valid commit of each refused batch is not stored.
	if got, err := s.ListCommits(ctx, "shop", 0); err != nil || len(got) != 0 {
		t.Errorf("commits after refused batches = %+v, %v; want none", got, err)
	}
	if err := s.RecordCommits(ctx, nil); err != nil {
		t.Errorf("RecordCommits(nil): %v", err)
	}
	if _, err := s.ListCommits(ctx, "nope", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("ListCommits of a missing app err = %v, want ErrNotFound", err)
	}
}

func TestCommitsAfter(t *testing.T) { eachBackend(t, testCommitsAfter) }

func testCommitsAfter(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	for _, app := range []string{"a", "b"} {
		if _, err := s.CreateApp(ctx, App{Name: app}); err != nil {
			t.Fatal(err)
		}
	}
	var cursor int64
	var seen []string
	for i, batch := range [][]Commit{
		{{App: "a", SHA: "1"}, {App: "b", SHA: "2", Parents: []string{"0"}}},
		{{App: "a", SHA: "3", Parents: []string{"1", "9"}}},
		{{App: "a", SHA: "1"}}, // seen before: not recorded again
	} {
		if err := s.RecordCommits(ctx, batch); err != nil {
			t.Fatal(err)
		}
		cs, next, err := s.CommitsAfter(ctx, cursor, 1)
		for err == nil && len(cs) > 0 {
			for _, c := range cs {
				seen = append(seen, c.App+c.SHA+strings.Join(c.Parents, ","))
			}
			cursor = next
			cs, next, err = s.CommitsAfter(ctx, cursor, 1)
		}
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	if got := strings.Join(seen, " "); got != "a1 b20 a31,9" {
		t.Fatalf("commits seen = %q", got)
	}
}
