package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// platform is a `prosper up` started for the bench on free ports with a fresh
// data dir.
type platform struct {
	bin, data         string
	apiURL, routerURL string
	token             string
	up                *exec.Cmd
}

// startPlatform builds prosper into tmp and starts it, with the extra `prosper
// up` arguments given (--kubernetes KUBECONFIG --registry HOST:PORT).
func startPlatform(tmp string, extra ...string) (*platform, error) {
	p := &platform{bin: filepath.Join(tmp, "prosper"), data: filepath.Join(tmp, "data")}
	if out, err := exec.Command("go", "build", "-o", p.bin, "./cmd/prosper").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build prosper: %v\n%s", err, out)
	}
	args := append([]string{"up", "--data-dir", p.data, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"}, extra...)
	p.up = exec.Command(p.bin, args...)
	stdout, err := p.up.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.up.Stderr = io.Discard
	if err := p.up.Start(); err != nil {
		return nil, err
	}
	if p.apiURL, p.routerURL, err = readURLs(stdout); err != nil {
		p.stop()
		return nil, err
	}
	go io.Copy(io.Discard, stdout)
	token, err := os.ReadFile(filepath.Join(p.data, "admin-token"))
	if err != nil {
		p.stop()
		return nil, err
	}
	p.token = strings.TrimSpace(string(token))
	return p, nil
}

func (p *platform) stop() {
	p.up.Process.Signal(os.Interrupt)
	p.up.Wait()
}

// cli runs the prosper CLI against the platform.
func (p *platform) cli(args ...string) ([]byte, error) {
	c := exec.Command(p.bin, args...)
	c.Env = append(os.Environ(), "PROSPER_URL="+p.apiURL, "PROSPER_TOKEN="+p.token)
	out, err := c.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("prosper %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

// getJSON reads an API resource into v.
func (p *platform) getJSON(path string, v any) error {
	req, err := http.NewRequest(http.MethodGet, p.apiURL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// gitRemote is the URL to push the app to.
func (p *platform) gitRemote(app string) string {
	return strings.Replace(p.apiURL, "http://", "http://prosper:"+p.token+"@", 1) + "/git/" + app + ".git"
}

var (
	apiLine    = regexp.MustCompile(`API and UI:\s+(http://\S+)`)
	routerLine = regexp.MustCompile(`router:\s+(http://\S+)`)
)

// readURLs reads the API and router addresses `prosper up` prints.
func readURLs(r io.Reader) (api, router string, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if m := apiLine.FindStringSubmatch(sc.Text()); m != nil {
			api = m[1]
		}
		if m := routerLine.FindStringSubmatch(sc.Text()); m != nil {
			router = m[1]
		}
		if api != "" && router != "" {
			return api, router, nil
		}
	}
	return "", "", fmt.Errorf("prosper up did not print its addresses")
}

// nodePID asks the node (router and supervisor) for its process id.
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

// rssMB is the resident memory of a process, in MB, or 0 if it is unknown.
func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	return vmRSS(string(b))
}

// vmRSS reads the VmRSS line of a /proc/PID/status text, in MB.
func vmRSS(status string) float64 {
	for _, line := range strings.Split(status, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return 0
}
