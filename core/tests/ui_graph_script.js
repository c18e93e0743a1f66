// Checks of the query page's script (core/src/api/ui/graph.js) under node, run by
// core/tests/e2e_ui.rs: `node ui_graph_script.js <graph.js> <server base URL> <base seconds>`. The pure
// functions are checked on their own, then fed a running server's answers to the queries the
// page sends. Exits non-zero, naming the check, on the first failure.
"use strict";

const assert = require("node:assert/strict");
const ui = require(process.argv[2]);
const base = process.argv[3];
// The written samples' first time (Unix seconds), and their last.
const t0 = Number(process.argv[4]);
const end = t0 + 600;

function checkPureFunctions() {
  assert.equal(ui.parseDuration("1h30m"), 5400000);
  assert.equal(ui.parseDuration("250ms"), 250);
  assert.equal(ui.parseDuration("2w"), 1209600000);
  assert.equal(ui.parseDuration("1x"), null);
  assert.equal(ui.parseDuration(""), null);
  assert.equal(ui.parseDuration("0s"), null);
  assert.equal(ui.formatDuration(5400000), "1h30m");
  assert.equal(ui.formatDuration(86400000 + 1500), "1d1s500ms");
  assert.equal(ui.autoStepMs(3600000), 14000, "Prometheus' medium density: range / 250 in whole seconds");
  assert.equal(ui.autoStepMs(60000), 1000, "at least a second");
  assert.equal(ui.formatUtc(0), "1970-01-01 00:00:00");
  assert.equal(ui.parseUtc("2026-12-06 10:00:00"), Date.UTC(2026, 11, 6, 10));
  assert.equal(ui.parseUtc("2026-12-06T10:00:00+01:00"), Date.UTC(2026, 11, 6, 9));
  assert.equal(ui.parseUtc("yesterday"), null);

  // The generator URL of an alert (`/graph?g0.expr=…&g0.tab=1`), Prometheus 3's words, vmui's hash.
  let panels = ui.parsePanels("?g0.expr=up%7Bjob%3D%22a%22%7D&g0.tab=1", "");
  assert.deepEqual(panels, [{ expr: 'up{job="a"}', tab: "table", rangeMs: 3600000, endMs: null, stepMs: null, stacked: false }]);
  panels = ui.parsePanels("?g0.expr=a&g0.tab=graph&g0.range_input=6h&g0.end_input=2026-12-06%2010%3A00%3A00&g0.step_input=30&g1.expr=b&g1.tab=0", "");
  assert.equal(panels.length, 2);
  assert.deepEqual(panels[0], { expr: "a", tab: "graph", rangeMs: 21600000, endMs: Date.UTC(2026, 11, 6, 10), stepMs: 30000, stacked: false });
  assert.equal(panels[1].tab, "graph");
  panels = ui.parsePanels("", "#/?g0.expr=rate(x%5B5m%5D)&g0.range_input=1d&g0.tab=0");
  assert.deepEqual([panels[0].expr, panels[0].rangeMs, panels[0].tab], ["rate(x[5m])", 86400000, "graph"]);
  assert.deepEqual(ui.parsePanels("", ""), [{ expr: "", tab: "table", rangeMs: 3600000, endMs: null, stepMs: null, stacked: false }]);
  assert.equal(ui.parsePanels("?g0.expr=a&g0.stacked=1", "")[0].stacked, true, "Prometheus 2's parameter");
  assert.equal(ui.parsePanels("?g0.expr=a&g0.display_mode=stacked", "")[0].stacked, true, "Prometheus 3's");
  assert.equal(ui.parsePanels("?g0.expr=a&g0.range_input=bogus", "")[0].rangeMs, 3600000, "a bad range keeps the default");
  const round = [{ expr: 'sum by (job) (rate(x{a="b&c"}[5m]))', tab: "graph", rangeMs: 7200000, endMs: Date.UTC(2026, 0, 2, 3, 4, 5), stepMs: 15000, stacked: true }];
  assert.deepEqual(ui.parsePanels(ui.encodePanels(round), ""), round, "encodePanels and parsePanels round-trip");

  assert.equal(ui.seriesName({ __name__: "up", job: "a", instance: "h:1" }), 'up{instance="h:1", job="a"}');
  assert.equal(ui.seriesName({ le: 'say "hi"\\' }), '{le="say \\"hi\\"\\\\"}');
  assert.equal(ui.seriesName({}), "{}");
  assert.equal(ui.seriesName({ __name__: "x" }), "x");
  assert.equal(ui.escapeXml(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  assert.equal(ui.formatNumber(1234.56789), "1234.57");
  assert.equal(ui.formatNumber(0.00001234), "1.234e-5");
  assert.equal(ui.formatNumber(NaN), "NaN");
  assert.deepEqual(ui.niceTicks(0, 10, 5), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(ui.niceTicks(0.13, 0.61, 5), [0.2, 0.3, 0.4, 0.5, 0.6]);
  assert.deepEqual(ui.niceTicks(5, 5, 5), [5]);
  const ticks = ui.timeTicks(Date.UTC(2026, 0, 1, 0, 0), Date.UTC(2026, 0, 1, 1, 0), 6);
  assert.deepEqual(ticks.map((t) => t.label), ["01-01 00:00", "00:10", "00:20", "00:30", "00:40", "00:50", "01:00"]);
}

async function query(path, form) {
  const request = form === null ? { method: "GET" } : { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form).toString() };
  const response = await fetch(base + "/" + path, request);
  const body = await response.json();
  // Prometheus' answers say "success"; VictoriaMetrics' status answers "ok" or nothing.
  assert.ok(response.ok && [undefined, "success", "ok"].includes(body.status), `${path} ${JSON.stringify(form)}: ${JSON.stringify(body)}`);
  return body;
}

async function checkAgainstServer() {
  // ui_sample{i="0"…"2", note="<b>\"x\"</b>"} = j + i at t0 + 15 j seconds (j = 0…40),
  // and one sample of ui_lonely at t0 + 600 s (written by the Rust test).
  const instant = await query("api/v1/query", { query: "ui_sample", time: String(end) });
  const rows = ui.tableRows(instant.data);
  assert.deepEqual(rows.map((r) => r[0]), [0, 1, 2].map((i) => `ui_sample{i="${i}", note="<b>\\"x\\"</b>"}`));
  assert.deepEqual(rows.map((r) => r[1]), ["40", "41", "42"]);
  const matrix = await query("api/v1/query", { query: 'ui_sample{i="1"}[1m]', time: String(end) });
  assert.deepEqual(ui.tableRows(matrix.data)[0][1].split("\n"), [`38 @${end - 45}`, `39 @${end - 30}`, `40 @${end - 15}`, `41 @${end}`], "a range selector's samples, left-open");
  const scalar = await query("api/v1/query", { query: "1 + 2", time: String(end) });
  assert.deepEqual(ui.tableRows(scalar.data), [["scalar", "3"]]);

  const range = await query("api/v1/query_range", { query: "ui_sample or ui_lonely", start: String(t0), end: String(end), step: "15" });
  const { series, histogramSeries } = ui.graphSeries(range.data.result);
  assert.equal(series.length, 4);
  assert.equal(histogramSeries, 0);
  const drawn = ui.renderGraphSvg(series, t0 * 1000, end * 1000, 15000, 800, 320);
  assert.equal((drawn.svg.match(/<path /g) || []).length, 3, "one line per series with neighbouring points");
  assert.equal((drawn.svg.match(/<circle /g) || []).length, 1, "the lone point is marked");
  assert.ok(!drawn.svg.includes("<b>"), "label text is escaped in the SVG");
  assert.ok(drawn.svg.includes("&lt;b&gt;\\&quot;x\\&quot;&lt;/b&gt;"), drawn.svg.slice(0, 2000));
  const hit = ui.nearestPoint(series, drawn.x, drawn.y, drawn.x(end * 1000), drawn.y(42), 40);
  assert.equal(hit.v, 42);
  assert.equal(hit.drawnAt, 42);
  assert.equal(hit.t, end * 1000);
  // Stacked: the three ui_sample series (0…40, 1…41, 2…42 over time) drawn as bands, the
  // top one ending at 40 + 41 + 42; a hover shows a point's own value.
  const samples = ui.graphSeries((await query("api/v1/query_range", { query: "ui_sample", start: String(t0), end: String(end), step: "15" })).data.result).series;
  const stacked = ui.stackSeries(samples);
  assert.deepEqual(stacked.map((s) => s.points[s.points.length - 1][1]), [40, 81, 123]);
  assert.deepEqual(stacked.map((s) => s.bases[s.bases.length - 1]), [0, 40, 81]);
  const stackedSvg = ui.renderGraphSvg(stacked, t0 * 1000, end * 1000, 15000, 800, 320);
  assert.equal((stackedSvg.svg.match(/data-band=/g) || []).length, 3, "one band per series");
  const top = ui.nearestPoint(stacked, stackedSvg.x, stackedSvg.y, stackedSvg.x(end * 1000), stackedSvg.y(123), 40);
  assert.deepEqual([top.v, top.drawnAt], [42, 123]);
  // The completion vocabulary's sources: function names from the features API.
  const features = await query("api/v1/features", null);
  assert.deepEqual(ui.completions("histogram_q", Object.keys(features.data.promql_functions), 5), ["histogram_quantile", "histogram_quantiles"]);
  const names = await query("api/v1/label/__name__/values", null);
  assert.deepEqual(names.data.filter((n) => n.startsWith("ui_")), ["ui_lonely", "ui_sample"]);

  // The status views, from the rules and targets the Rust test configured.
  const alerts = ui.alertsSections((await query("api/v1/rules?type=alert", null)).data);
  assert.equal(alerts.length, 1);
  assert.equal(alerts[0].title, "UiAlways (1 active)");
  assert.equal(alerts[0].subtitle, "ui_group: vector(1) for 1h");
  assert.equal(alerts[0].state, "pending");
  assert.deepEqual(alerts[0].columns, ["Labels", "State", "Active since", "Value"]);
  assert.deepEqual(alerts[0].rows.map((r) => r.slice(0, 2)), [['{alertname="UiAlways", page="<i>yes</i>"}', "pending"]]);
  assert.match(alerts[0].rows[0][2], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
  const rules = ui.rulesSections((await query("api/v1/rules", null)).data);
  assert.equal(rules.length, 1);
  assert.equal(rules[0].title, "ui_group");
  assert.match(rules[0].subtitle, /^\/.*\/rules\.yml, every 1s, last evaluated \d{4}-.* UTC in [\d.]+ (ms|s)$/);
  assert.deepEqual(rules[0].rows.map((r) => [r[0], r[1], r[2], r[5]]), [["alert: UiAlways", "vector(1)", "ok", ""], ["record: uirule:sum", "sum(ui_sample)", "ok", ""]]);
  assert.equal(rules[0].state, "ok");
  const targets = ui.targetsSections((await query("api/v1/targets?state=active", null)).data);
  assert.equal(targets.length, 1);
  assert.equal(targets[0].title, "ui_down (0/1 up)");
  assert.equal(targets[0].state, "down");
  const [endpoint, health, labels, last, , error, debug] = targets[0].rows[0];
  assert.match(endpoint, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  // The target's debugging pages name it by pool and URL, and answer when followed.
  const named = `scrapePool=ui_down&scrapeUrl=${encodeURIComponent(endpoint)}`;
  assert.deepEqual(debug.links.map(([text, path]) => [text, path]), [["response", `target_response?${named}`], ["target relabeling", `target-relabel-debug?${named}`], ["metric relabeling", `metric-relabel-debug?${named}`]]);
  const relabeling = await query(`${debug.links[1][1]}&format=json`, null);
  assert.equal(relabeling.status, "success");
  assert.match(relabeling.resultingLabels, /job=&quot;ui_down&quot;/);
  assert.equal(health, "down");
  assert.match(labels, /^\{instance="127\.0\.0\.1:\d+", job="ui_down"\}$/);
  assert.notEqual(last, "never");
  assert.ok(error.length > 0, "the scrape's error");
  const discovered = ui.serviceDiscoverySections((await query("api/v1/targets", null)).data);
  assert.equal(discovered.length, 1);
  assert.equal(discovered[0].title, "ui_down (1 active, 1 dropped)");
  assert.equal(discovered[0].subtitle, "");
  assert.match(discovered[0].rows[0][0], /__address__="127\.0\.0\.1:\d+"/);
  assert.match(discovered[0].rows[0][1], /^\{instance="127\.0\.0\.1:\d+", job="ui_down"\}$/);
  assert.match(discovered[0].rows[1][0], /__address__="dropped\.invalid:9"/);
  assert.equal(discovered[0].rows[1][1], "dropped");

  const tsdb = ui.tsdbStatusSections((await query("api/v1/status/tsdb", null)).data);
  assert.equal(tsdb[0].title, "Head");
  const headSeries = Number(tsdb[0].rows.find((r) => r[0] === "Number of series")[1]);
  assert.ok(headSeries >= 4, `${headSeries} series`);
  const byName = tsdb.find((t) => t.title === "Top series count by metric name");
  assert.deepEqual(byName.rows.find((r) => r[0] === "ui_sample"), ["ui_sample", "3"]);
  // The view passes its page's date and focus label on; the focus label's values get a table.
  const path = ui.tsdbStatusPath("?date=1970-01-01&focusLabel=i&g0.expr=up&topN=5");
  assert.equal(path, "api/v1/status/tsdb?date=1970-01-01&focusLabel=i&topN=5");
  const focused = ui.tsdbStatusSections((await query(path, null)).data);
  const values = focused.find((t) => t.title === "Top values of the focus label");
  assert.deepEqual(values.rows.map((r) => r[0]).sort(), ["0", "1", "2"]);
  assert.ok(focused.find((t) => t.title === "Top series count by label name").rows.some((r) => r[0] === "__name__"));
  const flags = ui.flagsSections((await query("api/v1/status/flags", null)).data);
  assert.deepEqual(flags[0].rows.find((r) => r[0] === "web.enable-admin-api"), ["web.enable-admin-api", "false"]);
  const flagNames = flags[0].rows.map((r) => r[0]);
  assert.deepEqual(flagNames, flagNames.slice().sort(), "sorted by name");
  const status = ui.serverStatusSections((await query("api/v1/status/buildinfo", null)).data, (await query("api/v1/status/runtimeinfo", null)).data);
  assert.deepEqual(status.map((s) => s.title), ["Build information", "Runtime information"]);
  assert.ok(status[0].rows.some((r) => r[0] === "version" && r[1] !== ""), JSON.stringify(status[0].rows));
  assert.ok(status[1].rows.some((r) => r[0] === "startTime"), JSON.stringify(status[1].rows));

  // vmui's top and active queries: this script's own queries are among the frequent ones.
  const topQueries = ui.topQueriesSections(await query("api/v1/status/top_queries", null));
  assert.deepEqual(topQueries.map((t) => t.title), ["Most frequent", "Slowest on average", "Most time in total"]);
  assert.equal(topQueries[0].subtitle, "the last 10m0s, top 20");
  assert.ok(topQueries[0].rows.some((r) => r[0] === "ui_sample" && r[1] === "0s"), JSON.stringify(topQueries[0].rows));
  assert.ok(topQueries[2].rows.every((r) => /^[\d.]+ (ms|s)$/.test(r[2])), JSON.stringify(topQueries[2].rows));
  const active = ui.activeQueriesSections((await query("api/v1/status/active_queries", null)).data);
  assert.equal(active.length, 1);
  assert.deepEqual(active[0].columns, ["Query", "Running for", "Range", "Client"]);
}

function checkCompletion() {
  assert.deepEqual(ui.wordAt("sum(rate(http_req", 17), { from: 9, prefix: "http_req" });
  assert.deepEqual(ui.wordAt("up{job=\"ap", 11), null, "inside a string");
  assert.deepEqual(ui.wordAt('up{job="a\\"b", ins', 19), { from: 16, prefix: "ins" }, "after an escaped quote the string still ends");
  assert.deepEqual(ui.wordAt("sum(x) ", 7), null);
  assert.deepEqual(ui.wordAt("rate(x[5m]) by", 2), { from: 0, prefix: "ra" }, "at the cursor, not the end");
  const words = ["rate", "irate", "rate", "histogram_quantile", "http_requests_total", "by", "process_start_time_seconds"];
  assert.deepEqual(ui.completions("rat", words, 10), ["rate", "irate"], "starting first, then containing, each once");
  assert.deepEqual(ui.completions("rate", words, 10), ["irate"], "not the word itself");
  assert.deepEqual(ui.completions("H", words, 1), ["histogram_quantile"], "case-blind, limited");
  assert.deepEqual(ui.completions("", words, 10), []);
  assert.ok(ui.PROMQL_KEYWORDS.includes("group_left"));
}

function checkViewFunctions() {
  assert.equal(ui.pageView("/graph"), "query");
  assert.equal(ui.pageView("/prometheus/alerts"), "alerts");
  assert.equal(ui.pageView("/rules/"), "rules");
  assert.equal(ui.pageView("/targets"), "targets");
  assert.equal(ui.pageView("/vmui/"), "query");
  assert.equal(ui.apiTimeText("0001-01-01T00:00:00Z"), "never");
  assert.equal(ui.apiTimeText("2026-12-06T10:00:00.123Z"), "2026-12-06 10:00:00 UTC");
  assert.equal(ui.secondsText(0.01234), "12.3 ms");
  assert.equal(ui.secondsText(2.5), "2.5 s");
  assert.equal(ui.labelsText({ b: "2", a: 'x"y' }), '{a="x\\"y", b="2"}');
  assert.deepEqual(ui.alertsSections({ groups: [] }), []);
  const gap = ui.stackSeries([{ name: "a", points: [[0, 1], [1000, NaN], [2000, 2]] }, { name: "b", points: [[0, 5], [2000, 5]] }]);
  assert.deepEqual(gap[1].points, [[0, 6], [2000, 7]], "a gap in one series adds nothing below the next");
  assert.ok(Number.isNaN(gap[0].bases[1]));
  assert.equal(ui.pageView("/service-discovery"), "service-discovery");
  assert.deepEqual(["/tsdb-status", "/flags", "/status", "/prometheus/status"].map((p) => ui.pageView(p, "")), ["tsdb-status", "flags", "status", "status"]);
  assert.deepEqual(["#/top-queries", "#/active-queries", "#/cardinality", "#/?g0.expr=up", "#/unknown", ""].map((h) => ui.pageView("/vmui/", h)), ["top-queries", "active-queries", "tsdb-status", "query", "query", "query"]);
  assert.equal(ui.pageView("/graph", "#/top-queries"), "query", "vmui's routes only under /vmui/");
  const running = ui.activeQueriesSections([{ duration: "1.500s", id: "01", remote_addr: "127.0.0.1:5", query: "sum(x)", start: 0, end: 3600000, step: 15000 }]);
  assert.deepEqual(running[0].rows, [["sum(x)", "1.500s", "1970-01-01 00:00:00 to 1970-01-01 01:00:00, step 15s", "127.0.0.1:5"]]);
  assert.equal(ui.activeQueriesSections([])[0].subtitle, "No query is running.");
  for (const [path, base] of [["/graph", "/"], ["/graph/", "/"], ["/graph/index.html", "/"], ["/vmui/", "/"], ["/prometheus/graph", "/prometheus/"], ["/proxy/m/alerts", "/proxy/m/"], ["/service-discovery", "/"], ["/query", "/"], ["/prometheus/query", "/prometheus/"]]) {
    assert.equal(ui.apiBaseOf(path), base, path);
  }
  const capped = ui.serviceDiscoverySections({ activeTargets: [], droppedTargets: [{ discoveredLabels: { __address__: "a" }, scrapePool: "p" }], droppedTargetCounts: { p: 3 } });
  assert.deepEqual([capped[0].title, capped[0].subtitle], ["p (0 active, 3 dropped)", "2 dropped targets not listed (scrape config keep_dropped_targets)"]);
  const unhealthy = ui.rulesSections({ groups: [{ name: "g", file: "f", interval: 60, lastEvaluation: "0001-01-01T00:00:00Z", evaluationTime: 0, rules: [{ type: "recording", name: "r", query: "q", health: "err", lastError: "boom", lastEvaluation: "0001-01-01T00:00:00Z", evaluationTime: 0 }] }] });
  assert.deepEqual([unhealthy[0].state, unhealthy[0].rows[0][5], unhealthy[0].subtitle], ["err", "boom", "f, every 1m, last evaluated never in 0 ms"]);
}

(async () => {
  checkPureFunctions();
  checkViewFunctions();
  checkCompletion();
  await checkAgainstServer();
  console.log("ui script checks passed");
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
