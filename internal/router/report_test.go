package router

import (
	"net/http"
	"testing"
	"time"
)

func TestReporterSendsDeltas(t *testing.T) {
	ok := startBackend(t, "ok", nil)
	fail := startBackend(t, "fail", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	table := oneRelease("shop", 1, addrOf(ok))
	table.Routes = append(table.Routes, oneRelease("bad", 2, addrOf(fail)).Routes...)
	rt, srv := startRouter(t, table)
	c := newClient(t)
	rep := NewReporter(rt, "r1")

	for range 3 {
		mustGet(t, c, srv.URL, "shop.localhost")
	}
	mustGet(t, c, srv.URL, "bad.localhost")
	eventually(t, "4 requests recorded", func() bool { return totalRequests(rt) == 4 })

	first := rep.Next(false, 7, time.Now())
	if first.Seq != 1 || first.Replica != "r1" || first.Boot == "" || first.TableRevision != 7 || first.Goodbye {
		t.Fatalf("first report = %+v", first)
	}
	got := deltasByApp(first)
	if d := got["shop"]; d.Requests != 3 || d.Status2xx != 3 || d.Latency == nil {
		t.Errorf("shop delta = %+v; want 3 requests, 3 2xx and a latency sketch", d)
	}
	if d := got["bad"]; d.Requests != 1 || d.Status5xx != 1 {
		t.Errorf("bad delta = %+v; want 1 request, 1 5xx", d)
	}

	mustGet(t, c, srv.URL, "shop.localhost")
	eventually(t, "5 requests recorded", func() bool { return totalRequests(rt) == 5 })
	second := rep.Next(true, 7, time.Now())
	got = deltasByApp(second)
	if second.Seq != 2 || !second.Goodbye {
		t.Errorf("second report: seq %d goodbye %v; want 2, true", second.Seq, second.Goodbye)
	}
	if d := got["shop"]; d.Requests != 1 || d.Status2xx != 1 {
		t.Errorf("shop delta = %+v; want the one new request only", d)
	}
	if _, ok := got["bad"]; ok {
		t.Errorf("bad is in a report without news: %+v", got["bad"])
	}

	// The interval latencies were taken by the reports: the sketches decode to
	// the requests they hold.
	l, err := decodeLatency(first.Releases[len(first.Releases)-1].Latency, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := l.reading().count; n != 3 {
		t.Errorf("shop's first latency sketch holds %v requests; want 3", n)
	}
}

func TestReporterInFlightAndExchanges(t *testing.T) {
	release := make(chan struct{})
	slow := startBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) { <-release })
	rt, srv := startRouter(t, oneRelease("shop", 1, addrOf(slow)))
	c := newClient(t)
	rep := NewReporter(rt, "r1")

	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = send(t, c, http.MethodGet, srv.URL, "shop.localhost", "")
	}()
	eventually(t, "a request in flight", func() bool { return rt.InFlight("shop", 1) == 1 })
	if d := deltasByApp(rep.Next(false, 1, time.Now()))["shop"]; d.InFlight != 1 || d.Requests != 0 {
		t.Errorf("delta while held = %+v; want 1 in flight, 0 requests", d)
	}
	close(release)
	<-done
	eventually(t, "the request finished", func() bool { return totalRequests(rt) == 1 })
	if d := deltasByApp(rep.Next(false, 1, time.Now()))["shop"]; d.InFlight != 0 || d.Requests != 1 {
		t.Errorf("delta after = %+v; want 0 in flight, 1 request", d)
	}

	for want := uint64(1); want <= 3; want++ {
		if e := rep.Exchange(Exchange{App: "shop"}); e.Seq != want || e.Replica != "r1" || e.Boot != rep.Boot() {
			t.Fatalf("exchange %d = %+v", want, e)
		}
	}
	if e := rep.Exchange(Exchange{App: "other"}); e.Seq != 1 {
		t.Errorf("first exchange of another app has seq %d; want 1 (sequences are per app)", e.Seq)
	}
	rep.Lost("shop")
	rep.Lost("shop")
	if n := rep.Next(false, 1, time.Now()).ExchangesLost["shop"]; n != 2 {
		t.Errorf("report counts %d lost exchanges; want 2", n)
	}
	if n := rep.Next(false, 1, time.Now()).ExchangesLost["shop"]; n != 0 {
		t.Errorf("the next report counts %d lost exchanges again; want 0", n)
	}
}

func deltasByApp(r Report) map[string]ReleaseDelta {
	out := map[string]ReleaseDelta{}
	for _, d := range r.Releases {
		out[d.App] = d
	}
	return out
}
