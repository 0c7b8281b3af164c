package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium, the browser the UI tests drive.
const chromiumPath = "/usr/bin/chromium"

// startBrowser starts headless Chromium with a fresh profile and returns a tab.
// It skips the test when Chromium is missing, unless PROSPER_REQUIRE_BROWSER=1.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := chromiumPath
	if _, err := os.Stat(exe); err != nil {
		if p, lerr := exec.LookPath("chromium"); lerr == nil {
			exe = p
		} else if os.Getenv("PROSPER_REQUIRE_BROWSER") == "1" {
			t.Fatalf("chromium is not installed (apt-get install -y chromium) and PROSPER_REQUIRE_BROWSER=1")
		} else {
			t.Skip("chromium is not installed: apt-get install -y chromium")
		}
	}
	// Not t.TempDir: Chromium's helpers may still write to the profile for a
	// moment after the browser exits, and a failed removal would fail the test.
	profile, err := os.MkdirTemp("", "prosper-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.UserDataDir(profile),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	// A script that opens a dialog is hostile text run as code: fail loudly.
	chromedp.ListenTarget(ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			t.Errorf("the page opened a %s dialog: %q", d.Type, d.Message)
			go chromedp.Run(ctx, page.HandleJavaScriptDialog(true))
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// run runs browser actions with a deadline and fails the test on error.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Run(c, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitFor polls a JavaScript expression until it is true.
func waitFor(t *testing.T, ctx context.Context, what, expr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var ok bool
		if err := chromedp.Run(ctx, chromedp.Evaluate(expr, &ok)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var text string
			_ = chromedp.Run(ctx, chromedp.Evaluate(`document.body ? document.body.innerText.slice(0, 3000) : ""`, &text))
			t.Fatalf("%s: not within %s; the page says:\n%s", what, within, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func text(t *testing.T, ctx context.Context, expr string) string {
	t.Helper()
	var s string
	run(t, ctx, "read "+expr, chromedp.Evaluate(expr, &s))
	return s
}

// screenshot saves the whole page under the test's temporary directory and, when
// PROSPER_SCREENSHOTS=DIR is set, in DIR too.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	var png []byte
	shot := chromedp.FullScreenshot(&png, 100)
	if strings.HasSuffix(name, "-phone") {
		shot = chromedp.CaptureScreenshot(&png) // a phone's screenful, not the whole scroll
	}
	run(t, ctx, "screenshot "+name, shot)
	dirs := []string{t.TempDir()}
	if d := os.Getenv("PROSPER_SCREENSHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const hostileLine = `<script>alert(1)</script> hostile line`

// hostileStep names a bot journey's step: a failure's reason quotes it.
const hostileStep = `<img src=x onerror=alert(1)>`

// totalBot checks the order's total, in a step with a hostile name: it passes on
// a total of 10 and fails, quoting the step's name, on any other.
const totalBot = `name: total stays
every: 200ms
steps:
  - name: "` + hostileStep + `"
    get: /api/order
    expect: {status: 200, json: {$.total: 10}}
`

// logHandler makes the app write the query's m to stdout: a line logged on
// demand, for the live tail.
const logHandler = `http.HandleFunc("/log", func(w http.ResponseWriter, r *http.Request) { os.Stdout.WriteString("tailed " + r.URL.Query().Get("m") + "\n") })`

// TestUIInABrowser drives the web UI in headless Chromium against a real
// platform: sign in, a team, an app going through mirror verification to
// PROMOTED, a live log tail, a rejected release's reasons (a bot step with a
// hostile name among them), log search with a hostile line, rollback from the
// button, and a bad session sent to sign in.
func TestUIInABrowser(t *testing.T) {
	ctx := startBrowser(t)
	p := startPlatform(t)
	p.mustProsper("app", "create", "orders", "--team", "payments")
	r := newRepo(t)
	writeOrders := func(total string) {
		r.orderApp(total)
		main := strings.Replace(strings.ReplaceAll(orderApp, "TOTAL", total), "func main() {",
			"func main() {\n\tos.Stdout.WriteString("+fmt.Sprintf("%q", hostileLine+"\n")+")\n\t"+logHandler, 1)
		r.write("main.go", main)
		r.write("bots/total.yaml", totalBot)
		r.write("prosper.yaml", "health: /healthz\nverify: {window: 5s, min_requests: 20, grace: 3s, gates: {p95: +50ms, p99: +50ms}}\n")
	}
	writeOrders("10")
	sha1 := r.commit("v1: orders")
	r.mustPush(p.remote("orders"))
	l := startLoad(p, "orders", "/api/order", 2)
	defer l.finish()

	// A missing session is sent to sign in, and back after it.
	run(t, ctx, "open the app signed out", chromedp.Navigate(p.API+"/apps/orders"))
	waitFor(t, ctx, "sent to sign in", `location.pathname === "/login" && !!document.querySelector("#token")`, 10*time.Second)
	screenshot(t, ctx, "login")
	run(t, ctx, "sign in with a wrong token", chromedp.SendKeys("#token", "prsp_wrong"), chromedp.Click("#signin"))
	// The refused sign-in loads a new page: wait until it is whole, so that the
	// next keys go to its field and not to the one the reload replaced.
	waitFor(t, ctx, "wrong token told", `document.readyState === "complete" && !!document.querySelector("#login-error") && !!document.querySelector("#token")`, 10*time.Second)
	run(t, ctx, "sign in", chromedp.WaitReady("#token"), chromedp.SendKeys("#token", p.Token), chromedp.Click("#signin"))
	waitFor(t, ctx, "back on the app page", `location.pathname === "/apps/orders"`, 10*time.Second)

	run(t, ctx, "open home", chromedp.Navigate(p.API+"/"))
	waitFor(t, ctx, "team listed", `[...document.querySelectorAll(".team h2 a")].some(a => a.textContent === "payments")`, 10*time.Second)
	screenshot(t, ctx, "teams")
	run(t, ctx, "open the team", chromedp.Click(`a[href="/teams/payments"]`, chromedp.NodeVisible))
	waitFor(t, ctx, "team page with DORA figures and charts",
		`location.pathname === "/teams/payments" && document.querySelectorAll("#dora-figures .figure").length >= 5 && document.querySelectorAll("#dora-trend .chart").length === 4`, 15*time.Second)
	if got := text(t, ctx, `document.querySelector("#dora-figures").innerText`); !strings.Contains(got, "deploys per day") {
		t.Errorf("DORA figures: %q", got)
	}
	screenshot(t, ctx, "team")

	// A refactor goes through mirror verification while the page watches.
	run(t, ctx, "open the app", chromedp.Navigate(p.API+"/apps/orders"))
	waitFor(t, ctx, "app page ready", `!!document.querySelector("#verify-none")`, 15*time.Second)

	// Live tail: a line the app writes after the tail opened appears without a
	// reload (the marker is new, so no earlier read of the logs can hold it).
	run(t, ctx, "mark the page", chromedp.Evaluate(`window.notReloaded = true`, nil))
	run(t, ctx, "tick live tail", chromedp.Click("#log-tail"))
	waitFor(t, ctx, "live tail open", `document.querySelector("#log-lines").dataset.state === "tailing"`, 15*time.Second)
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	if code, body, _, err := p.get("orders", "/log?m="+marker); err != nil || code != http.StatusOK {
		t.Fatalf("make the app log a line: %d %q %v", code, body, err)
	}
	waitFor(t, ctx, "the new line tailed live", `window.notReloaded === true && document.querySelector("#log-lines").dataset.state === "tailing" && document.querySelector("#log-lines").textContent.includes("tailed `+marker+`")`, 15*time.Second)
	run(t, ctx, "untick live tail", chromedp.Click("#log-tail"))
	waitFor(t, ctx, "live tail closed", `document.querySelector("#log-lines").dataset.state === "done"`, 15*time.Second)
	r.write("main.go", strings.Replace(readRepo(t, r, "main.go"), "const total = 10", "const total = 5 + 5", 1))
	r.commit("v2: refactor")
	pushed := make(chan string, 1)
	go func() { out, _ := r.push(p.remote("orders"), "main"); pushed <- out }()
	waitFor(t, ctx, "verification shown live", `(document.querySelector("#verify-state")||{}).textContent === "VERIFYING"`, 120*time.Second)
	waitFor(t, ctx, "gates and figures while verifying", `document.querySelectorAll("#verify .figure").length >= 4`, 10*time.Second)
	screenshot(t, ctx, "app-verifying")
	waitFor(t, ctx, "PROMOTED shown", `(document.querySelector("#verify-state")||{}).textContent === "PROMOTED"`, 60*time.Second)
	if out := <-pushed; !strings.Contains(out, "PROMOTED v2") {
		t.Fatalf("push of the refactor:\n%s", out)
	}
	if got := text(t, ctx, `document.querySelector("#verify-body").innerText`); !strings.Contains(got, "diff_rate") || !strings.Contains(got, "check an order") {
		t.Errorf("the verdict lacks its gates or bot journeys:\n%s", got)
	}

	// A changed value is rejected; the page says why.
	r.write("main.go", strings.Replace(readRepo(t, r, "main.go"), "const total = 5 + 5", "const total = 11", 1))
	r.commit("v3: wrong total")
	if out, err := r.push(p.remote("orders"), "main"); err == nil || !strings.Contains(out, "REJECTED v3") {
		t.Fatalf("push of a wrong total: %v\n%s", err, out)
	}
	run(t, ctx, "reload the app", chromedp.Reload())
	waitFor(t, ctx, "REJECTED with reasons", `(document.querySelector("#verify-state")||{}).textContent === "REJECTED" && !!document.querySelector("#verify-reasons")`, 15*time.Second)
	for sel, want := range map[string]string{"#verify-reasons": "$.total", "#rejects": "v3", "#verify-body": "differ"} {
		if got := text(t, ctx, `document.querySelector("`+sel+`").innerText`); !strings.Contains(got, want) {
			t.Errorf("%s does not say %q:\n%s", sel, want, got)
		}
	}
	// The failing bot step's hostile name is shown as text in the verdict, the
	// bots table and the refusals; as markup its onerror would open a dialog.
	if got := text(t, ctx, `String(document.querySelectorAll("#verify img, #rejects img").length) + " " +
		String(document.querySelector("#verify-reasons").textContent.includes('step 1 "`+hostileStep+`"')) + " " +
		String(document.querySelector("#verify-body table:last-of-type").textContent.includes("`+hostileStep+`")) + " " +
		String(document.querySelector("#rejects").textContent.includes("`+hostileStep+`"))`); got != "0 true true true" {
		t.Errorf("bot step with a hostile name: img elements, in verdict, in bots table, in refusals = %q", got)
	}
	if n := text(t, ctx, `String(document.querySelectorAll("#verify .side pre").length)`); n == "0" {
		t.Error("no response examples side by side")
	}
	waitFor(t, ctx, "charts drawn (or told empty)", `document.querySelectorAll("#series .chart").length === 8`, 20*time.Second)
	screenshot(t, ctx, "app-rejected")

	// Log search shows the hostile line as text, never as markup.
	run(t, ctx, "search logs", chromedp.SetValue("#log-grep", "alert"), chromedp.Click("#log-search"))
	waitFor(t, ctx, "the hostile line found", `document.querySelector("#log-lines").dataset.state === "done" && document.querySelector("#log-lines").textContent.includes("<script>alert(1)</script> hostile line")`, 15*time.Second)
	if got := text(t, ctx, `String(document.querySelectorAll("#log-lines script").length) + " " + String([...document.querySelectorAll("#log-lines .line")].every(l => l.textContent.includes("alert")))`); got != "0 true" {
		t.Errorf("log search: script elements and all-lines-match = %q", got)
	}
	run(t, ctx, "scroll to logs", chromedp.ScrollIntoView("#logs"))
	screenshot(t, ctx, "app-logs")

	// Roll back with the button: v1, kept warm, is live again.
	run(t, ctx, "roll back", chromedp.Click("#rollback"))
	waitFor(t, ctx, "rollback told", `(document.querySelector("#flash")||{}).textContent.includes("v1 is live again")`, 30*time.Second)
	if _, _, rel, err := p.get("orders", "/api/order"); err != nil || rel != "v1" {
		t.Errorf("after the rollback the router answers from %q (%v), want v1", rel, err)
	}

	// A CI report with a hostile test name: ranked, drawn, shown as text.
	report := `{"Action":"pass","Package":"example.com/orders","Test":"TestOrderTotal","Elapsed":1.5}
{"Action":"fail","Package":"example.com/orders","Test":"TestCheckout/` + hostileLine + `","Elapsed":3.2}
{"Action":"pass","Package":"example.com/orders","Test":"TestSlowIntegration","Elapsed":12}
`
	req, _ := http.NewRequest(http.MethodPost, p.API+"/api/apps/orders/tests?commit="+sha1, strings.NewReader(report))
	req.Header.Set("Authorization", "Bearer "+p.Token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("send a test report: %v %v", resp, err)
	}
	run(t, ctx, "open tests", chromedp.Navigate(p.API+"/tests"))
	waitFor(t, ctx, "tests page with the bots", `document.querySelector("#bots-list").textContent.includes("check an order")`, 15*time.Second)
	waitFor(t, ctx, "tests ranked and drawn", `document.querySelectorAll("#tests-chart svg rect").length >= 3 && document.querySelector("#tests-list").textContent.includes("TestCheckout/<script>alert(1)</script>")`, 15*time.Second)
	if n := text(t, ctx, `String(document.querySelectorAll("main script").length)`); n != "0" {
		t.Errorf("%s script elements inside the page's content", n)
	}
	screenshot(t, ctx, "tests")

	// On a phone.
	run(t, ctx, "phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.Navigate(p.API+"/apps/orders"))
	waitFor(t, ctx, "app page on a phone", `!!document.querySelector("#verify-state") && document.documentElement.scrollWidth <= 400`, 15*time.Second)
	screenshot(t, ctx, "app-phone")

	// A forged session is sent to sign in.
	run(t, ctx, "forge the session", network.SetCookie("prosper_session", strings.Repeat("ab", 32)).WithURL(p.API),
		chromedp.Navigate(p.API+"/apps/orders"))
	waitFor(t, ctx, "forged session sent to sign in", `location.pathname === "/login"`, 10*time.Second)
}

func readRepo(t *testing.T, r *repo, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
