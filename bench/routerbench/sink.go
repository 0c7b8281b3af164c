package main

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prosperhq/prosper/internal/compare"
	"github.com/prosperhq/prosper/internal/router"
)

// comparer is the mirroring router's sink: it runs compare.Diff on every
// exchange it gets, in the router's process and on the mirror's workers, which
// is the most the comparison can cost the live path, and counts the outcomes.
type comparer struct {
	compared, differing atomic.Int64
	// liveIncomplete counts the exchanges whose live answer did not reach the
	// client in full: wrk hangs up with requests in flight at the end of each
	// run. They are not compared: there is nothing to compare the copy with.
	liveIncomplete atomic.Int64

	mu       sync.Mutex
	examples []diffExample // the first maxExamples differing exchanges
}

// maxExamples bounds the differing exchanges kept to show.
const maxExamples = 5

// diffExample is a differing exchange, to show: the candidate answers exactly as
// the backend does, so any difference is a defect of the capture or the copy.
type diffExample struct {
	Path        string               `json:"path"`
	Differences []compare.Difference `json:"differences"`
	CandErr     string               `json:"candidate_err,omitempty"`
	LiveBody    int                  `json:"live_body_bytes"`
	CandBody    int                  `json:"candidate_body_bytes"`
}

// observe compares one exchange.
func (c *comparer) observe(ex router.Exchange) {
	if ex.Live.Err != "" {
		c.liveIncomplete.Add(1)
		return
	}
	r := compare.Diff(compareResponse(ex.Live), compareResponse(ex.Candidate), compare.Options{IgnoreVolatile: true})
	c.compared.Add(1)
	if r.Equal() {
		return
	}
	c.differing.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.examples) < maxExamples {
		c.examples = append(c.examples, diffExample{Path: ex.Request.Path, Differences: r.Differences,
			CandErr: ex.Candidate.Err, LiveBody: len(ex.Live.Body), CandBody: len(ex.Candidate.Body)})
	}
}

func compareResponse(r router.CapturedResponse) compare.Response {
	return compare.Response{Status: r.Status, Header: r.Header, Body: r.Body, Truncated: r.Truncated, Err: r.Err}
}

// mirrorStats is what the mirroring router's statistics endpoint answers.
type mirrorStats struct {
	// Compared counts the exchanges compared, Differing those with a difference.
	Compared  int64 `json:"compared"`
	Differing int64 `json:"differing"`
	// LiveIncomplete counts the exchanges not compared because the client hung
	// up before the live answer was complete.
	LiveIncomplete int64 `json:"live_incomplete"`
	// Mirror is the router's account of the copies.
	Mirror router.MirrorMetrics `json:"mirror"`
	// Examples are the first differing exchanges.
	Examples []diffExample `json:"examples,omitempty"`
}

func (c *comparer) stats(m []router.MirrorMetrics) mirrorStats {
	s := mirrorStats{Compared: c.compared.Load(), Differing: c.differing.Load(), LiveIncomplete: c.liveIncomplete.Load()}
	c.mu.Lock()
	s.Examples = slices.Clone(c.examples)
	c.mu.Unlock()
	if len(m) > 0 {
		s.Mirror = m[0]
	}
	return s
}
