// Package compare decides whether a candidate release answered a mirrored request
// the same way as the live release did.
//
// It is pure: it never touches the network. The router delivers pairs of
// exchanges, Diff compares one pair, Noise learns which fields differ between two
// answers of the live release itself (the approach of Twitter's Diffy), and
// Tracker aggregates the results per endpoint over a verification window into the
// difference rate and the sentences that verdict gates quote.
package compare

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Kinds of Difference. JSON bodies produce value, type, missing, extra and
// length; the rest of the response produces status, header and body.
const (
	KindValue   = "value"   // same JSON type, different value
	KindType    = "type"    // different JSON types (string vs number, object vs null...)
	KindMissing = "missing" // present in the live answer, absent from the candidate's
	KindExtra   = "extra"   // absent from the live answer, present in the candidate's
	KindLength  = "length"  // arrays of different lengths, reported once per array
	KindStatus  = "status"  // status code, or a transport error of one side
	KindHeader  = "header"  // one of the headers that matter, see compareHeaders
	KindBody    = "body"    // non-JSON bodies whose bytes differ
)

// Paths of the differences that are not inside a JSON body. JSON paths start
// with "$"; these never do, so the two cannot collide.
const (
	PathStatus       = "status"
	PathBody         = "body"
	headerPathPrefix = "header:"
)

// DefaultMaxDifferences bounds the differences listed for one pair when
// Options.MaxDifferences is zero: a body that changed completely would
// otherwise produce one difference per leaf.
const DefaultMaxDifferences = 50

// Response is one side of a comparison: what the live or the candidate release
// answered.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// ContentType is derived from Header when empty.
	ContentType string
	// Truncated says Body holds only the first bytes of the answer (the
	// router captures bodies up to a limit); only the common prefix is compared.
	Truncated bool
	// Err is a transport error or timeout: there is no answer to compare.
	Err string
}

// Options tune Diff. The zero value compares everything and ignores nothing.
type Options struct {
	// Ignore holds the paths never compared (prosper.yaml verify.ignore).
	Ignore Ignore
	// IgnoreVolatile treats a changed value as noise when both sides have the
	// same volatile shape: a timestamp, a UUID, a random hex or base64 id, or a
	// unix time in seconds or milliseconds near Now. See volatileShape.
	IgnoreVolatile bool
	// Now anchors the "near now" test of unix times; zero means time.Now().
	Now time.Time
	// MaxDifferences bounds Result.Differences; zero means DefaultMaxDifferences.
	MaxDifferences int
}

// Difference is one place where the candidate's answer differs from the live one.
type Difference struct {
	// Path is a JSON path such as $.a.b[3].c, or "status", "header:Name" or "body".
	Path string `json:"path"`
	// Kind is one of the Kind constants.
	Kind string `json:"kind"`
	// Live and Candidate are short renderings of both sides (at most ~80 bytes).
	Live      string `json:"live"`
	Candidate string `json:"candidate"`
}

// Result is the outcome of one Diff.
type Result struct {
	// Differences are in a stable order: status, headers, then body paths.
	Differences []Difference `json:"differences"`
	// Ignored counts the differences dropped by ignore paths and volatile values.
	Ignored int `json:"ignored"`
	// Truncated says more differences existed than Options.MaxDifferences.
	Truncated bool `json:"truncated,omitempty"`
}

// Equal reports whether no difference remained.
func (r Result) Equal() bool { return len(r.Differences) == 0 }

// Diff compares the candidate's answer b with the live answer a.
func Diff(a, b Response, opts Options) Result {
	d := differ{opts: opts, max: opts.MaxDifferences}
	if d.max <= 0 {
		d.max = DefaultMaxDifferences
	}
	if d.opts.Now.IsZero() {
		d.opts.Now = time.Now()
	}
	if a.Err != "" || b.Err != "" {
		if a.Err != b.Err {
			d.add(Difference{Path: PathStatus, Kind: KindStatus, Live: renderStatus(a), Candidate: renderStatus(b)})
		}
		return d.res
	}
	if a.Status != b.Status {
		d.add(Difference{Path: PathStatus, Kind: KindStatus, Live: renderStatus(a), Candidate: renderStatus(b)})
	}
	d.compareHeaders(a, b)
	d.compareBodies(a, b)
	return d.res
}

// differ accumulates the differences of one Diff call.
type differ struct {
	opts Options
	max  int
	res  Result
}

func (d *differ) add(diff Difference) {
	if len(d.res.Differences) >= d.max {
		d.res.Truncated = true
		return
	}
	d.res.Differences = append(d.res.Differences, diff)
}

func (d *differ) full() bool { return len(d.res.Differences) >= d.max }

func renderStatus(r Response) string {
	if r.Err != "" {
		return shorten("error: " + r.Err)
	}
	return strconv.Itoa(r.Status)
}

// mediaType returns the lowercased media type of r, without parameters.
func mediaType(r Response) string {
	ct := r.ContentType
	if ct == "" {
		ct = headerValue(r.Header, "Content-Type")
	}
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		// A malformed header still deserves a comparison of what it says.
		mt, _, _ = strings.Cut(ct, ";")
	}
	return strings.ToLower(strings.TrimSpace(mt))
}

// isJSONMedia accepts application/json and the structured-syntax suffix +json.
func isJSONMedia(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// maxRender bounds the renderings in a Difference so reports stay readable.
const maxRender = 80

// shorten cuts s to maxRender bytes on a rune boundary, marking the cut.
func shorten(s string) string {
	if len(s) <= maxRender {
		return s
	}
	cut := maxRender
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
