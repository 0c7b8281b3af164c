package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/api"
	"github.com/prosperhq/prosper/internal/client"
	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/runtime"
)

type logsCmd struct {
	follow, crashes bool
	since           sinceFlag
	release         string
	grep, level     string
	limit           int
	out             output
}

func newLogsCmd(e *env) *cobra.Command {
	c := &logsCmd{}
	cmd := &cobra.Command{
		Use:   "logs APP",
		Short: "Show what an app's processes write to stdout and stderr, and why they crashed",
		Example: `  prosper logs shop --since 10m
  prosper logs shop -f --grep checkout
  prosper logs shop --grep timeout --limit 50
  prosper logs shop --release v3 --level error -o json
  prosper logs shop --crashes --since 1d`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.out.check(); err != nil {
				return err
			}
			q := url.Values{}
			if c.since > 0 {
				q.Set("since", time.Duration(c.since).String())
			}
			cl, err := e.apiClient()
			if err != nil {
				return err
			}
			if c.crashes {
				return c.printCrashes(cmd, e, cl, args[0], q)
			}
			if c.follow {
				q.Set("follow", "1")
			}
			if c.release != "" {
				v, err := parseVersion(c.release)
				if err != nil {
					return err
				}
				q.Set("release", strconv.Itoa(v))
			}
			if c.grep != "" {
				q.Set("grep", c.grep)
			}
			if c.level != "" {
				q.Set("level", c.level)
			}
			if c.limit != node.DefaultLogLimit {
				q.Set("limit", strconv.Itoa(c.limit))
			}
			resp, err := cl.Send(cmd.Context(), http.MethodGet, "/api/apps/"+args[0]+"/logs?"+q.Encode(), "", nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			dec := json.NewDecoder(resp.Body)
			for {
				// A failure after the stream started comes as a line of its own.
				var m struct {
					runtime.LogLine
					Error *api.Error `json:"error"`
				}
				if err := dec.Decode(&m); err != nil {
					if errors.Is(err, io.EOF) || cmd.Context().Err() != nil {
						return nil
					}
					return fmt.Errorf("read logs: %w", err)
				}
				if m.Error != nil {
					return &client.Error{Msg: m.Error.Error, Hint: m.Error.Hint}
				}
				l := m.LogLine
				if c.out.json() {
					if err := json.NewEncoder(e.stdout).Encode(l); err != nil {
						return err
					}
					continue
				}
				printLine(e.stdout, l, "")
			}
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&c.follow, "follow", "f", false, "keep printing new lines")
	f.Var(&c.since, "since", "only lines (or crashes) newer than this, e.g. 10m, 2h or 7d")
	f.StringVar(&c.release, "release", "", "only this release, e.g. v3")
	f.StringVar(&c.grep, "grep", "", "only lines containing this text, in any case")
	f.StringVar(&c.level, "level", "", "only lines of this level or worse: debug, info, warn, error")
	f.IntVar(&c.limit, "limit", node.DefaultLogLimit, "at most this many lines, the newest (not with -f)")
	f.BoolVar(&c.crashes, "crashes", false, "show each crash of the app's processes: its reason and the lines before it")
	c.out.bind(cmd)
	return cmd
}

// sinceFlag is a look-back period given as a Go duration or in days (7d).
type sinceFlag time.Duration

func (f *sinceFlag) String() string {
	if *f == 0 {
		return ""
	}
	return time.Duration(*f).String()
}

func (f *sinceFlag) Set(s string) error {
	d, err := node.ParseSince(s)
	*f = sinceFlag(d)
	return err
}

func (f *sinceFlag) Type() string { return "duration" }

// printCrashes prints the app's crashes, oldest first, each with its reason
// and the lines its process wrote last.
func (c *logsCmd) printCrashes(cmd *cobra.Command, e *env, cl *client.Client, app string, q url.Values) error {
	var crashes []node.Crash
	if err := cl.Do(cmd.Context(), http.MethodGet, "/api/apps/"+app+"/crashes?"+q.Encode(), nil, &crashes); err != nil {
		return err
	}
	if c.out.json() {
		return writeJSON(e.stdout, crashes)
	}
	if len(crashes) == 0 {
		fmt.Fprintf(e.stdout, "no crash of %s recorded\n", app)
		return nil
	}
	for i, cr := range crashes {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		fmt.Fprintf(e.stdout, "%s v%d/%d crashed: %s\n", cr.Time.Local().Format("2006-01-02 15:04:05"), cr.Release, cr.Replica, escapeTerminal(cr.Reason))
		if len(cr.Lines) == 0 {
			fmt.Fprintln(e.stdout, "  (it wrote nothing before)")
		}
		for _, l := range cr.Lines {
			printLine(e.stdout, l, "  ")
		}
	}
	return nil
}

// printLine prints a log line for a terminal, its text escaped.
func printLine(w io.Writer, l runtime.LogLine, indent string) {
	fmt.Fprintf(w, "%s%s v%d/%d %s %s\n", indent, l.Time.Local().Format("15:04:05.000"), l.Release, l.Replica, l.Stream, escapeTerminal(l.Text))
}

// escapeTerminal shows what an app wrote without letting it drive the
// terminal: control characters (ANSI escape sequences start with one),
// invalid UTF-8 and the invisible characters that reorder or hide text are
// written as Go escapes (\x1b, \u202e); everything else is left as it is.
func escapeTerminal(s string) string {
	clean := true
	for _, r := range s {
		if needsEscape(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && needsEscape(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case needsEscape(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(r rune) bool {
	return r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}
