// Command pushtolive measures prosper's push-to-live time on this machine. A
// one-line change to examples/go-notes (the text GET / answers, declared with
// the Prosper-Expect-Change trailer) is committed and pushed; every release
// after the first goes through mirror production, so the bench times push →
// PROMOTED (the verdict line of the push output) and push → every answer from
// the new release, while light steady user traffic runs and is compared. Each
// run's phases come from the release record and its comparison from the
// verification report. For comparison it times, in the same run, the floor
// any platform has: `go build` of the same change with the same warm cache. It
// ends with the idle memory of the control plane and the node.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

const (
	app      = "notes"
	host     = app + ".localhost"
	greeting = "hello from notes" // every text the bench sets starts with it
	// expectChange is the trailer that declares the new answer of GET /, so
	// that the diff gate does not reject the change.
	expectChange = "Prosper-Expect-Change: GET /"
)

func main() {
	runs := flag.Int("runs", 5, "measured pushes (after one warm-up)")
	rate := flag.Int("rate", 20, "user requests per second during the runs (GET /api/notes and GET / in turn)")
	flag.Parse()
	if *runs < 1 || *rate < 1 {
		fmt.Fprintln(os.Stderr, "error: -runs and -rate must be at least 1")
		os.Exit(2)
	}
	r, err := bench(config{runs: *runs, rate: *rate})
	if err == nil {
		r.print(os.Stdout)
		err = r.check()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// config is one bench: how many runs, how much traffic, and how prosper runs
// the apps.
type config struct {
	runs, rate int
	// up are extra `prosper up` arguments, such as --kubernetes.
	up []string
	// buildEnv is added to the environment of the `go build` floor, so that
	// it builds as prosper does in that mode (CGO_ENABLED=0 on Kubernetes).
	buildEnv []string
}

// result is what one bench measured.
type result struct {
	runs, rate int
	warmUp     float64 // the first push, not verified
	samples    []sample
	rejections []string
	// User traffic over the whole bench.
	sent, failed int
	failures     []string
	// Idle footprint after the runs, MB RSS.
	upRSS, nodeRSS float64
}

// bench starts prosper, pushes the example once to warm up, then cfg.runs
// changes under user traffic, and ends with the idle footprint. It runs from
// the repository's root. A rejected push is a result, not an error: r.check
// tells it.
func bench(cfg config) (r result, err error) {
	r.runs, r.rate = cfg.runs, cfg.rate
	tmp, err := os.MkdirTemp("", "prosper-bench")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(tmp)
	p, err := startPlatform(tmp, cfg.up...)
	if err != nil {
		return r, err
	}
	defer p.stop()
	if _, err := p.cli("app", "create", app); err != nil {
		return r, err
	}
	work := filepath.Join(tmp, app)
	if out, err := exec.Command("cp", "-r", "examples/go-notes", work).CombinedOutput(); err != nil {
		return r, fmt.Errorf("copy example: %v\n%s", err, out)
	}
	git := func(args ...string) *exec.Cmd {
		return exec.Command("git", append([]string{"-C", work, "-c", "user.name=bench", "-c", "user.email=bench@prosper.invalid"}, args...)...)
	}
	gitRun := func(args ...string) error {
		if out, err := git(args...).CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := gitRun("init", "--quiet", "--initial-branch=main"); err != nil {
		return r, err
	}
	mainGo := filepath.Join(work, "main.go")
	src, err := os.ReadFile(mainGo)
	if err != nil {
		return r, err
	}
	greetingLine := regexp.MustCompile(`const greeting = ".*"`)
	if !greetingLine.Match(src) {
		return r, fmt.Errorf("examples/go-notes/main.go has no `const greeting = \"...\"` line to edit")
	}

	var users *traffic
	defer func() {
		if users != nil {
			users.end()
		}
	}()
	for i := 0; i <= cfg.runs; i++ {
		text := fmt.Sprintf("%s, change %d", greeting, i)
		if err := os.WriteFile(mainGo, greetingLine.ReplaceAll(src, []byte(`const greeting = "`+text+`"`)), 0o644); err != nil {
			return r, err
		}
		if err := gitRun("add", "-A"); err != nil {
			return r, err
		}
		if err := gitRun("commit", "--quiet", "-m", text, "-m", expectChange); err != nil {
			return r, err
		}
		var sentBefore, failedBefore int
		if users != nil {
			sentBefore, failedBefore = users.counts()
		}

		push := git("push", p.gitRemote(app), "main")
		stderr, err := push.StderrPipe()
		if err != nil {
			return r, err
		}
		push.Stdout = io.Discard
		start := time.Now()
		if err := push.Start(); err != nil {
			return r, err
		}
		watch := newPushWatch(start)
		followed := make(chan struct{})
		go func() { defer close(followed); watch.follow(stderr) }()
		pushDone := func() (time.Duration, error) {
			<-followed
			err := push.Wait()
			if err != nil {
				return 0, fmt.Errorf("git push: %v\n%s", err, watch.output())
			}
			return time.Since(start), nil
		}

		if i == 0 {
			// The first release goes live without a verification: nothing to
			// compare it with. It warms the build cache.
			pushed, err := pushDone()
			if err != nil {
				return r, err
			}
			if _, err := waitLive(p.routerURL, text, start); err != nil {
				return r, err
			}
			r.warmUp = pushed.Seconds()
			fmt.Printf("warm-up push (first release, first build of the example): %.2fs\n\n", pushed.Seconds())
			users = startTraffic(p.routerURL, host, greeting, cfg.rate)
			continue
		}

		version, promotedAt, err := watch.waitPromoted(3 * time.Minute)
		if rej, ok := errors.AsType[*errRejected](err); ok {
			// A rejection is a result, not a failure of the bench: it is
			// counted and the next run pushes the next change.
			pushDone() // fails; the output then holds every reason
			rej.output = watch.output()
			r.rejections = append(r.rejections, fmt.Sprintf("run %d, v%d: %s", i, rej.version, strings.Join(rej.reasons(), "; ")))
			fmt.Printf("run %d: v%d REJECTED after %.2fs: %s\n", i, rej.version, time.Since(start).Seconds(), strings.Join(rej.reasons(), "; "))
			continue
		}
		if err != nil {
			return r, err
		}
		live, err := waitLive(p.routerURL, text, start)
		if err != nil {
			return r, err
		}
		pushed, err := pushDone()
		if err != nil {
			return r, err
		}
		s := sample{promoted: promotedAt.Seconds(), live: live.Seconds(), pushed: pushed.Seconds()}
		if err := readRecords(p, version, &s); err != nil {
			return r, err
		}
		sent, failed := users.counts()
		s.users, s.failed = sent-sentBefore, failed-failedBefore

		// The floor: the same change, go build alone, same warm cache, and
		// the command prosper runs (internal/build): a plain go build in a git
		// checkout also stamps VCS data and links DWARF, which is slower.
		gb := time.Now()
		b := exec.Command("go", "build", "-buildvcs=false", "-ldflags=-s -w", "-o", filepath.Join(tmp, "floor"), ".")
		b.Dir = work
		if len(cfg.buildEnv) > 0 {
			b.Env = append(os.Environ(), cfg.buildEnv...)
		}
		if out, err := b.CombinedOutput(); err != nil {
			return r, fmt.Errorf("go build floor: %v\n%s", err, out)
		}
		s.goBuild = time.Since(gb).Seconds()
		r.samples = append(r.samples, s)
		printRun(os.Stdout, i, s)
	}
	r.sent, r.failed, r.failures = users.end()
	users = nil

	// Idle footprint: let the platform settle, then read resident memory. The
	// live release's bot journey goes on meanwhile, as it would in production.
	time.Sleep(5 * time.Second)
	pid, err := nodePID(p.data)
	if err != nil {
		return r, err
	}
	r.upRSS, r.nodeRSS = rssMB(p.up.Process.Pid), rssMB(pid)
	return r, nil
}

// check fails a bench in which a user request failed or a push was rejected.
func (r result) check() error {
	if r.failed > 0 {
		return fmt.Errorf("%d of %d user requests failed", r.failed, r.sent)
	}
	if len(r.rejections) > 0 {
		return fmt.Errorf("%d of %d pushes were rejected in mirror production", len(r.rejections), r.runs)
	}
	return nil
}

// waitLive polls the app until it answers with text, then checks that the next
// 50 answers all come from the new release. It is called once the verdict is
// in: the new release cannot answer before.
func waitLive(routerURL, text string, start time.Time) (time.Duration, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	get := func() string {
		req, _ := http.NewRequest(http.MethodGet, routerURL+"/", nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for time.Since(start) < 5*time.Minute {
		if get() == text+"\n" {
			live := time.Since(start)
			for range 50 {
				if body := get(); body != text+"\n" {
					return 0, fmt.Errorf("after the switch an old answer came back: %q", body)
				}
			}
			return live, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("%q never went live", text)
}
