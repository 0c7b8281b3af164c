package bots

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Headers on every bot request. The router and the candidate's comparison use them
// to tell a bot's requests from customers' and to put a mirrored answer back in its
// journey.
const (
	headerBot       = "Prosper-Bot"      // the scenario's name
	headerBotStep   = "Prosper-Bot-Step" // "<run id>.<step index>", see ParseStepHeader
	headerUserAgent = "User-Agent"
	userAgent       = "prosper-bot/1"
)

// Limits on what a run keeps of an answer. Checks read up to maxBody; a run record
// keeps keptBody, enough to see what went wrong without storing every page.
const (
	maxBody  = 1 << 20
	keptBody = 4 << 10
)

// Target is where a run sends its requests.
type Target struct {
	BaseURL string       // "http://127.0.0.1:8080"
	Host    string       // Host header to send, e.g. "notes.localhost"; "" = BaseURL's host
	Client  *http.Client // nil = a shared client with keep-alive that does not follow redirects
}

// StepResult is what one step of a run sent and got.
type StepResult struct {
	Name, Method, Path string        // Path after substitution
	RequestBody        []byte        // after substitution: what was sent
	Status             int           // 0 when no answer came
	Latency            time.Duration // from sending to the end of the body
	Body               []byte        // the answer's body, cut to 4 KiB
	Err                string        // why the step failed; "" when it passed
	Passed             bool
}

// Run is the record of one run of a scenario.
type Run struct {
	ID       string // 12 hex digits
	Scenario string
	File     string
	Started  time.Time
	Duration time.Duration
	Passed   bool
	Steps    []StepResult // the steps attempted: a run stops at its first failed step
	// FailedStep is the index in Steps of the failed step, -1 when the run passed.
	FailedStep int
	// Reason says which step failed and why, e.g.
	// `step 2 "read it back" (GET /api/bookings/17): status 500, want 200`.
	Reason string
	Cost   Cost // the scenario's cost of failure when the run failed, else zero
}

// defaultClient is shared by runs without a client of their own, so that their
// connections are reused. It does not follow redirects: a step checks the answer
// it got, and a redirect to the app's public URL may not resolve from here.
var defaultClient = &http.Client{
	Transport: http.DefaultTransport.(*http.Transport).Clone(),
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// RunOnce runs the journey of s once against t, step after step, and stops at the
// first step that fails. Every request carries the headers Prosper-Bot (the
// scenario's name), Prosper-Bot-Step ("<run id>.<step index>", the index from 0)
// and, unless the step sets its own, User-Agent: prosper-bot/1. A cancelled ctx
// fails the step in flight.
func RunOnce(ctx context.Context, s Scenario, t Target) Run {
	run := Run{
		ID:         randomHex(6),
		Scenario:   s.Name,
		File:       s.File,
		Started:    time.Now(),
		FailedStep: -1,
		Passed:     true,
	}
	vs := vars{
		VarRunID:  run.ID,
		VarRandom: randomHex(4),
		VarUnix:   run.Started.Unix(),
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	for i, st := range s.Steps {
		res, saved := runStep(ctx, t, s.Name, run.ID, i, st, vs, timeout)
		run.Steps = append(run.Steps, res)
		if !res.Passed {
			run.Passed, run.FailedStep, run.Cost = false, i, s.Cost
			run.Reason = fmt.Sprintf("step %d%s (%s %s): %s", i+1, stepLabel(st), res.Method, res.Path, res.Err)
			break
		}
		for k, v := range saved {
			vs[k] = v
		}
	}
	run.Duration = time.Since(run.Started)
	return run
}

// stepLabel is the step's name for a reason, or "" when it is the default
// "METHOD path" that the reason shows anyway.
func stepLabel(st Step) string {
	if st.Name == "" || st.Name == st.Method+" "+st.Path {
		return ""
	}
	return fmt.Sprintf(" %q", st.Name)
}

// runStep sends one request and checks its answer.
func runStep(ctx context.Context, t Target, scenario, runID string, i int, st Step, vs vars, timeout time.Duration) (StepResult, vars) {
	res := StepResult{Name: st.Name, Method: st.Method, Path: vs.expandPath(st.Path)}
	if st.Body != nil {
		if st.JSON {
			res.RequestBody = vs.expandJSON(st.Body)
		} else {
			res.RequestBody = []byte(vs.expand(string(st.Body), nil))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, st.Method, strings.TrimSuffix(t.BaseURL, "/")+res.Path, bytes.NewReader(res.RequestBody))
	if err != nil {
		res.Err = "cannot make the request: " + err.Error()
		return res, nil
	}
	if res.RequestBody == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	if t.Host != "" {
		req.Host = t.Host
	}
	req.Header.Set(headerUserAgent, userAgent)
	if st.JSON {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range st.Header {
		req.Header.Set(k, vs.expand(v, nil))
	}
	req.Header.Set(headerBot, scenario)
	req.Header.Set(headerBotStep, runID+"."+strconv.Itoa(i))

	client := t.Client
	if client == nil {
		client = defaultClient
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		res.Latency = time.Since(start)
		res.Err = transportError(ctx, err, timeout)
		return res, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	resp.Body.Close()
	res.Latency = time.Since(start)
	res.Status = resp.StatusCode
	res.Body = body[:min(len(body), keptBody):min(len(body), keptBody)]
	if err != nil {
		res.Err = "reading the answer: " + transportError(ctx, err, timeout)
		return res, nil
	}
	if len(body) > maxBody {
		res.Err = fmt.Sprintf("the answer's body is larger than %d MiB; a bot's journey should not need one that large", maxBody>>20)
		return res, nil
	}
	reason, saved := check(st, res.Status, body, res.Latency)
	res.Err, res.Passed = reason, reason == ""
	return res, saved
}

// transportError words a failed exchange without Go's "Get \"http://...\":" prefix,
// which repeats what the reason already says.
func transportError(ctx context.Context, err error, timeout time.Duration) string {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s", timeout)
	case errors.Is(ctx.Err(), context.Canceled):
		return "stopped before the answer came"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return "request failed: " + err.Error()
}

// ParseStepHeader splits a Prosper-Bot-Step value, "<run id>.<step index>", into
// its parts.
func ParseStepHeader(v string) (runID string, step int, ok bool) {
	runID, idx, found := strings.Cut(strings.TrimSpace(v), ".")
	if !found || runID == "" {
		return "", 0, false
	}
	step, err := strconv.Atoi(idx)
	if err != nil || step < 0 || strings.HasPrefix(idx, "+") {
		return "", 0, false
	}
	return runID, step, true
}

// randomHex returns n random bytes as 2n hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
