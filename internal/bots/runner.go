package bots

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Runner runs scenarios continuously against a target, each at its own pace: a run
// starts every Every, the first one right away (within a tenth of Every, so that
// bots loaded together do not all fire at once). A run still going when the next
// is due makes that one skip: a slow app gets fewer bot requests, never a pile of
// them.
type Runner struct {
	scenarios []Scenario
	target    Target
	onRun     func(Run)

	mu       sync.Mutex
	started  bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	paused   int        // Pause calls not yet matched by Resume
	inflight int        // runs going now
	idle     *sync.Cond // signalled when inflight drops to zero
}

// NewRunner returns a Runner of scenarios against t. onRun receives every finished
// run, from the runner's goroutines, so it must be quick; nil drops them. Runs cut
// short by Stop or by the end of Start's ctx are not reported: they say nothing
// about the app.
func NewRunner(scenarios []Scenario, t Target, onRun func(Run)) *Runner {
	if onRun == nil {
		onRun = func(Run) {}
	}
	r := &Runner{scenarios: scenarios, target: t, onRun: onRun}
	r.idle = sync.NewCond(&r.mu)
	return r
}

// Pause keeps new runs from starting and returns once the runs in flight have
// ended (they are not cut short: a journey stopped halfway would leave the app
// in a state no user leaves it in). Runs due while paused are skipped. Pauses
// nest: each needs its Resume.
func (r *Runner) Pause() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paused++
	for r.inflight > 0 {
		r.idle.Wait()
	}
}

// Resume undoes one Pause.
func (r *Runner) Resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.paused > 0 {
		r.paused--
	}
}

// begin reports whether a run may start now and, if so, counts it in flight.
func (r *Runner) begin() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.paused > 0 {
		return false
	}
	r.inflight++
	return true
}

func (r *Runner) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight--
	if r.inflight == 0 {
		r.idle.Broadcast()
	}
}

// Start starts one goroutine per scenario; they run until ctx ends or Stop. Start
// on a runner already started does nothing.
func (r *Runner) Start(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return
	}
	r.started = true
	ctx, r.cancel = context.WithCancel(ctx)
	for _, s := range r.scenarios {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.loop(ctx, s)
		}()
	}
}

// Stop ends the runs in flight (their requests see the cancellation) and returns
// once every goroutine of the runner has ended.
func (r *Runner) Stop() {
	r.mu.Lock()
	cancel := r.cancel
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	r.wg.Wait()
}

// loop runs s at its pace until ctx ends. Runs start on a fixed grid (first start,
// then every Every) so the pace does not drift by the length of each run; when a
// run overruns, the starts it covered are skipped.
func (r *Runner) loop(ctx context.Context, s Scenario) {
	every := s.Every
	if every <= 0 {
		every = DefaultEvery
	}
	next := time.Now().Add(rand.N(every/10 + 1))
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if r.begin() {
			run := RunOnce(ctx, s, r.target)
			if ctx.Err() != nil {
				r.end()
				return
			}
			r.onRun(run)
			r.end()
		}
		next = next.Add(every)
		if now := time.Now(); !next.After(now) {
			next = next.Add(every * (now.Sub(next)/every + 1))
		}
		timer.Reset(time.Until(next))
	}
}
