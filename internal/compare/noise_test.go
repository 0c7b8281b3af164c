package compare

import (
	"fmt"
	"reflect"
	"testing"
)

// note renders a note answer whose now and request id vary per answer, as a
// live release's would.
func note(i int, text string) Response {
	return jsonResp(fmt.Sprintf(`{"id":42,"text":%s,"now":"t%d","rid":"r%d","tags":[{"k":"a","seq":%d}]}`, text, i, i, i))
}

func TestNoiseLearnedFromLivePairs(t *testing.T) {
	const ep = "GET /api/notes/{id}"
	n := NewNoise(NoiseOptions{})
	for i := range 10 {
		n.ObserveLivePair(ep, note(2*i, `"hi"`), note(2*i+1, `"hi"`))
	}
	if got, want := n.NoisyPaths(ep), []string{"$.now", "$.rid", "$.tags[*].seq"}; !reflect.DeepEqual(got, want) {
		t.Errorf("NoisyPaths = %v, want %v", got, want)
	}

	tests := []struct {
		name string
		cand Response
		want []Difference
	}{
		{"only noise", note(99, `"hi"`), nil},
		{"stable field changes value", note(99, `"bye"`), []Difference{{"$.text", KindValue, `"hi"`, `"bye"`}}},
		{"stable field changes type", note(99, `12`), []Difference{{"$.text", KindType, `"hi"`, "12"}}},
		{"noisy field changes type", jsonResp(`{"id":42,"text":"hi","now":5,"rid":"x","tags":[{"k":"a","seq":1}]}`),
			[]Difference{{"$.now", KindType, `"t0"`, "5"}}},
		{"noisy field goes missing", jsonResp(`{"id":42,"text":"hi","rid":"x","tags":[{"k":"a","seq":1}]}`),
			[]Difference{{"$.now", KindMissing, `"t0"`, "(absent)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Diff(note(0, `"hi"`), tt.cand, Options{})
			kept, dropped := n.Filter(ep, res.Differences)
			if len(kept) == 0 {
				kept = nil
			}
			if !reflect.DeepEqual(kept, tt.want) {
				t.Errorf("kept %+v, want %+v", kept, tt.want)
			}
			if dropped+len(kept) != len(res.Differences) {
				t.Errorf("dropped %d + kept %d != %d differences", dropped, len(kept), len(res.Differences))
			}
		})
	}

	// Noise is per endpoint.
	res := Diff(note(0, `"hi"`), note(1, `"hi"`), Options{})
	if kept, _ := n.Filter("GET /other", res.Differences); len(kept) != 3 {
		t.Errorf("noise leaked to another endpoint: kept %+v", kept)
	}
}

func TestNoiseThresholds(t *testing.T) {
	const ep = "GET /x"
	d := Difference{Path: "$.flaky", Kind: KindValue}
	n := NewNoise(NoiseOptions{MinCount: 2, MinShare: 0.10})
	same, flaky := jsonResp(`{"flaky":1}`), jsonResp(`{"flaky":2}`)

	n.ObserveLivePair(ep, same, flaky) // 1 of 1: below MinCount
	if n.IsNoisy(ep, d) {
		t.Fatal("noisy after one difference with MinCount 2")
	}
	n.ObserveLivePair(ep, flaky, same) // 2 of 2
	if !n.IsNoisy(ep, d) {
		t.Fatal("not noisy after 2 of 2 pairs")
	}
	for range 19 {
		n.ObserveLivePair(ep, same, same) // 2 of 21 < 10%
	}
	if n.IsNoisy(ep, d) {
		t.Fatal("still noisy at 2 of 21 pairs with MinShare 10%")
	}
	if (*Noise)(nil).IsNoisy(ep, d) {
		t.Fatal("a nil Noise calls something noisy")
	}
}

func TestNoiseBounds(t *testing.T) {
	n := NewNoise(NoiseOptions{MaxEndpoints: 3, MaxPaths: 4})
	for i := range 10 {
		n.ObserveLivePair(fmt.Sprintf("GET /e%d", i), jsonResp(`{"a":1,"b":1,"c":1,"d":1,"e":1,"f":1}`),
			jsonResp(`{"a":2,"b":2,"c":2,"d":2,"e":2,"f":2}`))
	}
	if len(n.endpoints) != 4 {
		t.Errorf("remembered %d endpoints, want 3 plus %q", len(n.endpoints), OtherEndpoint)
	}
	for name, e := range n.endpoints {
		if len(e.places) > 4 {
			t.Errorf("%s remembers %d places, cap 4", name, len(e.places))
		}
	}
	// Unseen endpoints past the cap share the lump's noise.
	if !n.IsNoisy("GET /e9", Difference{Path: "$.a", Kind: KindValue}) {
		t.Error("an overflowing endpoint does not use the lump")
	}
}
