package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prosperhq/prosper/internal/store"
	"github.com/prosperhq/prosper/internal/testvalue"
)

// maxTestReportBytes bounds an uploaded test report. The report is parsed as it
// streams in, so the bound is about the time an upload may hold the handler,
// not memory. A variable so that a test can lower it.
var maxTestReportBytes int64 = 256 << 20

// handleTestIngest takes a test report (go test -json or JUnit XML) of one suite
// run at one commit. Query: commit (required), format (auto, go, junit), wall
// (how long people waited for the suite, e.g. 12m) and source (the CI's name).
// The report is read whole before anything is stored, in one transaction, so a
// bad report stores nothing.
func (s *Server) handleTestIngest(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	q := r.URL.Query()
	if _, err := s.store.GetApp(r.Context(), app); err != nil {
		writeStoreError(w, app, err)
		return
	}
	commit := q.Get("commit")
	if !testvalue.IsCommitSHA(commit) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("commit %q is not a commit SHA", commit),
			"pass the SHA the tests ran on: ?commit=$(git rev-parse HEAD)")
		return
	}
	format := q.Get("format")
	switch format {
	case "", testvalue.FormatAuto, testvalue.FormatGo, testvalue.FormatJUnit:
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("format %q is not known", format), "use auto, go or junit")
		return
	}
	var wall time.Duration
	if v := q.Get("wall"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			writeError(w, http.StatusBadRequest, "wall "+strconv.Quote(v)+" is not a duration", "write it like 12m or 1h30m")
			return
		}
		wall = d
	}
	sum, err := testvalue.Parse(http.MaxBytesReader(w, r.Body, maxTestReportBytes), format)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the test report is larger than %d MiB", maxTestReportBytes>>20),
			"split it: ingest each package's or job's report on its own")
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "read the test report: "+err.Error(),
			"send the output of go test -json or a JUnit XML file")
		return
	case len(sum.Results) == 0:
		writeError(w, http.StatusBadRequest, "the test report holds no test result",
			"send the output of go test -json or a JUnit XML file with <testcase> elements")
		return
	}
	if wall == 0 {
		wall = sum.Elapsed
	}
	runs := make([]store.TestRun, len(sum.Results))
	for i, res := range sum.Results {
		runs[i] = store.TestRun{Name: res.Name, Outcome: res.Outcome, Duration: res.Duration, Message: res.Message}
	}
	in, err := s.store.RecordTestIngest(r.Context(), store.TestIngest{App: app, Commit: commit, Format: sum.Format,
		Source: q.Get("source"), Wall: wall, RanAt: sum.RanAt}, runs)
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			writeError(w, http.StatusBadRequest, err.Error(), "")
			return
		}
		writeStoreError(w, app, err)
		return
	}
	_, _, failures := sum.Counts()
	s.log.Info("test report ingested", "app", app, "commit", commit, "format", sum.Format, "runs", len(runs), "failures", failures)
	writeJSON(w, http.StatusCreated, testvalue.IngestResult{ID: in.ID, App: app, Commit: commit, Format: sum.Format,
		Tests: in.Tests, Runs: len(runs), Failures: failures, WallNS: int64(in.Wall)})
}

// handleTestReport ranks tests (and bot journeys) by cost against value over a
// window. Query: app (all apps when empty), since (90d by default; 2w, 36h).
func (s *Server) handleTestReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	app := q.Get("app")
	window, err := testvalue.ParseWindow(q.Get("since"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), "")
		return
	}
	if app != "" {
		if _, err := s.store.GetApp(r.Context(), app); err != nil {
			writeStoreError(w, app, err)
			return
		}
	}
	since := time.Now().Add(-window)
	sel := store.TestRunQuery{App: app, Since: since}
	in := testvalue.ReportInput{Window: window}
	if in.Ingests, err = s.store.TestIngests(r.Context(), sel); err == nil {
		if in.Runs, err = s.store.TestRuns(r.Context(), sel); err == nil {
			in.Bots, err = s.store.BotTotals(r.Context(), store.BotRunQuery{App: app, Since: since})
		}
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	entries, err := testvalue.Report(r.Context(), in, testvalue.GitDiff{Repo: s.repoDir})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	writeJSON(w, http.StatusOK, entries)
}
