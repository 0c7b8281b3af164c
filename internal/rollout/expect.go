package rollout

import (
	"path"
	"strings"
)

// ExpectChangeTrailer is the commit message trailer that declares an intended
// change of answers, so that mirror production does not reject it:
//
//	Prosper-Expect-Change: GET /api/notes/{id}
//
// The value names endpoints as `prosper verify status` shows them, with an
// optional method; `*` matches within a segment (`GET /api/*`), and `*` alone
// matches every endpoint. Their differences are still compared and reported,
// but the diff_rate gate does not count them; errors, latency and bots are
// judged as for any release.
const ExpectChangeTrailer = "Prosper-Expect-Change"

// expectedChanges reads the Prosper-Expect-Change trailers of a commit message;
// a trailer may list several endpoints separated by commas.
func expectedChanges(message string) []string {
	var out []string
	for _, line := range strings.Split(message, "\n") {
		key, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(key), ExpectChangeTrailer) {
			continue
		}
		for _, v := range strings.Split(value, ",") {
			if v = strings.Join(strings.Fields(v), " "); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

// expectedEndpoint reports whether an endpoint ("GET /api/notes/{id}") is one
// the patterns declare as changed on purpose.
func expectedEndpoint(patterns []string, endpoint string) bool {
	method, p, _ := strings.Cut(endpoint, " ")
	for _, pat := range patterns {
		if pat == "*" {
			return true
		}
		pm, pp, hasMethod := strings.Cut(pat, " ")
		if !hasMethod {
			pm, pp = "", pat
		}
		if pm != "" && !strings.EqualFold(pm, method) {
			continue
		}
		if ok, err := path.Match(pp, p); err == nil && ok {
			return true
		}
	}
	return false
}
