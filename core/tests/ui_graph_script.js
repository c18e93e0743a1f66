// Checks of the query page's script (core/src/api/ui/graph.js) under node, run by
// core/tests/e2e_ui.rs: `node ui_graph_script.js <graph.js> <server base URL>`. The pure
// functions are checked on their own, then fed a running server's answers to the queries the
// page sends. Exits non-zero, naming the check, on the first failure.
"use strict";

const assert = require("node:assert/strict");
const ui = require(process.argv[2]);
const base = process.argv[3];

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
  assert.deepEqual(panels, [{ expr: 'up{job="a"}', tab: "table", rangeMs: 3600000, endMs: null, stepMs: null }]);
  panels = ui.parsePanels("?g0.expr=a&g0.tab=graph&g0.range_input=6h&g0.end_input=2026-12-06%2010%3A00%3A00&g0.step_input=30&g1.expr=b&g1.tab=0", "");
  assert.equal(panels.length, 2);
  assert.deepEqual(panels[0], { expr: "a", tab: "graph", rangeMs: 21600000, endMs: Date.UTC(2026, 11, 6, 10), stepMs: 30000 });
  assert.equal(panels[1].tab, "graph");
  panels = ui.parsePanels("", "#/?g0.expr=rate(x%5B5m%5D)&g0.range_input=1d&g0.tab=0");
  assert.deepEqual([panels[0].expr, panels[0].rangeMs, panels[0].tab], ["rate(x[5m])", 86400000, "graph"]);
  assert.deepEqual(ui.parsePanels("", ""), [{ expr: "", tab: "table", rangeMs: 3600000, endMs: null, stepMs: null }]);
  assert.equal(ui.parsePanels("?g0.expr=a&g0.range_input=bogus", "")[0].rangeMs, 3600000, "a bad range keeps the default");
  const round = [{ expr: 'sum by (job) (rate(x{a="b&c"}[5m]))', tab: "graph", rangeMs: 7200000, endMs: Date.UTC(2026, 0, 2, 3, 4, 5), stepMs: 15000 }];
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
  assert.equal(body.status, "success", `${path} ${JSON.stringify(form)}: ${JSON.stringify(body)}`);
  return body;
}

async function checkAgainstServer() {
  // ui_sample{i="0"…"2", note="<b>\"x\"</b>"} = j + i at 400 + 15 j seconds (j = 0…40),
  // and one sample of ui_lonely at 1000 s (written by the Rust test).
  const instant = await query("api/v1/query", { query: "ui_sample", time: "1000" });
  const rows = ui.tableRows(instant.data);
  assert.deepEqual(rows.map((r) => r[0]), [0, 1, 2].map((i) => `ui_sample{i="${i}", note="<b>\\"x\\"</b>"}`));
  assert.deepEqual(rows.map((r) => r[1]), ["40", "41", "42"]);
  const matrix = await query("api/v1/query", { query: 'ui_sample{i="1"}[1m]', time: "1000" });
  assert.deepEqual(ui.tableRows(matrix.data)[0][1].split("\n"), ["38 @955", "39 @970", "40 @985", "41 @1000"], "a range selector's samples, left-open");
  const scalar = await query("api/v1/query", { query: "1 + 2", time: "1000" });
  assert.deepEqual(ui.tableRows(scalar.data), [["scalar", "3"]]);

  const range = await query("api/v1/query_range", { query: "ui_sample or ui_lonely", start: "400", end: "1000", step: "15" });
  const { series, histogramSeries } = ui.graphSeries(range.data.result);
  assert.equal(series.length, 4);
  assert.equal(histogramSeries, 0);
  const drawn = ui.renderGraphSvg(series, 400000, 1000000, 15000, 800, 320);
  assert.equal((drawn.svg.match(/<path /g) || []).length, 3, "one line per series with neighbouring points");
  assert.equal((drawn.svg.match(/<circle /g) || []).length, 1, "the lone point is marked");
  assert.ok(!drawn.svg.includes("<b>"), "label text is escaped in the SVG");
  assert.ok(drawn.svg.includes("&lt;b&gt;\\&quot;x\\&quot;&lt;/b&gt;"), drawn.svg.slice(0, 2000));
  const hit = ui.nearestPoint(series, drawn.x, drawn.y, drawn.x(1000000), drawn.y(42), 40);
  assert.equal(hit.v, 42);
  assert.equal(hit.t, 1000000);
  const names = await query("api/v1/label/__name__/values", null);
  assert.deepEqual(names.data, ["ui_lonely", "ui_sample"]);
}

(async () => {
  checkPureFunctions();
  await checkAgainstServer();
  console.log("ui script checks passed");
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
