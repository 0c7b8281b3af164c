package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// benchEnv is everything the bench started: the backend, the candidate the
// mirroring router copies to, both routers, the peers, and the targets they make.
type benchEnv struct {
	dir                 string
	backend, candidate  *child
	router, mirror      *child
	peers               []*peerProc
	skipped             []string // peers asked for but not found, with why
	targets             []*target
	satMirror, paMirror mirrorAccount
}

// startTargets starts the children and the peers. On error the returned env, if
// not nil, holds what was started and must be stopped.
func startTargets(ctx context.Context, o options) (*benchEnv, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "routerbench")
	if err != nil {
		return nil, err
	}
	env := &benchEnv{dir: dir}
	// nginx's workers may run as an unprivileged user and must reach the dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		return env, err
	}
	if env.backend, err = startChild(ctx, modeBackend, 0); err != nil {
		return env, err
	}
	if env.candidate, err = startChild(ctx, modeBackend, 0); err != nil {
		return env, err
	}
	if env.router, err = startChild(ctx, modeRouter, o.workers, env.backend.addr); err != nil {
		return env, err
	}
	if env.mirror, err = startChild(ctx, modeRouterMirror, o.workers, env.backend.addr, env.candidate.addr); err != nil {
		return env, err
	}
	env.targets = []*target{
		{name: nameDirect, url: "http://" + env.backend.addr + "/", check: direct},
		{name: nameRouter, url: "http://" + env.router.addr + "/", proxyPIDs: []int{env.router.pid()}, check: viaRouter},
		{name: nameMirror, url: "http://" + env.mirror.addr + "/", proxyPIDs: []int{env.mirror.pid()}, check: viaRouter, stats: env.mirror.stats},
	}
	for _, s := range peerSpecs(o.traefik) {
		if !slices.Contains(o.peers, s.name) {
			continue
		}
		if _, err := s.find(); err != nil {
			env.skipped = append(env.skipped, err.Error())
			continue
		}
		pdir := filepath.Join(dir, s.name)
		if err := os.Mkdir(pdir, 0o755); err != nil {
			return env, err
		}
		p, err := startPeer(ctx, s, pdir, env.backend.addr, o.workers)
		if err != nil {
			return env, err
		}
		env.peers = append(env.peers, p)
		env.targets = append(env.targets, p.target())
	}
	return env, nil
}

// stop kills everything the bench started, by pid, and removes its files.
func (e *benchEnv) stop() {
	for _, p := range e.peers {
		p.stop()
	}
	for _, c := range []*child{e.mirror, e.router, e.candidate, e.backend} {
		if c != nil {
			c.stop()
		}
	}
	os.RemoveAll(e.dir)
}

// mirrorAccount adds up what the mirroring router did with the requests of the
// runs it served.
type mirrorAccount struct {
	// requests counts the requests the load generator got answers to.
	requests int64
	// The rest are the differences of the router's counters over the runs.
	compared, differing, liveIncomplete, mirrored, dropped, errors, skipped int64
}

// mirrorReading reads the mirroring router's statistics before a run of t; it
// returns the zero value for the other targets.
func (e *benchEnv) mirrorReading(ctx context.Context, t *target) (mirrorStats, error) {
	if t.stats == "" {
		return mirrorStats{}, nil
	}
	return readMirrorStats(ctx, t.stats)
}

// account adds the run of t that served requests to acct: the change of the
// mirroring router's counters since before, once the copies of the run's last
// requests are done. It does nothing for other targets.
func (e *benchEnv) account(ctx context.Context, t *target, before mirrorStats, acct *mirrorAccount, requests int64) error {
	if t.stats == "" {
		return nil
	}
	after, err := settle(ctx, t.stats)
	if err != nil {
		return err
	}
	acct.requests += requests
	acct.compared += after.Compared - before.Compared
	acct.differing += after.Differing - before.Differing
	acct.liveIncomplete += after.LiveIncomplete - before.LiveIncomplete
	acct.mirrored += after.Mirror.Mirrored - before.Mirror.Mirrored
	acct.dropped += after.Mirror.Dropped - before.Mirror.Dropped
	acct.errors += after.Mirror.Errors - before.Mirror.Errors
	acct.skipped += after.Mirror.Skipped - before.Mirror.Skipped
	return nil
}

// settle waits, up to 5 s, until the mirroring router's counters stop moving:
// the copies still queued when a run ends are done, so they count in that run
// and take no CPU from the next one.
func settle(ctx context.Context, addr string) (mirrorStats, error) {
	prev, err := readMirrorStats(ctx, addr)
	if err != nil {
		return prev, err
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		time.Sleep(50 * time.Millisecond)
		cur, err := readMirrorStats(ctx, addr)
		if err != nil || cur.progress() == prev.progress() || time.Now().After(deadline) {
			return cur, err
		}
		prev = cur
	}
}

// progress is the counters that move while copies are being handled.
func (s mirrorStats) progress() [6]int64 {
	return [6]int64{s.Compared + s.LiveIncomplete, s.Differing, s.Mirror.Mirrored, s.Mirror.Errors, s.Mirror.Dropped, s.Mirror.Skipped}
}

// printDiffExamples shows the first differing exchanges, if any: the candidate
// answers exactly as the backend does, so each is a defect worth a look.
func (e *benchEnv) printDiffExamples(ctx context.Context, w io.Writer) error {
	s, err := readMirrorStats(ctx, e.mirror.stats)
	if err != nil || s.Differing == 0 {
		return err
	}
	fmt.Fprintf(w, "\n%d of %d exchanges differed although both backends answer alike; the first ones:\n", s.Differing, s.Compared)
	for _, ex := range s.Examples {
		b, _ := json.Marshal(ex)
		fmt.Fprintf(w, "  %s\n", b)
	}
	return nil
}

func readMirrorStats(ctx context.Context, addr string) (mirrorStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return mirrorStats{}, err
	}
	res, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return mirrorStats{}, fmt.Errorf("read mirror statistics: %w", err)
	}
	defer res.Body.Close()
	var s mirrorStats
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		return mirrorStats{}, fmt.Errorf("read mirror statistics: %w", err)
	}
	return s, nil
}

// verifyMirror checks that the mirroring router copies a request to the
// candidate and compares the two answers, finding them equal: the verification
// requests went through it, so an exchange must be compared within seconds.
func verifyMirror(ctx context.Context, c *child) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := readMirrorStats(ctx, c.stats)
		if err != nil {
			return err
		}
		if s.Differing > 0 {
			return fmt.Errorf("check %s: %d of %d exchanges differ; the candidate answers as the backend does", nameMirror, s.Differing, s.Compared)
		}
		if s.Compared > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("check %s: no exchange compared within 10s (mirror %+v)", nameMirror, s.Mirror)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
