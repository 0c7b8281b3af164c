// The pages' live parts: verification status, charts, logs. Data comes from
// /ui/api/..., which the server forwards to the API with the session's token.
"use strict";

async function getJSON(path) {
  const r = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (r.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); throw new Error("signed out"); }
  const body = await r.json().catch(() => null);
  if (!r.ok) { const e = new Error((body && body.error) || r.statusText); e.status = r.status; throw e; }
  return body;
}

const dur = s => s == null || isNaN(s) ? "–" : s < 10 ? (Math.round(s * 10) / 10) + " s" : s < 90 ? s.toFixed(0) + " s" : s < 5400 ? (s / 60).toFixed(0) + " min" : s < 172800 ? (s / 3600).toFixed(1) + " h" : (s / 86400).toFixed(1) + " d";
const pct = v => v == null || isNaN(v) ? "–" : (v * 100).toFixed(v < 0.1 ? 2 : 1) + " %";
const bytes = v => v >= 1 << 30 ? (v / (1 << 30)).toFixed(1) + " GiB" : v >= 1 << 20 ? (v / (1 << 20)).toFixed(0) + " MiB" : (v / 1024).toFixed(0) + " KiB";
const fig = (label, value, note) => el("div", { class: "figure" }, el("b", {}, value), label, note ? el("div", { class: "muted" }, note) : null);

// ---- team page: DORA figures and trend ----
async function loadDORA(box) {
  const team = box.dataset.team;
  const figs = document.getElementById("dora-figures"), trend = document.getElementById("dora-trend");
  try {
    const m = await getJSON("/ui/api/dora?since=90d" + (team ? "&team=" + encodeURIComponent(team) : ""));
    figs.replaceChildren(
      fig("deploys per day", (m.deployment_frequency.per_day || 0).toFixed(2), m.deployment_frequency.bucket),
      fig("lead time (median)", dur(m.lead_time.median_seconds), m.lead_time.bucket),
      fig("change failure rate", pct(m.change_failure_rate.value), m.change_failure_rate.bucket),
      fig("time to restore (median)", dur(m.recovery_time.median_seconds), m.recovery_time.bucket),
      fig("rework rate", pct(m.rework_rate.value), m.rework_rate.bucket),
      fig("caught before production", String(m.caught_before_production || 0)));
    const t = (m.trend || []).map(p => ({ at: Date.parse(p.to) / 1000, p }));
    const line = (label, f) => [{ label, points: t.map(x => [x.at, f(x.p)]) }];
    trend.replaceChildren(
      lineChart("Deploys per period", line("deploys", p => p.deployments)),
      lineChart("Lead time, median", line("lead time", p => p.lead_time_median_seconds), dur),
      lineChart("Change failure rate", line("failure rate", p => p.change_failure_rate), pct),
      lineChart("Time to restore, median", line("restore", p => p.recovery_median_seconds), dur));
  } catch (e) {
    figs.replaceChildren(el("p", { class: "error" }, "DORA figures: " + e.message));
  }
}

// ---- app page ----
function renderVerify(body, rep) {
  const done = rep.state === "promoted" || rep.state === "rejected";
  const parts = [];
  parts.push(el("p", {}, el("span", { class: "verdict " + rep.state, id: "verify-state" }, rep.state.toUpperCase()),
    " candidate v" + rep.candidate + " against live v" + rep.live +
    " · " + (rep.mirror_percent || 0) + " % of live traffic mirrored" + (rep.decided_by ? " · decided by " + rep.decided_by : "")));
  if (!done) {
    const bar = el("div", { class: "progress" }, el("i"));
    bar.firstChild.style.width = Math.min(100, 100 * rep.elapsed_seconds / Math.max(rep.window_seconds, 1)).toFixed(0) + "%";
    parts.push(bar, el("p", { class: "muted" }, dur(rep.elapsed_seconds) + " of a " + dur(rep.window_seconds) + " window"));
  }
  const v = rep.verdict || {};
  if ((v.reasons || []).length) parts.push(el("ul", { class: "reasons", id: "verify-reasons" }, ...v.reasons.map(r => el("li", {}, r))));
  const f = rep.figures || {};
  parts.push(el("div", { class: "figures" },
    fig("requests compared", String(f.requests || 0)),
    fig("error rate live → candidate", pct(f.live_error_rate) + " → " + pct(f.candidate_error_rate)),
    fig("p95 live → candidate", ((f.live_latency_ms || {}).p95 || 0).toFixed(1) + " → " + ((f.candidate_latency_ms || {}).p95 || 0).toFixed(1) + " ms"),
    fig("restarts", String(f.restarts || 0), f.crash || null)));
  const gates = v.gates || [];
  if (gates.length) {
    parts.push(el("table", { class: "gates" }, el("thead", {}, el("tr", {}, ...["gate", "live", "candidate", "threshold", ""].map(h => el("th", {}, h)))),
      el("tbody", {}, ...gates.map(g => el("tr", {}, el("td", {}, g.name), el("td", {}, g.live || ""), el("td", {}, g.candidate || ""),
        el("td", {}, g.threshold || ""), el("td", { class: g.skipped ? "" : g.passed ? "pass" : "fail" }, g.skipped ? "skipped" : g.passed ? "pass" : "FAIL"))))));
  }
  const diffs = rep.differences || {};
  const eps = (diffs.endpoints || []).filter(e => e.differing > 0);
  if (eps.length) {
    parts.push(el("h3", {}, "Response differences (" + diffs.differing + " of " + diffs.total + ")"));
    for (const ep of eps) {
      parts.push(el("p", {}, el("code", {}, ep.endpoint), " " + ep.differing + " of " + ep.total + " differ" +
        (ep.paths || []).map(p => " · " + p.path + " (" + p.kind + ")").join("")));
      for (const ex of (ep.examples || []).slice(0, 2)) {
        parts.push(el("p", { class: "muted" }, (ex.request.method || "") + " " + (ex.request.path || "") +
          (ex.differences || []).map(d => " · " + d.path + ": " + d.live + " → " + d.candidate).join("")));
        parts.push(el("div", { class: "side" },
          el("div", {}, el("b", {}, "live v" + rep.live + " · " + ex.live.status), el("pre", {}, ex.live.body || "")),
          el("div", {}, el("b", {}, "candidate v" + rep.candidate + " · " + ex.candidate.status), el("pre", {}, ex.candidate.body || ""))));
      }
    }
  }
  const bots = f.bots || [];
  if (bots.length) {
    parts.push(el("h3", {}, "Bot journeys"));
    parts.push(el("table", {}, el("thead", {}, el("tr", {}, ...["journey", "live ok/runs", "candidate ok/runs", ""].map(h => el("th", {}, h)))),
      el("tbody", {}, ...bots.map(b => el("tr", {}, el("td", {}, b.scenario),
        el("td", {}, (b.live_runs - b.live_failures) + "/" + b.live_runs),
        el("td", {}, (b.candidate_runs - b.candidate_failures) + "/" + b.candidate_runs),
        el("td", { class: b.candidate_failures ? "error" : "" }, b.reason || ""))))));
  }
  body.replaceChildren(...parts);
}

function watchVerify(app) {
  const body = document.getElementById("verify-body");
  const tick = async () => {
    try {
      renderVerify(body, await getJSON("/ui/api/apps/" + app + "/verify"));
    } catch (e) {
      if (e.status === 404) body.replaceChildren(el("p", { class: "muted", id: "verify-none" },
        "No verification yet: every push after the first runs in mirror production beside the live release, and shows here live."));
      else if (e.message !== "signed out") body.replaceChildren(el("p", { class: "error" }, e.message));
    }
    setTimeout(tick, 1000);
  };
  tick();
}

const SERIES_CHARTS = [
  ["Requests per second", ["rps"]],
  ["Error rate", ["error_rate"], pct],
  ["Latency p95 (ms)", ["p95_ms"]],
  ["Latency p50 / p99 (ms)", ["p50_ms", "p99_ms"]],
  ["CPU %", ["cpu_pct"]],
  ["Memory", ["mem_bytes"], bytes],
  ["Restarts", ["restarts"]],
  ["Bot journeys failed", ["bots_failed"]],
];

async function loadSeries(app) {
  const box = document.getElementById("series"), since = document.getElementById("series-range").value;
  let data;
  try {
    data = await getJSON("/ui/api/apps/" + app + "/series?since=" + since);
  } catch (e) {
    data = { series: [] };
  }
  const series = data.series || [];
  box.replaceChildren(...SERIES_CHARTS.map(([title, metrics, fmt]) => lineChart(title,
    series.filter(s => metrics.includes(s.metric)).map(s => ({ label: "v" + s.release + (metrics.length > 1 ? " " + s.metric : ""), points: s.points })), fmt)));
}

function logLine(l) {
  const t = (l.time || "").slice(11, 23);
  const e = el("div", { class: "line " + (l.stream || "") }, el("time", {}, t), " v" + (l.release || "?") + " ",
    l.level ? "[" + l.level + "] " : "", l.text != null ? l.text : JSON.stringify(l));
  return e;
}

function setupLogs(app) {
  const out = document.getElementById("log-lines"), form = document.getElementById("log-form");
  const grep = document.getElementById("log-grep"), since = document.getElementById("log-since");
  const level = document.getElementById("log-level"), tail = document.getElementById("log-tail");
  let ctrl = null;
  const query = follow => "/ui/api/apps/" + app + "/logs?since=" + since.value + "&grep=" + encodeURIComponent(grep.value) +
    (level.value ? "&level=" + level.value : "") + (follow ? "&follow=1" : "");
  const run = async () => {
    if (ctrl) ctrl.abort();
    ctrl = new AbortController();
    const mine = ctrl;
    out.replaceChildren();
    out.dataset.state = "loading";
    try {
      const r = await fetch(query(tail.checked), { signal: mine.signal, credentials: "same-origin" });
      if (!r.ok) { const b = await r.json().catch(() => ({})); out.replaceChildren(el("div", { class: "error" }, b.error || r.statusText)); return; }
      const reader = r.body.getReader(), dec = new TextDecoder();
      let buf = "", n = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          const raw = buf.slice(0, i); buf = buf.slice(i + 1);
          if (!raw.trim()) continue;
          let l; try { l = JSON.parse(raw); } catch { continue; }
          if (l.error) { out.append(el("div", { class: "error" }, l.error)); continue; }
          out.append(logLine(l)); n++;
          while (out.childElementCount > 2000) out.firstChild.remove();
        }
        out.scrollTop = out.scrollHeight;
        out.dataset.state = tail.checked ? "tailing" : "loading";
      }
      if (n === 0) out.append(el("div", { class: "muted" }, "no lines match"));
      out.dataset.state = "done";
    } catch (e) {
      if (e.name !== "AbortError") out.append(el("div", { class: "error" }, e.message));
    }
  };
  form.addEventListener("submit", ev => { ev.preventDefault(); run(); });
  tail.addEventListener("change", run);
  since.addEventListener("change", run);
  level.addEventListener("change", run);
  run();
}

// loadCrashes shows why the app's processes ended lately and what they said last.
async function loadCrashes(app) {
  let crashes;
  try { crashes = await getJSON("/ui/api/apps/" + app + "/crashes?since=24h"); } catch (e) { return; }
  if (!crashes || crashes.length === 0) return;
  const box = document.getElementById("crashes"), list = document.getElementById("crash-list");
  list.replaceChildren(...crashes.slice(-5).reverse().map(c => el("div", { class: "crash" },
    el("h3", {}, (c.time || "").replace("T", " ").slice(0, 19) + " · v" + c.release + " replica " + c.replica + " · " + (c.reason || "")),
    el("pre", { class: "logs" }, ...(c.lines || []).map(logLine)))));
  box.hidden = false;
}

// ---- tests page ----
async function loadTests() {
  const chart = document.getElementById("tests-chart"), list = document.getElementById("tests-list"), bots = document.getElementById("bots-list");
  let entries;
  try { entries = await getJSON("/ui/api/tests/report?since=90d"); } catch (e) { chart.replaceChildren(el("p", { class: "error" }, e.message)); return; }
  const tests = entries.filter(e => e.kind === "test"), botEntries = entries.filter(e => e.kind === "bot");
  const top = tests.slice(0, 20);
  chart.replaceChildren(
    barChart("Cost: time people waited (s)", top.map(e => ({ label: e.name, value: e.cost_seconds || 0, color: "#c2410c" })), dur),
    barChart("Value: real failures caught", top.map(e => ({ label: e.name, value: e.real_catches || 0 }))));
  const row = e => el("tr", {}, el("td", {}, el("code", {}, e.name), el("div", { class: "muted" }, e.sentence || "")),
    el("td", {}, e.app), el("td", {}, dur(e.cost_seconds)), el("td", {}, String(e.real_catches || 0)), el("td", {}, e.flaky ? "flaky" : ""));
  const table = (rows, empty) => rows.length ? el("table", {}, el("thead", {}, el("tr", {}, ...["name", "app", "cost", "caught", ""].map(h => el("th", {}, h)))), el("tbody", {}, ...rows.map(row)))
    : el("p", { class: "muted" }, empty);
  list.replaceChildren(table(tests, "No test reports yet: send your CI's go test -json or JUnit XML to POST /api/apps/APP/tests."));
  bots.replaceChildren(table(botEntries, "No bot journeys yet: add bots/*.yaml to your app."));
}

document.addEventListener("DOMContentLoaded", () => {
  const dora = document.getElementById("dora");
  if (dora) loadDORA(dora);
  const app = document.getElementById("app");
  if (app) {
    const name = app.dataset.app;
    watchVerify(name);
    loadSeries(name);
    document.getElementById("series-range").addEventListener("change", () => loadSeries(name));
    setInterval(() => loadSeries(name), 15000);
    setupLogs(name);
    loadCrashes(name);
  }
  if (document.getElementById("tests")) loadTests();
});
