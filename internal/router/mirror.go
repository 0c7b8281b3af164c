package router

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync/atomic"
	"time"
)

// MirrorPolicy copies a share of a route's live requests to a candidate release,
// so the candidate's answers can be compared with the live ones before it takes
// any traffic. The copies are sent asynchronously: the user's answer always comes
// from the live release, and a candidate that hangs, fails or slows down never
// changes it nor delays it.
type MirrorPolicy struct {
	// Release is the candidate's release number.
	Release int `json:"release"`
	// Addrs are the candidate's replicas, host:port; copies go to them in turn.
	Addrs []string `json:"addrs"`
	// Percent is the share of requests copied, 0 to 100. 0 copies nothing: the
	// control plane applies the 100% default of prosper.yaml, not the router.
	Percent float64 `json:"percent"`
	// MaxBodyBytes bounds the request and response bodies captured; 0 means
	// DefaultMirrorMaxBodyBytes. A request with a larger body is not copied
	// (it is counted as skipped); a larger response is captured truncated.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
}

// DefaultMirrorMaxBodyBytes is the body limit of a MirrorPolicy that sets none.
const DefaultMirrorMaxBodyBytes = 1 << 20

// BotStepHeader marks a request of a synthetic customer (a bot journey step):
// it is copied to the candidate whatever the policy's share.
const BotStepHeader = "Prosper-Bot-Step"

// MirrorHeader is set to "1" on every request the router copies to a candidate,
// so the candidate can tell a copy from a real request (and, say, skip sending
// e-mails). The router removes it from the requests it sends to the live release
// of a mirrored route, so a client cannot pass a real request off as a copy.
const MirrorHeader = "Prosper-Mirror"

// problems lists what is wrong with the policy, for Table.Validate.
func (p *MirrorPolicy) problems() []error {
	var out []error
	if p.Release < 1 {
		out = append(out, fmt.Errorf("release %d: release numbers start at 1", p.Release))
	}
	if len(p.Addrs) == 0 {
		out = append(out, errors.New("no candidate address; give at least one host:port"))
	}
	for _, a := range p.Addrs {
		if err := validateAddr(a); err != nil {
			out = append(out, err)
		}
	}
	if math.IsNaN(p.Percent) || p.Percent < 0 || p.Percent > 100 {
		out = append(out, fmt.Errorf("percent %v: want a share from 0 to 100", p.Percent))
	}
	if p.MaxBodyBytes < 0 {
		out = append(out, fmt.Errorf("max_body_bytes %d is negative", p.MaxBodyBytes))
	}
	return out
}

// Exchange is one mirrored request with both answers: the live release's, which
// the user got, and the candidate's, which nobody saw. Bodies are captured up to
// the policy's MaxBodyBytes.
type Exchange struct {
	App              string          `json:"app"`
	LiveRelease      int             `json:"live_release"`
	CandidateRelease int             `json:"candidate_release"`
	Request          CapturedRequest `json:"request"`
	// Client is the address (host:port) of the connection the request came
	// on.
	Client    string           `json:"client,omitempty"`
	Live      CapturedResponse `json:"live"`
	Candidate CapturedResponse `json:"candidate"`
	// Time is when the router received the request.
	Time time.Time `json:"time"`
}

// CapturedRequest is the request as the client sent it, without hop-by-hop
// headers. Both releases got it with X-Forwarded-* added, the candidate also with
// Prosper-Mirror: 1.
type CapturedRequest struct {
	Method string      `json:"method"`
	Path   string      `json:"path"` // with the query: "/cart?id=3"
	Header http.Header `json:"header"`
	Body   []byte      `json:"body,omitempty"`
}

// CapturedResponse is one release's answer to a mirrored request.
type CapturedResponse struct {
	// Status is 0 when no answer came (see Err).
	Status int         `json:"status"`
	Header http.Header `json:"header,omitempty"`
	Body   []byte      `json:"body,omitempty"`
	// Truncated is true when the body was longer than the policy's limit and
	// Body holds only its beginning.
	Truncated bool `json:"truncated,omitempty"`
	// Latency runs from the request being sent (for the live release: received
	// by the router) to the end of the response.
	Latency time.Duration `json:"latency"`
	// Err says why the answer is missing or incomplete: a transport error, the
	// mirror timeout, a response broken off. Empty for a whole answer.
	Err string `json:"err,omitempty"`
}

// mirrorTarget is the compiled form of a route's MirrorPolicy.
type mirrorTarget struct {
	app     string
	release int
	addrs   []string
	percent float64
	maxBody int64
	metrics *mirrorMetrics

	seen atomic.Uint64 // requests offered to sample, for the deterministic share
	next atomic.Uint64 // round-robin position across addrs
}

func compileMirror(app string, p *MirrorPolicy, reg *mirrorRegistry) *mirrorTarget {
	maxBody := p.MaxBodyBytes
	if maxBody == 0 {
		maxBody = DefaultMirrorMaxBodyBytes
	}
	return &mirrorTarget{
		app:     app,
		release: p.Release,
		addrs:   p.Addrs,
		percent: p.Percent,
		maxBody: maxBody,
		metrics: reg.get(app, p.Release),
	}
}

// sample reports whether the next request is copied. It counts requests rather
// than drawing random numbers, so the share is exact over any run of requests:
// request n is taken when floor(n*p/100) grows, which spreads the copies evenly.
func (m *mirrorTarget) sample() bool {
	switch {
	case m.percent >= 100:
		return true
	case m.percent <= 0:
		return false
	}
	n := m.seen.Add(1)
	return math.Floor(float64(n)*m.percent/100) > math.Floor(float64(n-1)*m.percent/100)
}

// nextAddr returns the candidate's replicas in turn.
func (m *mirrorTarget) nextAddr() string {
	if len(m.addrs) == 1 {
		return m.addrs[0]
	}
	n := m.next.Add(1) - 1
	return m.addrs[n%uint64(len(m.addrs))]
}
