// Command pushtolive measures prosper's push-to-live time on this machine: a
// one-line change to examples/go-notes is committed and pushed, and the clock
// stops when the router answers with the new text and never with the old one
// again. Each run's phases come from the release record. For comparison it
// times, in the same run, the floor any platform has: `go build` of the same
// change with the same warm cache. It ends with the idle memory of the control
// plane and the node (router and supervisor).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	runs := flag.Int("runs", 7, "measured pushes (after one warm-up)")
	flag.Parse()
	if err := run(*runs); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

type release struct {
	Version int                `json:"version"`
	Status  string             `json:"status"`
	Phases  map[string]float64 `json:"phases"`
	Reasons []string           `json:"reasons"`
}

func run(runs int) error {
	tmp, err := os.MkdirTemp("", "prosper-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "prosper")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/prosper").CombinedOutput(); err != nil {
		return fmt.Errorf("build prosper: %v\n%s", err, out)
	}
	data := filepath.Join(tmp, "data")
	up := exec.Command(bin, "up", "--data-dir", data, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0")
	stdout, _ := up.StdoutPipe()
	up.Stderr = io.Discard
	if err := up.Start(); err != nil {
		return err
	}
	defer func() {
		up.Process.Signal(os.Interrupt)
		up.Wait()
	}()
	apiURL, routerURL, err := readURLs(stdout)
	if err != nil {
		return err
	}
	go io.Copy(io.Discard, stdout)
	tokenB, err := os.ReadFile(filepath.Join(data, "admin-token"))
	if err != nil {
		return err
	}
	token := strings.TrimSpace(string(tokenB))
	cli := func(args ...string) ([]byte, error) {
		c := exec.Command(bin, args...)
		c.Env = append(os.Environ(), "PROSPER_URL="+apiURL, "PROSPER_TOKEN="+token)
		return c.CombinedOutput()
	}
	if out, err := cli("app", "create", "notes"); err != nil {
		return fmt.Errorf("create app: %v\n%s", err, out)
	}
	work := filepath.Join(tmp, "notes")
	if out, err := exec.Command("cp", "-r", "examples/go-notes", work).CombinedOutput(); err != nil {
		return fmt.Errorf("copy example: %v\n%s", err, out)
	}
	git := func(args ...string) error {
		c := exec.Command("git", append([]string{"-C", work, "-c", "user.name=bench", "-c", "user.email=bench@prosper.invalid"}, args...)...)
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	remote := strings.Replace(apiURL, "http://", "http://prosper:"+token+"@", 1) + "/git/notes.git"
	if err := git("init", "--quiet", "--initial-branch=main"); err != nil {
		return err
	}
	mainGo := filepath.Join(work, "main.go")
	src, err := os.ReadFile(mainGo)
	if err != nil {
		return err
	}
	greeting := regexp.MustCompile(`const greeting = ".*"`)
	if !greeting.Match(src) {
		return fmt.Errorf("examples/go-notes/main.go has no `const greeting = \"...\"` line to edit")
	}

	type sample struct {
		total, push float64
		phases      map[string]float64
		goBuild     float64
	}
	var samples []sample
	for i := 0; i <= runs; i++ {
		text := fmt.Sprintf("hello from notes, change %d", i)
		if err := os.WriteFile(mainGo, greeting.ReplaceAll(src, []byte(`const greeting = "`+text+`"`)), 0o644); err != nil {
			return err
		}
		if err := git("add", "-A"); err != nil {
			return err
		}
		if err := git("commit", "--quiet", "-m", text); err != nil {
			return err
		}
		start := time.Now()
		pushDone := make(chan error, 1)
		go func() { pushDone <- git("push", "--quiet", remote, "main") }()
		live, err := waitLive(routerURL, text, start)
		if err != nil {
			return err
		}
		if err := <-pushDone; err != nil {
			return err
		}
		pushed := time.Since(start)
		out, err := cli("releases", "notes", "-o", "json")
		if err != nil {
			return fmt.Errorf("releases: %v\n%s", err, out)
		}
		var rels []release
		if err := json.Unmarshal(out, &rels); err != nil {
			return err
		}
		// The floor: the same change, go build alone, same warm cache.
		gb := time.Now()
		b := exec.Command("go", "build", "-o", filepath.Join(tmp, "floor"), ".")
		b.Dir = work
		if out, err := b.CombinedOutput(); err != nil {
			return fmt.Errorf("go build floor: %v\n%s", err, out)
		}
		s := sample{total: live.Seconds(), push: pushed.Seconds(), phases: rels[0].Phases, goBuild: time.Since(gb).Seconds()}
		if i == 0 {
			fmt.Printf("warm-up push (first build of the example): %.2fs\n\n", s.total)
			continue
		}
		samples = append(samples, s)
		fmt.Printf("run %d: live after %.2fs (push returned %.2fs): receive %.2f build %.2f start %.2f health %.2f switch %.3f; go build alone %.2fs\n",
			i, s.total, s.push, s.phases["receive"], s.phases["build"], s.phases["start"], s.phases["health"], s.phases["switch"], s.goBuild)
	}
	med := func(f func(sample) float64) float64 {
		var v []float64
		for _, s := range samples {
			v = append(v, f(s))
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	total := med(func(s sample) float64 { return s.total })
	floor := med(func(s sample) float64 { return s.goBuild })
	fmt.Printf("\nmedians over %d runs (2 cores, warm Go cache):\n", len(samples))
	fmt.Printf("  push to live          %6.2fs   (target <= 5s; reference team: 15s)\n", total)
	for _, ph := range []string{"receive", "build", "start", "health", "switch"} {
		fmt.Printf("    %-8s            %6.3fs\n", ph, med(func(s sample) float64 { return s.phases[ph] }))
	}
	fmt.Printf("  go build alone        %6.2fs   (the floor)\n", floor)
	fmt.Printf("  ratio push-to-live / go build alone: %.2fx\n", total/floor)

	// Idle footprint: let the platform settle, then read resident memory.
	time.Sleep(5 * time.Second)
	nodePID, err := nodePID(data)
	if err != nil {
		return err
	}
	upRSS, nodeRSS := rssMB(up.Process.Pid), rssMB(nodePID)
	fmt.Printf("\nidle footprint with the example live: control plane %.1f MB + node (router, supervisor) %.1f MB = %.1f MB RSS (target <= 80 MB)\n",
		upRSS, nodeRSS, upRSS+nodeRSS)
	return nil
}

func readURLs(r io.Reader) (api, router string, err error) {
	sc := bufio.NewScanner(r)
	apiRe := regexp.MustCompile(`API and UI:\s+(http://\S+)`)
	routerRe := regexp.MustCompile(`router:\s+(http://\S+)`)
	for sc.Scan() {
		if m := apiRe.FindStringSubmatch(sc.Text()); m != nil {
			api = m[1]
		}
		if m := routerRe.FindStringSubmatch(sc.Text()); m != nil {
			router = m[1]
		}
		if api != "" && router != "" {
			return api, router, nil
		}
	}
	return "", "", fmt.Errorf("prosper up did not print its addresses")
}

// waitLive polls the app until it answers with text, then checks that the next
// 50 answers all come from the new release.
func waitLive(routerURL, text string, start time.Time) (time.Duration, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	get := func() string {
		req, _ := http.NewRequest(http.MethodGet, routerURL+"/", nil)
		req.Host = "notes.localhost"
		resp, err := client.Do(req)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for time.Since(start) < 5*time.Minute {
		if strings.Contains(get(), text) {
			live := time.Since(start)
			for range 50 {
				if body := get(); !strings.Contains(body, text) {
					return 0, fmt.Errorf("after the switch an old answer came back: %q", body)
				}
			}
			return live, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("%q never went live", text)
}

func nodePID(data string) (int, error) {
	c := &http.Client{Transport: &http.Transport{DialContext: unixDialer(filepath.Join(data, "node.sock"))}}
	resp, err := c.Get("http://node/v1/info")
	if err != nil {
		return 0, fmt.Errorf("ask the node its pid: %w", err)
	}
	defer resp.Body.Close()
	var info struct {
		PID int `json:"pid"`
	}
	return info.PID, json.NewDecoder(resp.Body).Decode(&info)
}

func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return 0
}
