package server

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/series"
)

// TestDeleteAppDeletesItsMetricsHistory deletes an app with a metrics history
// and sees its rows leave series.db, another app's stay, and a new app of the
// same name start with no history.
func TestDeleteAppDeletesItsMetricsHistory(t *testing.T) {
	ts := startServer(t, "")
	ts.createApp("shop")
	ts.createApp("other")
	ctx := context.Background()
	now := time.Now()
	var samples []series.Sample
	for _, app := range []string{"shop", "other"} {
		for i := range 5 {
			samples = append(samples, series.Sample{App: app, Release: 1, Metric: series.RPS, Time: now.Add(-time.Duration(i) * time.Minute), Value: 3})
		}
	}
	if err := ts.series.Add(ctx, samples); err != nil {
		t.Fatal(err)
	}

	// Read series.db itself, not through the store the server holds.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(ts.dataDir, "series.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows := func(app string) int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM buckets WHERE app = $1`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	points := func(app string) int {
		t.Helper()
		var res series.Result
		decode(t, ts.must(http.MethodGet, "/api/apps/"+app+"/series?since=1h", nil, http.StatusOK), &res)
		n := 0
		for _, s := range res.Series {
			n += len(s.Points)
		}
		return n
	}
	if rows("shop") == 0 || points("shop") == 0 || rows("other") == 0 {
		t.Fatalf("the fixture has no history: shop %d rows, %d points; other %d rows", rows("shop"), points("shop"), rows("other"))
	}
	otherRows := rows("other")

	ts.must(http.MethodDelete, "/api/apps/shop", nil, http.StatusOK)
	if n := rows("shop"); n != 0 {
		t.Errorf("series.db keeps %d rows of the deleted app", n)
	}
	if n := rows("other"); n != otherRows {
		t.Errorf("deleting shop changed other's rows: %d, want %d", n, otherRows)
	}
	if r := ts.call(http.MethodGet, "/api/apps/shop/series?since=1h", ts.token, nil); r.status != http.StatusNotFound {
		t.Errorf("series of a deleted app: %d %s, want 404", r.status, r.body)
	}
	ts.createApp("shop")
	if n := points("shop"); n != 0 {
		t.Errorf("a new app of a deleted one's name inherits %d points of its history", n)
	}
}
