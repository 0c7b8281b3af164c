package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

func TestSetConfig(t *testing.T) { eachBackend(t, testSetConfig) }

func testSetConfig(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	mustCreateApp(t, s, "shop")

	cfg, err := s.Config(ctx, "shop")
	if err != nil || cfg == nil || len(cfg) != 0 {
		t.Fatalf("Config of a new app = %#v, %v; want an empty map", cfg, err)
	}

	steps := []struct {
		name  string
		set   map[string]string
		unset []string
		want  map[string]string
	}{
		{"set two", map[string]string{"A": "1", "DATABASE_URL": "postgres://x?a=b=c"}, nil,
			map[string]string{"A": "1", "DATABASE_URL": "postgres://x?a=b=c"}},
		{"overwrite and add", map[string]string{"A": "2", "_B": ""}, nil,
			map[string]string{"A": "2", "DATABASE_URL": "postgres://x?a=b=c", "_B": ""}},
		{"unset one and a missing one", nil, []string{"DATABASE_URL", "NEVER_SET"},
			map[string]string{"A": "2", "_B": ""}},
		{"set and unset together", map[string]string{"C": "3"}, []string{"A"},
			map[string]string{"C": "3", "_B": ""}},
		{"nothing", nil, nil,
			map[string]string{"C": "3", "_B": ""}},
	}
	for _, st := range steps {
		got, err := s.SetConfig(ctx, "shop", st.set, st.unset)
		if err != nil {
			t.Fatalf("%s: SetConfig: %v", st.name, err)
		}
		if !reflect.DeepEqual(got, st.want) {
			t.Errorf("%s: SetConfig returned %v, want %v", st.name, got, st.want)
		}
		stored, err := s.Config(ctx, "shop")
		if err != nil || !reflect.DeepEqual(stored, st.want) {
			t.Errorf("%s: Config = %v, %v; want %v", st.name, stored, err, st.want)
		}
	}
}

func TestSetConfigRejects(t *testing.T) { eachBackend(t, testSetConfigRejects) }

func testSetConfigRejects(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	mustCreateApp(t, s, "shop")
	if _, err := s.SetConfig(ctx, "shop", map[string]string{"KEEP": "1"}, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		app   string
		set   map[string]string
		unset []string
		want  error
	}{
		{"missing app", "nope", map[string]string{"A": "1"}, nil, ErrNotFound},
		{"empty name", "shop", map[string]string{"": "1"}, nil, ErrInvalid},
		{"name with =", "shop", map[string]string{"A=B": "1"}, nil, ErrInvalid},
		{"name starting with a digit", "shop", map[string]string{"1A": "1"}, nil, ErrInvalid},
		{"NUL in value", "shop", map[string]string{"A": "x\x00y"}, nil, ErrInvalid},
		{"set and unset the same", "shop", map[string]string{"A": "1"}, []string{"A"}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.SetConfig(ctx, tc.app, tc.set, tc.unset); !errors.Is(err, tc.want) {
				t.Errorf("SetConfig err = %v, want %v", err, tc.want)
			}
		})
	}
	// A refused change leaves the config as it was.
	if cfg, err := s.Config(ctx, "shop"); err != nil || !reflect.DeepEqual(cfg, map[string]string{"KEEP": "1"}) {
		t.Errorf("config after refused changes = %v, %v", cfg, err)
	}
	if _, err := s.Config(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Config of a missing app err = %v, want ErrNotFound", err)
	}
}
