package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/testvalue"
)

func newTestsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tests",
		Short: "What each test costs and what it has caught, from your CI's test reports",
		Example: `  go test -json ./... | prosper tests ingest --app shop --commit $(git rev-parse HEAD)
  prosper tests report --app shop`,
	}
	cmd.AddCommand(newTestsIngestCmd(e), newTestsReportCmd(e))
	return cmd
}

// testsIngestCmd is `prosper tests ingest`: its flags are the query of
// POST /api/apps/{app}/tests.
type testsIngestCmd struct {
	app, commit, format, source string
	wall                        time.Duration
}

func newTestsIngestCmd(e *env) *cobra.Command {
	c := &testsIngestCmd{}
	cmd := &cobra.Command{
		Use:   "ingest --app APP --commit SHA [FILE|-]",
		Short: "Record a test report (go test -json output or JUnit XML) of one CI run",
		Long: `Record the results of one run of a test suite at one commit. The report is go test -json
output or a JUnit XML file (pytest --junitxml, Maven surefire, Jest's jest-junit and most CIs);
the format is detected unless --format says it. With no FILE, or with -, the report is read from
stdin. --wall is how long the CI job took, the time people waited; without it, the suite's own
elapsed time is used.`,
		Example: `  go test -json ./... | prosper tests ingest --app shop --commit $(git rev-parse HEAD) --wall 12m
  prosper tests ingest --app shop --commit 3f2a9c1 --source github-actions target/surefire-reports/TEST-com.example.CartTest.xml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if c.app == "" {
				return errors.New("which app? pass --app NAME")
			}
			if c.commit == "" {
				return errors.New("which commit did the tests run on? pass --commit SHA, e.g. --commit $(git rev-parse HEAD)")
			}
			if c.wall < 0 {
				return fmt.Errorf("--wall %s is negative: give the CI job's duration, e.g. 12m", c.wall)
			}
			var body io.Reader = e.stdin
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("open the test report: %w", err)
				}
				defer f.Close()
				body = f
			}
			q := url.Values{"commit": {c.commit}, "format": {c.format}}
			if c.wall > 0 {
				q.Set("wall", c.wall.String())
			}
			if c.source != "" {
				q.Set("source", c.source)
			}
			cl, err := e.apiClient()
			if err != nil {
				return err
			}
			resp, err := cl.Send(cmd.Context(), http.MethodPost, "/api/apps/"+url.PathEscape(c.app)+"/tests?"+q.Encode(),
				"application/octet-stream", body)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var res testvalue.IngestResult
			if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
				return fmt.Errorf("read the answer of the ingest: %w", err)
			}
			fmt.Fprintf(e.stdout, "%s at %s: %d tests, %d runs, %d failed (%s report, ingest %d)\n", res.App,
				shortSHA(res.Commit), res.Tests, res.Runs, res.Failures, res.Format, res.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.app, "app", "", "the app the tests belong to")
	f.StringVar(&c.commit, "commit", "", "the commit SHA the tests ran on")
	f.StringVar(&c.format, "format", testvalue.FormatAuto, "auto, go (go test -json) or junit")
	f.DurationVar(&c.wall, "wall", 0, "how long people waited for the suite (the CI job's duration), e.g. 12m")
	f.StringVar(&c.source, "source", "", "the CI or job the report comes from")
	return cmd
}

func newTestsReportCmd(e *env) *cobra.Command {
	var app, since string
	var out output
	cmd := &cobra.Command{
		Use:   "report [--app APP] [--since 90d]",
		Short: "Rank tests by what they cost against the bugs they caught",
		Long: `Rank tests by cost against value over a window (90 days by default): first those that caught
nothing, costliest first, then the others by waiting time per real catch. Bot journeys of mirror
production are listed beside them with the releases they stopped. See the README's "Test value"
for how each figure is computed.`,
		Example: `  prosper tests report --app shop
  prosper tests report --since 30d -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			if _, err := testvalue.ParseWindow(since); err != nil {
				return err
			}
			q := url.Values{"since": {since}}
			if app != "" {
				q.Set("app", app)
			}
			var entries []testvalue.Entry
			if err := e.get(cmd.Context(), "/api/tests/report?"+q.Encode(), &entries); err != nil {
				return err
			}
			if out.json() {
				return writeJSON(e.stdout, entries)
			}
			return printTestReport(e.stdout, entries, app == "")
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "only this app's tests (all apps when empty)")
	cmd.Flags().StringVar(&since, "since", "90d", "the window: 90d, 2w, 36h")
	out.bind(cmd)
	return cmd
}

// printTestReport writes the report as a table, one test a line, and its
// sentence under the name.
func printTestReport(w io.Writer, entries []testvalue.Entry, showApp bool) error {
	if len(entries) == 0 {
		fmt.Fprintln(w, "no test report in the window: send one with prosper tests ingest --app APP --commit SHA FILE")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "NAME\tKIND\tRUNS\tFAILED\tFLAKY\tWAITING\tCATCHES\tWAIT/CATCH"
	if showApp {
		header = "APP\t" + header
	}
	fmt.Fprintln(tw, header)
	for _, en := range entries {
		flaky := "no"
		if en.Flaky {
			flaky = fmt.Sprintf("%.0f%%", en.FlakeRate*100)
		}
		perCatch := "-"
		if en.CostPerCatchSeconds != nil {
			perCatch = durationWords(*en.CostPerCatchSeconds)
		}
		catches := strconv.Itoa(en.RealCatches)
		if en.Kind == testvalue.KindBot && en.CaughtCost > 0 {
			catches += fmt.Sprintf(" (%s %s)", strconv.FormatFloat(en.CaughtCost, 'f', -1, 64), en.CaughtCurrency)
		}
		line := fmt.Sprintf("%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s", en.Name, en.Kind, en.Runs, en.Failures, flaky,
			durationWords(en.WaitSeconds), catches, perCatch)
		if showApp {
			line = en.App + "\t" + line
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The sentences of the first tests say it in words: those are the ones to
	// look at.
	fmt.Fprintln(w)
	for i, en := range entries {
		if i == 5 {
			break
		}
		fmt.Fprintf(w, "%s: %s\n", en.Name, en.Sentence)
	}
	return nil
}

// durationWords writes seconds as a person reads a cost.
func durationWords(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Second).String()
}
