package compare

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// EndpointReport is what a Tracker learned about one endpoint.
type EndpointReport struct {
	Endpoint  string `json:"endpoint"`
	Total     int    `json:"total"`
	Differing int    `json:"differing"`
	// DiffRate is Differing / Total, 0..1.
	DiffRate float64 `json:"diff_rate"`
	// Ignored counts differences dropped as noise: ignore paths, volatile
	// values and places learned from live pairs.
	Ignored  int        `json:"ignored"`
	Paths    []PathStat `json:"paths"`
	Examples []Example  `json:"examples"`
}

// PathStat counts the answers that differed at one generalized path in one way.
type PathStat struct {
	Path  string `json:"path"`
	Kind  string `json:"kind"`
	Count int    `json:"count"`
	// Live and Candidate are the renderings of the first such difference.
	Live      string `json:"live"`
	Candidate string `json:"candidate"`
}

// Example is one concrete differing exchange, kept for the user to look at.
type Example struct {
	Request     RequestSample  `json:"request"`
	Live        ResponseSample `json:"live"`
	Candidate   ResponseSample `json:"candidate"`
	Differences []Difference   `json:"differences"`
}

// RequestSample is a request with its body cut to ExcerptLimit.
type RequestSample struct {
	Method        string `json:"method"`
	Path          string `json:"path"`
	Body          string `json:"body,omitempty"`
	BodyTruncated bool   `json:"body_truncated,omitempty"`
}

// ResponseSample is a response with its body cut to ExcerptLimit.
type ResponseSample struct {
	Status        int    `json:"status"`
	ContentType   string `json:"content_type,omitempty"`
	Body          string `json:"body,omitempty"`
	BodyTruncated bool   `json:"body_truncated,omitempty"`
	Error         string `json:"error,omitempty"`
}

func newExample(req RequestSummary, live, cand Response, diffs []Difference) Example {
	reqBody, reqCut := excerpt(req.Body)
	return Example{
		Request:     RequestSample{Method: req.Method, Path: req.Path, Body: reqBody, BodyTruncated: reqCut},
		Live:        sample(live),
		Candidate:   sample(cand),
		Differences: append([]Difference(nil), diffs...),
	}
}

func sample(r Response) ResponseSample {
	body, cut := excerpt(r.Body)
	return ResponseSample{
		Status: r.Status, ContentType: mediaType(r), Body: body,
		BodyTruncated: cut || r.Truncated, Error: r.Err,
	}
}

// excerpt copies at most ExcerptLimit bytes, cut on a rune boundary, so that
// an example never pins the caller's whole body in memory.
func excerpt(b []byte) (string, bool) {
	if len(b) <= ExcerptLimit {
		return string(b), false
	}
	cut := ExcerptLimit
	for cut > ExcerptLimit-utf8.UTFMax && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut]), true
}

// Reasons returns one sentence per differing place, most frequent first, for
// verdict reasons.
func (r EndpointReport) Reasons() []string {
	out := make([]string, 0, len(r.Paths))
	for _, p := range r.Paths {
		out = append(out, p.Sentence(r.Endpoint, r.Total))
	}
	return out
}

// Sentence describes the place for a human, e.g.
// "GET /api/notes/{id}: $.text changed type string → number (12 of 40 answers, 30%)".
func (p PathStat) Sentence(endpoint string, total int) string {
	var what string
	switch p.Kind {
	case KindType:
		what = fmt.Sprintf("%s changed type %s → %s", p.Path, renderedType(p.Live), renderedType(p.Candidate))
	case KindValue:
		what = fmt.Sprintf("%s changed value, e.g. %s → %s", p.Path, p.Live, p.Candidate)
	case KindMissing:
		what = fmt.Sprintf("%s missing in the candidate", p.Path)
	case KindExtra:
		what = fmt.Sprintf("%s added by the candidate", p.Path)
	case KindLength:
		what = fmt.Sprintf("%s changed length, e.g. %s → %s", p.Path, p.Live, p.Candidate)
	case KindStatus:
		what = fmt.Sprintf("status changed, e.g. %s → %s", p.Live, p.Candidate)
	case KindHeader:
		what = fmt.Sprintf("header %s changed, e.g. %s → %s", strings.TrimPrefix(p.Path, headerPathPrefix), p.Live, p.Candidate)
	case KindBody:
		what = fmt.Sprintf("body differs, e.g. %s → %s", p.Live, p.Candidate)
	default:
		what = p.Path + " differs"
	}
	return fmt.Sprintf("%s: %s (%d of %d answers, %s)", endpoint, what, p.Count, total, percent(p.Count, total))
}

// renderedType reads the JSON type back from a rendering made by render.
func renderedType(s string) string {
	switch {
	case s == "null":
		return "null"
	case s == "true" || s == "false":
		return "boolean"
	case strings.HasPrefix(s, `"`):
		return "string"
	case strings.HasPrefix(s, "{"):
		return "object"
	case strings.HasPrefix(s, "["):
		return "array"
	}
	return "number"
}

func percent(n, of int) string {
	return strconv.FormatFloat(math.Round(1000*ratio(n, of))/10, 'f', -1, 64) + "%"
}
