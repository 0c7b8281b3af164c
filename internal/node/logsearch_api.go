package node

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prosperhq/prosper/internal/runtime"
)

// ParseSince reads a look-back period: a Go duration (10m, 2h) or days (7d).
func ParseSince(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 && n <= 100*365 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("since %q is not a duration: use e.g. 10m, 2h or 7d", s)
	}
	return d, nil
}

// getLogSearch answers GET /v1/logs/search?app=&release=&since=&grep=&level=&limit=
// with the newest matching lines, newest first, as a JSON array.
func (n *node) getLogSearch(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := LogSearch{App: v.Get("app"), Grep: v.Get("grep"), Level: v.Get("level")}
	var err error
	if q.Release, err = parseRelease(v.Get("release")); err != nil {
		writeFailure(w, err)
		return
	}
	if q.Since, err = ParseSince(v.Get("since")); err != nil {
		writeFailure(w, badRequest{err})
		return
	}
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit < 0 {
			writeFailure(w, badRequest{fmt.Errorf("limit %q is not a number of lines", s)})
			return
		}
	}
	if err := validName(q.App); err != nil {
		writeFailure(w, badRequest{err})
		return
	}
	lines, err := n.sup.SearchLogs(r.Context(), q)
	if err != nil {
		writeFailure(w, err)
		return
	}
	writeJSON(w, http.StatusOK, lines)
}

// getCrashes answers GET /v1/crashes?app=&since= with the app's crashes, oldest
// first.
func (n *node) getCrashes(w http.ResponseWriter, r *http.Request) {
	since, err := ParseSince(r.URL.Query().Get("since"))
	if err != nil {
		writeFailure(w, badRequest{err})
		return
	}
	crashes, err := n.sup.Crashes(r.Context(), r.URL.Query().Get("app"), since)
	if err != nil {
		writeFailure(w, err)
		return
	}
	writeJSON(w, http.StatusOK, crashes)
}

// SearchLogs returns the newest lines of an app matching q, newest first.
func (c *Client) SearchLogs(ctx context.Context, q LogSearch) ([]runtime.LogLine, error) {
	v := url.Values{"app": {q.App}}
	if q.Release != 0 {
		v.Set("release", strconv.Itoa(q.Release))
	}
	if q.Since > 0 {
		v.Set("since", q.Since.String())
	}
	if q.Grep != "" {
		v.Set("grep", q.Grep)
	}
	if q.Level != "" {
		v.Set("level", q.Level)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var lines []runtime.LogLine
	err := c.do(ctx, http.MethodGet, "/v1/logs/search?"+v.Encode(), nil, &lines)
	return lines, err
}

// Crashes returns the app's crashes of the last since (every kept one for 0),
// oldest first.
func (c *Client) Crashes(ctx context.Context, app string, since time.Duration) ([]Crash, error) {
	v := url.Values{"app": {app}}
	if since > 0 {
		v.Set("since", since.String())
	}
	var out []Crash
	err := c.do(ctx, http.MethodGet, "/v1/crashes?"+v.Encode(), nil, &out)
	return out, err
}
