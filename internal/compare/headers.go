package compare

import (
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
)

// The headers that matter. Every other header is ignored: Date, Content-Length,
// Server, Transfer-Encoding, Connection, ETag, Last-Modified, Age, Expires, Vary,
// request ids (X-Request-Id, X-Correlation-Id, traceparent...) and anything
// custom differ between two releases without a user noticing, or are covered by
// the body comparison.
//
//   - Content-Type: the media type only (charset and other parameters ignored).
//   - Location: the path only, because live and candidate run on different
//     hosts and ports, and an absolute URL carries them.
//   - Cache-Control: the set of directives, order and case ignored.
//   - Set-Cookie: the set of cookie names; values are sessions and tokens.
var comparedHeaders = []string{"Content-Type", "Location", "Cache-Control", "Set-Cookie"}

// ComparedHeaders returns the names of the headers Diff compares, in the order
// their differences are reported.
func ComparedHeaders() []string { return slices.Clone(comparedHeaders) }

func (d *differ) compareHeaders(a, b Response) {
	for _, name := range comparedHeaders {
		live, cand := headerView(name, a), headerView(name, b)
		if live == cand {
			continue
		}
		d.add(Difference{
			Path:      headerPathPrefix + name,
			Kind:      KindHeader,
			Live:      renderHeader(live),
			Candidate: renderHeader(cand),
		})
	}
}

// headerView reduces a header to the part that matters, as a comparable string.
func headerView(name string, r Response) string {
	switch name {
	case "Content-Type":
		return mediaType(r)
	case "Location":
		loc := headerValue(r.Header, name)
		if loc == "" {
			return ""
		}
		u, err := url.Parse(loc)
		if err != nil {
			return loc
		}
		if u.Path == "" {
			return "/"
		}
		return u.Path
	case "Cache-Control":
		var dirs []string
		for _, v := range headerValues(r.Header, name) {
			for dir := range strings.SplitSeq(v, ",") {
				if dir = strings.ToLower(strings.TrimSpace(dir)); dir != "" {
					dirs = append(dirs, dir)
				}
			}
		}
		slices.Sort(dirs)
		return strings.Join(slices.Compact(dirs), ", ")
	case "Set-Cookie":
		var names []string
		for _, v := range headerValues(r.Header, name) {
			if c, err := http.ParseSetCookie(v); err == nil {
				names = append(names, c.Name)
			}
		}
		slices.Sort(names)
		return strings.Join(slices.Compact(names), ", ")
	}
	return headerValue(r.Header, name)
}

func renderHeader(v string) string {
	if v == "" {
		return "(absent)"
	}
	return shorten(v)
}

// headerValues reads a header whether or not the map was canonicalized, since
// callers may build headers by hand.
func headerValues(h map[string][]string, name string) []string {
	if v, ok := h[textproto.CanonicalMIMEHeaderKey(name)]; ok {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

func headerValue(h map[string][]string, name string) string {
	if v := headerValues(h, name); len(v) > 0 {
		return v[0]
	}
	return ""
}
