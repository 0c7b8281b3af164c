// Package dora computes the five DORA metrics of an app, a team or the whole
// platform from prosper's own event log and the commits it recorded. Nothing is
// guessed from another tool's data: prosper ran every deployment, so each fact is
// exact.
//
// A Ledger is fed the commits (AddCommits) and the events in ID order (AddEvent)
// and answers Metrics for any window. It keeps what it derived from the history
// (which commits each promotion brought live, which promotions failed) and only
// works again on the apps that changed, so a query over a year of history stays
// in the tens of milliseconds.
//
// # Definitions
//
// A window is [From, To); by default the 90 days up to now. Events are ordered by
// time; events with the same timestamp are put in causal order whatever their IDs
// say: promotions, then rollbacks, then incidents opened, then incidents
// resolved, then releases rejected (a rollback cannot precede the promotion it
// undoes, and a fix is live when its incident is marked resolved).
//
// Deployment frequency: release.promoted events in the window ÷ the window's
// length in days. Rollbacks are not deployments; imported past deployments
// (release 0) are.
//
// Lead time for changes: for each commit, from its author time to the first
// promotion whose commit reaches it through parents. The author time is used, not
// the commit time, because it survives rebase and cherry-pick: rewriting a branch
// before merging resets the commit time and would hide the days the change
// waited. A promotion brings live every commit reachable from its commit that was
// not live before for that app: the ledger walks parents and stops at commits
// already live; commits it never saw (shallow imports, unpushed parents) are
// skipped. A squash merge counts as the squash commit alone, dated by its author
// time, because the branch's commits are not its ancestors. A deployment with no
// new commit (a config change, a redeploy, a working-tree deploy) gives no
// sample. Median and p90 over the commits that went live in the window (median:
// the mean of the two middle values for an even count; p90: nearest rank).
//
// Change failure rate: promotions in the window that failed ÷ promotions in the
// window. A promotion of version v failed if later (a) a release.rolled_back has
// from == v while v is live by that promotion (undoing a rollback, a rollback of
// a rollback, fails nothing), or (b) an incident.opened names v as its release,
// or (c) an incident opened while v was live (after v's promotion, before the
// app's next promotion) was resolved by a later promotion, a fix deployment.
// Release 0 on an incident means the cause is unknown: only (c) can apply.
//
// Failed-deployment recovery time: per failed promotion, from the failure to
// service restored. For an incident linked to it by (b) or (c): opened →
// resolved. For a promotion that failed by rollback without such an incident: the
// promotion → the rollback. Median over the recoveries that ended in the window.
// An incident no deployment caused and no deployment fixed (an outage of a
// dependency resolved by hand) is not a failed deployment and has no recovery
// here.
//
// Deployment rework rate: promotions in the window that resolve an incident (an
// incident.resolved names their version as resolved_by) or that were made while
// an incident of the app was open ÷ promotions in the window.
//
// Caught before production: release.rejected events in the window, releases
// mirror production stopped before they reached users. They are counted apart and
// are not deployments.
//
// Buckets: the clusters of the DORA 2023 Accelerate State of DevOps report used
// as thresholds. Deployment frequency: elite ≥ 1 a day, high ≥ 1 a week, medium
// ≥ 1 a month (30 days), else low (no deployment is low). Lead time: elite < 1
// day, high < 1 week, medium < 1 month (30 days), else low. Change failure rate:
// elite ≤ 5%, high ≤ 10%, medium ≤ 15%, else low. Recovery time: elite < 1 hour,
// high < 1 day, medium < 1 week, else low. A metric with no data (no lead-time
// sample, no deployment for the failure rate, no recovery) has the bucket
// "none".
//
// Trend: the same figures per period, oldest first: daily for windows up to 14
// days, weekly up to 26 weeks, else monthly (calendar months from From); the last
// period ends at To.
//
// Scopes: one app, one team (the apps whose current team is the team, as set by
// SetApp), or everything. An app that was deleted keeps its events: it stays in
// the overall figures and, until SetApp(name, "") clears its team, in its team's.
package dora
