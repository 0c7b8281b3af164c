package compare

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestTrackerRatesAndReport(t *testing.T) {
	tr := NewTracker(TrackerOptions{MaxExamples: 2})
	get := func(id int) RequestSummary {
		return RequestSummary{Method: "GET", Path: fmt.Sprintf("/api/notes/%d?full=1", id)}
	}
	// 40 answers for notes: 12 change $.text's type, 4 more lose an element.
	for i := range 40 {
		live := jsonResp(`{"text":"hello","tags":["a","b"]}`)
		cand := live
		switch {
		case i < 12:
			cand = jsonResp(`{"text":12,"tags":["a","b"]}`)
		case i < 16:
			cand = jsonResp(`{"text":"hello","tags":["a"]}`)
		}
		tr.Observe("", get(i), live, cand)
	}
	// 10 identical answers for the list.
	for range 10 {
		tr.Observe(Endpoint("GET", "/api/notes"), RequestSummary{Method: "GET", Path: "/api/notes"}, jsonResp(`[]`), jsonResp(`[]`))
	}

	if total, differing := tr.Totals(); total != 50 || differing != 16 {
		t.Fatalf("Totals = %d, %d; want 50, 16", total, differing)
	}
	if got := tr.Rate(); got != 16.0/50 {
		t.Errorf("Rate = %v, want 0.32", got)
	}
	rep := tr.Report()
	if len(rep) != 2 || rep[0].Endpoint != "GET /api/notes/{id}" || rep[1].Endpoint != "GET /api/notes" {
		t.Fatalf("report order: %+v", rep)
	}
	r := rep[0]
	if r.Total != 40 || r.Differing != 16 || r.DiffRate != 0.4 {
		t.Errorf("stats %d/%d rate %v", r.Differing, r.Total, r.DiffRate)
	}
	wantReasons := []string{
		`GET /api/notes/{id}: $.text changed type string → number (12 of 40 answers, 30%)`,
		`GET /api/notes/{id}: $.tags changed length, e.g. 2 items → 1 item (4 of 40 answers, 10%)`,
	}
	if got := r.Reasons(); strings.Join(got, "\n") != strings.Join(wantReasons, "\n") {
		t.Errorf("Reasons:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantReasons, "\n"))
	}
	if len(r.Examples) != 2 {
		t.Fatalf("kept %d examples, want 2", len(r.Examples))
	}
	ex := r.Examples[0]
	if ex.Request.Path != "/api/notes/0?full=1" || ex.Live.Body != `{"text":"hello","tags":["a","b"]}` ||
		ex.Candidate.Body != `{"text":12,"tags":["a","b"]}` || ex.Differences[0].Path != "$.text" {
		t.Errorf("example: %+v", ex)
	}
	if rep[1].DiffRate != 0 || len(rep[1].Paths) != 0 || len(rep[1].Examples) != 0 {
		t.Errorf("identical endpoint: %+v", rep[1])
	}

	out, err := json.Marshal(rep[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"diff_rate":0.4`, `"differing":16`, `"paths":[`, `"examples":[`, `"content_type":"application/json"`} {
		if !strings.Contains(string(out), key) {
			t.Errorf("JSON lacks %s: %s", key, out)
		}
	}
}

func TestTrackerNoiseIgnoreAndVolatile(t *testing.T) {
	const ep = "GET /api/notes/{id}"
	noise := NewNoise(NoiseOptions{})
	for i := range 5 {
		noise.ObserveLivePair(ep, note(2*i, `"hi"`), note(2*i+1, `"hi"`))
	}
	tr := NewTracker(TrackerOptions{
		Noise: noise,
		Diff:  Options{Ignore: MustCompileIgnore("$.id"), IgnoreVolatile: true},
	})
	req := RequestSummary{Method: "GET", Path: "/api/notes/42"}
	withID := func(id, created string) Response {
		return jsonResp(`{"id":` + id + `,"created":"` + created + `","text":"hi","now":"x","rid":"y","tags":[]}`)
	}
	tr.Observe(ep, req, note(0, `"hi"`), note(1, `"hi"`))                                         // learned noise
	tr.Observe(ep, req, withID("1", "2026-01-01T00:00:00Z"), withID("2", "2026-01-01T00:00:05Z")) // ignore + volatile
	if total, differing := tr.Totals(); total != 2 || differing != 0 {
		t.Fatalf("Totals = %d, %d; want 2, 0", total, differing)
	}
	tr.Observe(ep, req, note(0, `"hi"`), note(1, `"bye"`))
	rep := tr.Report()
	if rep[0].Differing != 1 || len(rep[0].Paths) != 1 || rep[0].Paths[0].Path != "$.text" {
		t.Errorf("report: %+v", rep[0])
	}
	if rep[0].Ignored < 6 {
		t.Errorf("Ignored = %d, want at least 6", rep[0].Ignored)
	}
}

func TestTrackerBounds(t *testing.T) {
	tr := NewTracker(TrackerOptions{MaxEndpoints: 5, MaxExamples: 3, MaxPaths: 4})
	big := strings.Repeat("é", 3000)
	for i := range 100 {
		live := jsonResp(fmt.Sprintf(`{"k%d":1,"a":1,"b":1,"c":1,"d":1,"e":1,"big":"%s"}`, i, big))
		cand := jsonResp(`{"a":2,"b":2,"c":2,"d":2,"e":2}`)
		req := RequestSummary{Method: "POST", Path: fmt.Sprintf("/p%d", i), Body: []byte(big)}
		tr.Observe("", req, live, cand)
	}
	rep := tr.Report()
	if len(rep) != 6 {
		t.Fatalf("%d endpoints, want 5 plus %q", len(rep), OtherEndpoint)
	}
	var other *EndpointReport
	for i := range rep {
		if rep[i].Endpoint == OtherEndpoint {
			other = &rep[i]
		}
		if len(rep[i].Paths) > 5 {
			t.Errorf("%s: %d path stats, cap 4 plus (other)", rep[i].Endpoint, len(rep[i].Paths))
		}
		if len(rep[i].Examples) > 3 {
			t.Errorf("%s: %d examples, cap 3", rep[i].Endpoint, len(rep[i].Examples))
		}
		for _, ex := range rep[i].Examples {
			if len(ex.Request.Body) > ExcerptLimit || len(ex.Live.Body) > ExcerptLimit ||
				!ex.Request.BodyTruncated || !ex.Live.BodyTruncated || !strings.HasPrefix(ex.Live.Body, `{"k`) {
				t.Errorf("example bodies not cut to %d bytes: %d, %d", ExcerptLimit, len(ex.Request.Body), len(ex.Live.Body))
			}
		}
	}
	if other == nil || other.Total != 95 {
		t.Fatalf("other: %+v", other)
	}
	var lumped int
	for _, p := range other.Paths {
		if p.Path == "(other)" {
			lumped = p.Count
		}
	}
	if lumped != 95 {
		t.Errorf("(other) path count = %d, want 95", lumped)
	}
}

func TestTrackerConcurrent(t *testing.T) {
	tr := NewTracker(TrackerOptions{Noise: NewNoise(NoiseOptions{})})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				ep := fmt.Sprintf("GET /e%d", i%7)
				req := RequestSummary{Method: "GET", Path: ep}
				if i%2 == 0 {
					tr.opts.Noise.ObserveLivePair(ep, note(i, `"a"`), note(i+1, `"a"`))
				}
				cand := note(i, `"a"`)
				if (g+i)%4 == 0 {
					cand = note(i, `"b"`)
				}
				tr.Observe(ep, req, note(i, `"a"`), cand)
				if i%50 == 0 {
					_ = tr.Report()
					_ = tr.Rate()
				}
			}
		})
	}
	wg.Wait()
	if total, differing := tr.Totals(); total != 1600 || differing != 400 {
		t.Errorf("Totals = %d, %d; want 1600, 400", total, differing)
	}
}
