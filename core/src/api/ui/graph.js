// The query page's script (served inline in `graph.html` at /graph and /vmui/, and for the
// views of alerts, rules, targets, service discovery, TSDB status, flags and status at
// Prometheus' page paths, `STATUS_VIEWS`): expression
// panels with a table (instant query) and a graph (range query, drawn as SVG), their state in
// the URL in Prometheus' `g0.expr`/`g0.tab`/`g0.range_input`/`g0.end_input`/`g0.step_input`
// parameters (what alert generator URLs and Prometheus links carry; VictoriaMetrics' vmui puts
// the same parameters after `#/?`). The pure functions at the top are exported to node for the
// tests in core/tests/ui_graph_script.js; the DOM code below them runs only in a browser.
"use strict";

const DURATION_UNITS = { y: 31536000000, w: 604800000, d: 86400000, h: 3600000, m: 60000, s: 1000, ms: 1 };
const DEFAULT_RANGE_MS = 3600000;
const MAX_TABLE_ROWS = 10000;
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

/** A Prometheus duration ("1h30m", "5m", "250ms", "2w") in ms, or null when it is not one. */
function parseDuration(text) {
  const s = String(text).trim();
  if (s === "" || !/^(\d+(ms|y|w|d|h|m|s))+$/.test(s)) {
    return null;
  }
  let total = 0;
  for (const [, n, unit] of s.matchAll(/(\d+)(ms|y|w|d|h|m|s)/g)) {
    total += Number(n) * DURATION_UNITS[unit];
  }
  return total > 0 ? total : null;
}

/** ms as the shortest Prometheus duration ("1h30m"; "0s" for zero). */
function formatDuration(ms) {
  if (!(ms > 0)) {
    return "0s";
  }
  let rest = Math.round(ms);
  let out = "";
  for (const unit of ["y", "w", "d", "h", "m", "s", "ms"]) {
    const n = Math.floor(rest / DURATION_UNITS[unit]);
    if (n > 0) {
      out += n + unit;
      rest -= n * DURATION_UNITS[unit];
    }
  }
  return out;
}

/** Prometheus' "auto, medium density" step for a range: range/250, whole seconds, at least 1 s. */
function autoStepMs(rangeMs) {
  return Math.max(Math.floor(rangeMs / 250 / 1000) * 1000, 1000);
}

/** "YYYY-MM-DD HH:mm:ss" in UTC (the form of `g0.end_input`). */
function formatUtc(ms) {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}

/** A `g0.end_input` (UTC, "YYYY-MM-DD HH:mm:ss" or ISO 8601) in ms, or null. */
function parseUtc(text) {
  const s = String(text).trim();
  if (s === "") {
    return null;
  }
  const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s.replace(" ", "T") : s.replace(" ", "T") + "Z";
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : null;
}

function newPanel() {
  return { expr: "", tab: "table", rangeMs: DEFAULT_RANGE_MS, endMs: null, stepMs: null, stacked: false };
}

/**
 * The panels a URL asks for: `search` is its query string, `hash` its fragment (vmui's form,
 * `#/?g0.expr=…`, read when the query string names no panel). Panels are read from g0 on until
 * one has no `expr`; at least one panel is returned.
 */
function parsePanels(search, hash) {
  let params = new URLSearchParams(search || "");
  if (!params.has("g0.expr") && hash && hash.includes("?")) {
    params = new URLSearchParams(hash.slice(hash.indexOf("?") + 1));
  }
  const panels = [];
  for (let i = 0; params.has(`g${i}.expr`); i++) {
    const get = (name) => params.get(`g${i}.${name}`);
    const panel = newPanel();
    panel.expr = get("expr");
    const tab = get("tab");
    if (tab === "0" || tab === "graph") {
      panel.tab = "graph";
    } else if (tab === "1" || tab === "table") {
      panel.tab = "table";
    }
    const range = get("range_input") === null ? null : parseDuration(get("range_input"));
    if (range !== null) {
      panel.rangeMs = range;
    }
    const end = get("end_input") === null ? null : parseUtc(get("end_input"));
    if (end !== null) {
      panel.endMs = end;
    } else if (get("moment_input") !== null && parseUtc(get("moment_input")) !== null) {
      panel.endMs = parseUtc(get("moment_input"));
    }
    panel.stacked = get("display_mode") === "stacked" || get("stacked") === "1";
    const step = Number(get("step_input"));
    if (Number.isFinite(step) && step > 0) {
      panel.stepMs = Math.round(step * 1000);
    }
    panels.push(panel);
  }
  return panels.length > 0 ? panels : [newPanel()];
}

/** The query string that `parsePanels` reads back as `panels`. */
function encodePanels(panels) {
  const params = new URLSearchParams();
  panels.forEach((p, i) => {
    params.set(`g${i}.expr`, p.expr);
    params.set(`g${i}.tab`, p.tab);
    params.set(`g${i}.range_input`, formatDuration(p.rangeMs));
    if (p.endMs !== null) {
      params.set(`g${i}.end_input`, formatUtc(p.endMs));
    }
    if (p.stepMs !== null) {
      params.set(`g${i}.step_input`, String(p.stepMs / 1000));
    }
    if (p.stacked) {
      params.set(`g${i}.display_mode`, "stacked");
    }
  });
  return "?" + params.toString();
}

/** A label value quoted as PromQL writes it. */
function quoteLabelValue(value) {
  return '"' + String(value).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") + '"';
}

/** `name{a="1", b="2"}` for a result's `metric` object (`{}` when it has no labels). */
function seriesName(metric) {
  const { __name__: name = "", ...labels } = metric || {};
  if (Object.keys(labels).length === 0) {
    return name === "" ? "{}" : name;
  }
  return name + labelsText(labels);
}

/** Text for XML content and attribute values. */
function escapeXml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** A sample value as a short axis or tooltip label. */
function formatNumber(v) {
  if (!Number.isFinite(v)) {
    return String(v);
  }
  const abs = Math.abs(v);
  if (abs !== 0 && (abs >= 1e15 || abs < 1e-4)) {
    return v.toExponential(3).replace(/\.?0+e/, "e");
  }
  return String(Number(v.toPrecision(6)));
}

/** About `count` round tick values covering [min, max] (steps of 1, 2 or 5 × 10^n). */
function niceTicks(min, max, count) {
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    return [];
  }
  if (min === max) {
    return [min];
  }
  const raw = (max - min) / Math.max(count, 1);
  const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) || 10 * magnitude;
  const ticks = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) {
    ticks.push(Number(t.toPrecision(12)));
  }
  return ticks;
}

const TIME_STEPS_MS = [1, 2, 5, 10, 15, 30].map((s) => s * 1000)
  .concat([1, 2, 5, 10, 15, 30].map((m) => m * 60000))
  .concat([1, 2, 3, 6, 12].map((h) => h * 3600000))
  .concat([1, 2, 7, 14, 30, 90, 180, 365].map((d) => d * 86400000));

/** About `count` time ticks over [startMs, endMs] at round UTC steps, with their labels. */
function timeTicks(startMs, endMs, count) {
  const raw = (endMs - startMs) / Math.max(count, 1);
  const step = TIME_STEPS_MS.find((s) => s >= raw) || TIME_STEPS_MS[TIME_STEPS_MS.length - 1];
  const ticks = [];
  for (let t = Math.ceil(startMs / step) * step; t <= endMs; t += step) {
    const iso = new Date(t).toISOString();
    let label = iso.slice(11, step < 60000 ? 19 : 16);
    if (step >= 86400000) {
      label = iso.slice(0, 10);
    } else if (t % 86400000 === 0) {
      label = iso.slice(5, 10) + " " + label;
    }
    ticks.push({ t, label });
  }
  return ticks;
}

/**
 * A range query's matrix as drawable series: `[{name, color, points: [[ms, value], …]}]`,
 * values as numbers (NaN and ±Inf kept, left out of the axis range); native histograms,
 * which have no single value to draw, counted in `histogramSeries`.
 */
function graphSeries(result) {
  let histogramSeries = 0;
  const series = [];
  (result || []).forEach((s) => {
    if (!s.values) {
      histogramSeries += s.histograms ? 1 : 0;
      return;
    }
    const points = s.values.map(([t, v]) => [Math.round(t * 1000), Number(v)]);
    series.push({ name: seriesName(s.metric), color: COLORS[series.length % COLORS.length], points });
  });
  return { series, histogramSeries };
}

/** Whether points at `earlierMs` and `laterMs` are joined by a line: at most 1.5 steps apart (a missing step breaks it). */
function joins(earlierMs, laterMs, stepMs) {
  return laterMs - earlierMs <= stepMs * 1.5;
}

/**
 * `series` stacked in their order: each point drawn on top of the earlier series' points at
 * its time. Returns copies whose `points` hold those tops, with `bases` (where each point's
 * band starts) and `values` (the points' own values) beside them; a non-finite point stays a gap.
 */
function stackSeries(series) {
  const totals = new Map();
  return series.map((s) => {
    const bases = [];
    const values = [];
    const points = s.points.map(([t, v]) => {
      values.push(v);
      if (!Number.isFinite(v)) {
        bases.push(NaN);
        return [t, v];
      }
      const base = totals.get(t) || 0;
      totals.set(t, base + v);
      bases.push(base);
      return [t, base + v];
    });
    return { ...s, points, bases, values };
  });
}

/**
 * The SVG of a graph: `series` from `graphSeries` (or `stackSeries`, drawn as filled bands)
 * over [startMs, endMs] at `stepMs`, lines broken where a step has no point, in a
 * `width`×`height` box. Returns `{svg, x, y}` with the scales for hovering (`x(ms)`,
 * `y(value)` in pixels).
 */
function renderGraphSvg(series, startMs, endMs, stepMs, width, height) {
  const margin = { left: 70, right: 12, top: 10, bottom: 24 };
  const values = [];
  series.forEach((s) => s.points.forEach(([, v]) => Number.isFinite(v) && values.push(v)));
  series.forEach((s) => (s.bases || []).forEach((b) => Number.isFinite(b) && values.push(b)));
  let lo = values.length ? Math.min(...values) : 0;
  let hi = values.length ? Math.max(...values) : 1;
  if (lo === hi) {
    lo -= Math.abs(lo) * 0.1 || 1;
    hi += Math.abs(hi) * 0.1 || 1;
  }
  const yTicks = niceTicks(lo, hi, 6);
  lo = Math.min(lo, yTicks[0]);
  hi = Math.max(hi, yTicks[yTicks.length - 1]);
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const span = Math.max(endMs - startMs, 1);
  const x = (ms) => margin.left + ((ms - startMs) / span) * plotW;
  const y = (v) => margin.top + (1 - (v - lo) / (hi - lo)) * plotH;
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`];
  for (const t of yTicks) {
    const py = y(t).toFixed(1);
    out.push(`<line x1="${margin.left}" x2="${width - margin.right}" y1="${py}" y2="${py}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${margin.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle" fill="#555">${escapeXml(formatNumber(t))}</text>`);
  }
  for (const { t, label } of timeTicks(startMs, endMs, Math.max(2, Math.floor(plotW / 110)))) {
    const px = x(t).toFixed(1);
    out.push(`<line x1="${px}" x2="${px}" y1="${margin.top}" y2="${height - margin.bottom}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${px}" y="${height - 6}" text-anchor="middle" fill="#555">${escapeXml(label)}</text>`);
  }
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#ccc"/>`);
  series.forEach((s, index) => {
    if (s.bases) {
      out.push(...bandPaths(s, index, stepMs, x, y));
    }
    let d = "";
    let previous = null;
    for (const [t, v] of s.points) {
      if (!Number.isFinite(v)) {
        previous = null;
        continue;
      }
      const joined = previous !== null && joins(previous, t, stepMs);
      d += (joined ? "L" : "M") + x(t).toFixed(1) + " " + y(v).toFixed(1);
      previous = t;
    }
    if (d.includes("L")) {
      out.push(`<path data-series="${index}" d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"><title>${escapeXml(s.name)}</title></path>`);
    }
    // A point with no neighbour on either side draws no line: mark it.
    s.points.forEach(([t, v], i) => {
      const prev = s.points[i - 1];
      const next = s.points[i + 1];
      const alone = Number.isFinite(v) && !(prev && joins(prev[0], t, stepMs) && Number.isFinite(prev[1])) && !(next && joins(t, next[0], stepMs) && Number.isFinite(next[1]));
      if (alone) {
        out.push(`<circle data-series="${index}" cx="${x(t).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2" fill="${s.color}"/>`);
      }
    });
  });
  out.push("</svg>");
  return { svg: out.join(""), x, y, margin, plotW };
}

/** A stacked series' filled bands, one `<path>` per run of joined points, from its bases to its tops. */
function bandPaths(s, index, stepMs, x, y) {
  const paths = [];
  let run = [];
  const flush = () => {
    if (run.length > 1) {
      const top = run.map((i) => `${x(s.points[i][0]).toFixed(1)} ${y(s.points[i][1]).toFixed(1)}`);
      const base = run.slice().reverse().map((i) => `${x(s.points[i][0]).toFixed(1)} ${y(s.bases[i]).toFixed(1)}`);
      paths.push(`<path data-band="${index}" d="M${top.join("L")}L${base.join("L")}Z" fill="${s.color}" fill-opacity="0.35" stroke="none"/>`);
    }
    run = [];
  };
  s.points.forEach(([t, v], i) => {
    const previous = run.length ? s.points[run[run.length - 1]][0] : null;
    if (!Number.isFinite(v) || (previous !== null && !joins(previous, t, stepMs))) {
      flush();
    }
    if (Number.isFinite(v)) {
      run.push(i);
    }
  });
  flush();
  return paths;
}

/**
 * The point of the series nearest to pixel (px, py) within `maxDx` pixels in time, with its
 * own value (`v`; a stacked point is drawn at its top, `y`'s argument, but shows its value).
 */
function nearestPoint(series, x, y, px, py, maxDx) {
  let best = null;
  series.forEach((s) => {
    s.points.forEach(([t, drawnAt], i) => {
      if (!Number.isFinite(drawnAt)) {
        return;
      }
      const dx = Math.abs(x(t) - px);
      if (dx > maxDx) {
        return;
      }
      const distance = dx + Math.abs(y(drawnAt) - py);
      if (best === null || distance < best.distance) {
        best = { series: s, t, v: s.values ? s.values[i] : drawnAt, drawnAt, distance };
      }
    });
  });
  return best;
}

/** PromQL's keywords that are not functions or aggregations (completed as typed). */
const PROMQL_KEYWORDS = ["by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "start", "end", "step", "range", "anchored", "smoothed"];

/**
 * The identifier being typed just before `cursor` in `text`: `{from, prefix}`, or null when
 * there is none or the cursor is inside a quoted string.
 */
function wordAt(text, cursor) {
  const before = String(text).slice(0, cursor);
  let quote = null;
  for (let i = 0; i < before.length; i++) {
    const c = before[i];
    if (quote !== null) {
      if (c === "\\") {
        i++;
      } else if (c === quote) {
        quote = null;
      }
    } else if (c === '"' || c === "'" || c === "`") {
      quote = c;
    }
  }
  if (quote !== null) {
    return null;
  }
  const match = /[a-zA-Z_:][a-zA-Z0-9_:]*$/.exec(before);
  return match ? { from: cursor - match[0].length, prefix: match[0] } : null;
}

/** Up to `limit` of `words` completing `prefix`: those starting with it first, then those containing it, each sorted; not `prefix` itself. */
function completions(prefix, words, limit) {
  if (!prefix) {
    return [];
  }
  const lower = prefix.toLowerCase();
  const starting = [];
  const containing = [];
  for (const word of new Set(words)) {
    const w = word.toLowerCase();
    if (word === prefix) {
      continue;
    }
    if (w.startsWith(lower)) {
      starting.push(word);
    } else if (w.includes(lower)) {
      containing.push(word);
    }
  }
  return starting.sort().concat(containing.sort()).slice(0, limit);
}

/** The table rows of an instant query's answer: `[[name, value text], …]`. */
function tableRows(data) {
  const histogramText = (h) => `count: ${h.count}, sum: ${h.sum}, ${(h.buckets || []).length} buckets`;
  switch (data.resultType) {
    case "vector":
      return data.result.map((s) => [seriesName(s.metric), s.value ? s.value[1] : histogramText(s.histogram[1])]);
    case "matrix":
      return data.result.map((s) => {
        const floats = (s.values || []).map(([t, v]) => `${v} @${t}`);
        const histograms = (s.histograms || []).map(([t, h]) => `${histogramText(h)} @${t}`);
        return [seriesName(s.metric), floats.concat(histograms).join("\n")];
      });
    case "scalar":
      return [["scalar", data.result[1]]];
    case "string":
      return [["string", data.result[1]]];
    default:
      return [];
  }
}

/** The views besides the query page, by their path's last segment (Prometheus' page paths). */
const STATUS_VIEWS = ["alerts", "rules", "targets", "service-discovery", "tsdb-status", "flags", "status"];

/** vmui's routes (after `#/` on /vmui/) and the views that show them. */
const VMUI_ROUTES = { cardinality: "tsdb-status", "top-queries": "top-queries", "active-queries": "active-queries" };

/**
 * Which view a page shows: its path's last segment when that is one of `STATUS_VIEWS`; under
 * /vmui/ the view of vmui's route in `hash` (`#/top-queries`, `#/cardinality`, …); else the
 * query page.
 */
function pageView(pathname, hash) {
  const last = String(pathname).replace(/\/+$/, "").split("/").pop();
  if (STATUS_VIEWS.includes(last)) {
    return last;
  }
  const route = /^#\/([a-z-]+)/.exec(hash || "");
  return last === "vmui" && route && VMUI_ROUTES[route[1]] ? VMUI_ROUTES[route[1]] : "query";
}

/** The API's base path for a page at `pathname`: everything before its page part. */
function apiBaseOf(pathname) {
  return String(pathname).replace(/(graph|query|vmui|alerts|rules|targets|service-discovery|tsdb-status|flags|status)(\/.*)?$/, "");
}

/** `{a="1", b="2"}` for a label object (sorted; `__name__` as any other label). */
function labelsText(labels) {
  const names = Object.keys(labels || {}).sort();
  return "{" + names.map((k) => k + "=" + quoteLabelValue(labels[k])).join(", ") + "}";
}

/** An API time (RFC 3339) as "YYYY-MM-DD HH:mm:ss UTC"; "never" for Go's zero time. */
function apiTimeText(text) {
  const ms = Date.parse(text);
  if (!Number.isFinite(ms) || ms <= -62135596800000) {
    return "never";
  }
  return formatUtc(ms) + " UTC";
}

/** Seconds as "12.3 ms" or "1.2 s". */
function secondsText(seconds) {
  const s = Number(seconds);
  return !Number.isFinite(s) ? "" : s < 1 ? `${Number((s * 1000).toPrecision(3))} ms` : `${Number(s.toPrecision(3))} s`;
}

/**
 * The sections of a status view: `{title, subtitle, columns, rows, state}` each, from the
 * answer of the API the view reads (`/api/v1/rules?type=alert`, `/api/v1/rules`,
 * `/api/v1/targets`). `state` (firing, pending, inactive, up, down, ok, err) colours a title.
 */
function alertsSections(data) {
  const sections = [];
  for (const group of data.groups || []) {
    for (const rule of group.rules || []) {
      if (rule.type !== "alerting") {
        continue;
      }
      const alerts = rule.alerts || [];
      const title = `${rule.name} (${alerts.length} active)`;
      const subtitle = `${group.name}: ${rule.query}${rule.duration ? ` for ${formatDuration(rule.duration * 1000)}` : ""}`;
      const rows = alerts.map((a) => [labelsText(a.labels), a.state, apiTimeText(a.activeAt), String(a.value)]);
      sections.push({ title, subtitle, columns: ["Labels", "State", "Active since", "Value"], rows, state: rule.state });
    }
  }
  return sections;
}

function rulesSections(data) {
  return (data.groups || []).map((group) => ({
    title: group.name,
    subtitle: `${group.file}, every ${formatDuration(group.interval * 1000)}, last evaluated ${apiTimeText(group.lastEvaluation)} in ${secondsText(group.evaluationTime)}`,
    columns: ["Rule", "Query", "Health", "Last evaluation", "Took", "Error"],
    rows: (group.rules || []).map((r) => [(r.type === "alerting" ? "alert: " : "record: ") + r.name, r.query, r.health, apiTimeText(r.lastEvaluation), secondsText(r.evaluationTime), r.lastError || ""]),
    state: (group.rules || []).some((r) => r.health === "err") ? "err" : "ok",
  }));
}

function targetsSections(data) {
  const pools = new Map();
  for (const t of data.activeTargets || []) {
    if (!pools.has(t.scrapePool)) {
      pools.set(t.scrapePool, []);
    }
    pools.get(t.scrapePool).push(t);
  }
  return [...pools.keys()].sort().map((pool) => {
    const targets = pools.get(pool).slice().sort((a, b) => (a.scrapeUrl < b.scrapeUrl ? -1 : a.scrapeUrl > b.scrapeUrl ? 1 : 0));
    const up = targets.filter((t) => t.health === "up").length;
    return {
      title: `${pool} (${up}/${targets.length} up)`,
      subtitle: "",
      columns: ["Endpoint", "State", "Labels", "Last scrape", "Took", "Error", "Debug"],
      rows: targets.map((t) => [t.scrapeUrl, t.health, labelsText(t.labels), apiTimeText(t.lastScrape), secondsText(t.lastScrapeDuration), t.lastError || "", targetLinks(pool, t.scrapeUrl)]),
      state: up === targets.length ? "up" : "down",
    };
  });
}

/**
 * A target's debugging pages, relative to the API's base (a cell of `{links}`): its answer
 * now (`target_response`) and its relabeling, rule by rule.
 */
function targetLinks(pool, url) {
  const named = `scrapePool=${encodeURIComponent(pool)}&scrapeUrl=${encodeURIComponent(url)}`;
  return { links: [["response", `target_response?${named}`], ["target relabeling", `target-relabel-debug?${named}`], ["metric relabeling", `metric-relabel-debug?${named}`]] };
}

/** Per scrape pool, each discovered target's labels before relabeling and after (or "dropped"). */
function serviceDiscoverySections(data) {
  const pools = new Map();
  const pool = (name) => pools.get(name) || pools.set(name, { active: [], dropped: [] }).get(name);
  (data.activeTargets || []).forEach((t) => pool(t.scrapePool).active.push(t));
  (data.droppedTargets || []).forEach((t) => pool(t.scrapePool).dropped.push(t));
  return [...pools.keys()].sort().map((name) => {
    const { active, dropped } = pools.get(name);
    const rows = active.map((t) => [labelsText(t.discoveredLabels), labelsText(t.labels)]).concat(dropped.map((t) => [labelsText(t.discoveredLabels), "dropped"]));
    const counts = data.droppedTargetCounts && data.droppedTargetCounts[name] !== undefined ? data.droppedTargetCounts[name] : dropped.length;
    return {
      title: `${name} (${active.length} active, ${counts} dropped)`,
      subtitle: counts > dropped.length ? `${counts - dropped.length} dropped targets not listed (scrape config keep_dropped_targets)` : "",
      columns: ["Discovered labels", "Target labels"],
      rows,
      state: "ok",
    };
  });
}

/** A table of names and values: `[[name, value], …]` rows from `{name, value}` entries. */
function topSection(title, entries, columns) {
  return { title, subtitle: "", columns, rows: (entries || []).map((e) => [e.name, String(e.value)]), state: "ok" };
}

/**
 * The TSDB status API path for the view's page URL query (`search`): its `date`,
 * `focusLabel`, `topN`, `limit` and `match[]` passed on (`/tsdb-status?date=2024-05-01&focusLabel=job`).
 */
function tsdbStatusPath(search) {
  const given = new URLSearchParams(search || "");
  const kept = new URLSearchParams();
  for (const [name, value] of given) {
    if (["date", "focusLabel", "topN", "limit", "match[]"].includes(name)) {
      kept.append(name, value);
    }
  }
  const query = kept.toString();
  return "api/v1/status/tsdb" + (query ? "?" + query : "");
}

/** `/api/v1/status/tsdb`'s head statistics and its top lists, as Prometheus' TSDB status page shows them. */
function tsdbStatusSections(data) {
  const head = data.headStats || {};
  const headRows = [["Number of series", head.numSeries], ["Number of label pairs", head.numLabelPairs], ["Number of chunks", head.chunkCount], ["Earliest sample", head.minTime], ["Latest sample", head.maxTime]]
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => [k, (k.endsWith("sample") && Number.isFinite(Number(v)) ? formatUtc(Number(v)) + " UTC" : String(v))]);
  return [
    { title: "Head", subtitle: "", columns: ["Statistic", "Value"], rows: headRows, state: "ok" },
    topSection("Top series count by metric name", data.seriesCountByMetricName, ["Metric name", "Series"]),
    topSection("Top label names with value count", data.labelValueCountByLabelName, ["Label name", "Values"]),
    topSection("Top label names by memory used", data.memoryInBytesByLabelName, ["Label name", "Bytes"]),
    topSection("Top series count by label value pair", data.seriesCountByLabelValuePair, ["Label pair", "Series"]),
    topSection("Series by shard", data.seriesCountByShard, ["Shard", "Series"]),
    topSection("Top series count by label name", data.seriesCountByLabelName, ["Label name", "Series"]),
    topSection("Top values of the focus label", data.seriesCountByFocusLabelValue, ["Value", "Series"]),
  ].filter((section) => section.rows.length > 0);
}

/** The flags (`/api/v1/status/flags`), sorted by name. */
function flagsSections(data) {
  return [{ title: "", subtitle: "", columns: ["Flag", "Value"], rows: Object.keys(data || {}).sort().map((k) => [k, String(data[k])]), state: "ok" }];
}

/** The build (`/api/v1/status/buildinfo`) and runtime (`/api/v1/status/runtimeinfo`) information. */
function serverStatusSections(build, runtime) {
  const rows = (object) => Object.keys(object || {}).map((k) => [k, typeof object[k] === "object" ? JSON.stringify(object[k]) : String(object[k])]);
  return [
    { title: "Build information", subtitle: "", columns: ["", ""], rows: rows(build), state: "ok" },
    { title: "Runtime information", subtitle: "", columns: ["", ""], rows: rows(runtime), state: "ok" },
  ];
}

/** VictoriaMetrics' top queries (`/api/v1/status/top_queries`): by count, average and total time. */
function topQueriesSections(data) {
  const range = (q) => formatDuration(q.timeRangeSeconds * 1000);
  const subtitle = `the last ${data.maxLifetime}, top ${data.topN}`;
  return [
    { title: "Most frequent", subtitle, columns: ["Query", "Range", "Count"], rows: (data.topByCount || []).map((q) => [q.query, range(q), String(q.count)]), state: "ok" },
    { title: "Slowest on average", subtitle, columns: ["Query", "Range", "Average", "Count"], rows: (data.topByAvgDuration || []).map((q) => [q.query, range(q), secondsText(q.avgDurationSeconds), String(q.count)]), state: "ok" },
    { title: "Most time in total", subtitle, columns: ["Query", "Range", "Total", "Count"], rows: (data.topBySumDuration || []).map((q) => [q.query, range(q), secondsText(q.sumDurationSeconds), String(q.count)]), state: "ok" },
  ];
}

/** The queries running now (`/api/v1/status/active_queries`), oldest first. */
function activeQueriesSections(running) {
  const rows = (running || []).map((q) => [q.query, q.duration, `${formatUtc(q.start)} to ${formatUtc(q.end)}, step ${formatDuration(q.step)}`, q.remote_addr]);
  return [{ title: "", subtitle: rows.length ? "" : "No query is running.", columns: ["Query", "Running for", "Range", "Client"], rows, state: "ok" }];
}

if (typeof module !== "undefined") {
  module.exports = {
    parseDuration, formatDuration, autoStepMs, formatUtc, parseUtc, parsePanels, encodePanels, seriesName,
    escapeXml, formatNumber, niceTicks, timeTicks, graphSeries, stackSeries, renderGraphSvg, nearestPoint, tableRows,
    pageView, apiBaseOf, labelsText, apiTimeText, secondsText, alertsSections, rulesSections, targetsSections, targetLinks, serviceDiscoverySections, tsdbStatusPath,
    tsdbStatusSections, flagsSections, serverStatusSections, topQueriesSections, activeQueriesSections, STATUS_VIEWS,
    wordAt, completions, PROMQL_KEYWORDS,
  };
}

// ---- The page (browser only) ----

/** Where the API is: the page's own path without its page part (`/graph`, `/graph/…`, `/vmui/`, `/alerts`, …). */
function apiBase() {
  return apiBaseOf(window.location.pathname);
}

/** POSTs `form` to the API's `path` (a GET when `form` is null: label values answer only GETs). */
async function callApi(path, form) {
  const request = form === null ? { method: "GET" } : {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form).toString(),
  };
  const response = await fetch(apiBase() + path, request);
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new Error(`${response.status} ${response.statusText}: ${text.slice(0, 500)}`);
  }
  // Prometheus' answers say "success"; VictoriaMetrics' status answers say "ok" or nothing.
  if (!response.ok || body.status === "error") {
    throw new Error(`${body.errorType || response.status}: ${body.error || text.slice(0, 500)}`);
  }
  return body;
}

function element(tag, attributes, ...children) {
  const node = document.createElement(tag);
  Object.entries(attributes || {}).forEach(([k, v]) => (k === "class" ? (node.className = v) : node.setAttribute(k, v)));
  children.forEach((c) => node.append(c));
  return node;
}

/** A status table cell's nodes: its text, or for `{links}` a link per `[text, path]` (paths relative to the API's base). */
function cellContent(cell) {
  if (cell && typeof cell === "object" && Array.isArray(cell.links)) {
    return cell.links.flatMap(([text, path], i) => (i > 0 ? [" · "] : []).concat([element("a", { href: apiBase() + path }, text)]));
  }
  return [cell];
}

const state = { panels: [] };

function saveUrl() {
  window.history.replaceState({}, "", window.location.pathname + encodePanels(state.panels.map((p) => p.model)));
}

function showMessages(panel, body) {
  for (const kind of ["warnings", "infos"]) {
    for (const text of body[kind] || []) {
      panel.messages.append(element("div", { class: kind === "warnings" ? "warning" : "info" }, text));
    }
  }
}

/** `runTable`/`runGraph` of `ticket` (the panel's run count when it started): an answer that
 * comes after a later run started is not shown. */
async function runTable(panel, ticket) {
  const form = { query: panel.model.expr };
  if (panel.model.endMs !== null) {
    form.time = String(panel.model.endMs / 1000);
  }
  const started = performance.now();
  const body = await callApi("api/v1/query", form);
  if (ticket !== panel.runs) {
    return;
  }
  const rows = tableRows(body.data);
  const table = element("table", { class: "result" });
  if (rows.length === 0) {
    table.append(element("tr", {}, element("td", { class: "empty" }, "Empty query result")));
  }
  rows.slice(0, MAX_TABLE_ROWS).forEach(([name, value]) => table.append(element("tr", {}, element("td", { class: "series" }, name), element("td", { class: "value" }, value))));
  const shown = Math.min(rows.length, MAX_TABLE_ROWS);
  panel.output.replaceChildren(table);
  panel.stats.textContent = `${rows.length} result${rows.length === 1 ? "" : "s"}${shown < rows.length ? `, first ${shown} shown` : ""}, ${Math.round(performance.now() - started)} ms`;
  showMessages(panel, body);
}

async function runGraph(panel, ticket) {
  const endMs = panel.model.endMs !== null ? panel.model.endMs : Date.now();
  const startMs = endMs - panel.model.rangeMs;
  const stepMs = panel.model.stepMs !== null ? panel.model.stepMs : autoStepMs(panel.model.rangeMs);
  const started = performance.now();
  const body = await callApi("api/v1/query_range", { query: panel.model.expr, start: String(startMs / 1000), end: String(endMs / 1000), step: String(stepMs / 1000) });
  if (ticket !== panel.runs) {
    return;
  }
  const { series, histogramSeries } = graphSeries(body.data.result);
  panel.graph = { series, startMs, endMs, stepMs, hidden: new Set() };
  drawGraph(panel);
  panel.stats.textContent = `${series.length} series, step ${formatDuration(stepMs)}, ${Math.round(performance.now() - started)} ms`;
  if (histogramSeries > 0) {
    panel.messages.append(element("div", { class: "info" }, `${histogramSeries} native histogram series are not drawn (see the table)`));
  }
  showMessages(panel, body);
}

function drawGraph(panel) {
  const { series, startMs, endMs, stepMs, hidden } = panel.graph;
  const visible = series.filter((s) => !hidden.has(s.name));
  const shown = panel.model.stacked ? stackSeries(visible) : visible;
  const width = Math.max(panel.output.clientWidth || 800, 300);
  const drawn = renderGraphSvg(shown, startMs, endMs, stepMs, width, 320);
  const box = element("div", { class: "graph" });
  box.innerHTML = drawn.svg; // built by renderGraphSvg, every text escaped
  const tooltip = element("div", { class: "tooltip" });
  box.append(tooltip);
  const svg = box.querySelector("svg");
  svg.addEventListener("mousemove", (event) => {
    const bounds = svg.getBoundingClientRect();
    const hit = nearestPoint(shown, drawn.x, drawn.y, event.clientX - bounds.left, event.clientY - bounds.top, 40);
    if (hit === null) {
      tooltip.style.display = "none";
      return;
    }
    tooltip.replaceChildren(element("div", {}, formatUtc(hit.t)), element("div", { class: "series" }, hit.series.name), element("div", {}, "value: " + formatNumber(hit.v)));
    tooltip.style.display = "block";
    tooltip.style.left = `${Math.min(drawn.x(hit.t) + 12, width - 260)}px`;
    tooltip.style.top = `${drawn.y(hit.drawnAt) + 12}px`;
  });
  svg.addEventListener("mouseleave", () => (tooltip.style.display = "none"));
  const legend = element("div", { class: "legend" });
  series.forEach((s) => {
    const item = element("div", { class: "legend-item" + (hidden.has(s.name) ? " hidden" : "") }, element("span", { class: "swatch", style: `background:${s.color}` }), s.name);
    item.title = "Click: show only this series (again: all). Ctrl-click: hide or show it.";
    item.addEventListener("click", (event) => {
      if (event.ctrlKey || event.metaKey) {
        hidden.has(s.name) ? hidden.delete(s.name) : hidden.add(s.name);
      } else if (hidden.size === series.length - 1 && !hidden.has(s.name)) {
        hidden.clear();
      } else {
        hidden.clear();
        series.forEach((o) => o.name !== s.name && hidden.add(o.name));
      }
      drawGraph(panel);
    });
    legend.append(item);
  });
  panel.output.replaceChildren(box, legend);
}

async function execute(panel) {
  panel.runs = (panel.runs || 0) + 1;
  const ticket = panel.runs;
  panel.model.expr = panel.input.value;
  const range = parseDuration(panel.range.value);
  const end = panel.end.value.trim() === "" ? null : parseUtc(panel.end.value);
  const step = panel.step.value.trim() === "" ? null : Number(panel.step.value);
  panel.messages.replaceChildren();
  const problems = [];
  if (range === null) {
    problems.push(`range ${JSON.stringify(panel.range.value)} is not a duration (e.g. 1h, 30m, 2d)`);
  }
  if (panel.end.value.trim() !== "" && end === null) {
    problems.push(`end ${JSON.stringify(panel.end.value)} is not a UTC time (YYYY-MM-DD HH:mm:ss)`);
  }
  if (step !== null && !(step > 0)) {
    problems.push(`step ${JSON.stringify(panel.step.value)} is not a positive number of seconds`);
  }
  if (problems.length > 0) {
    problems.forEach((p) => panel.messages.append(element("div", { class: "error" }, p)));
    return;
  }
  panel.model.rangeMs = range;
  panel.model.endMs = end;
  panel.model.stepMs = step === null ? null : Math.round(step * 1000);
  saveUrl();
  if (panel.model.expr.trim() === "") {
    panel.output.replaceChildren();
    panel.stats.textContent = "";
    return;
  }
  panel.stats.textContent = "Loading…";
  try {
    await (panel.model.tab === "graph" ? runGraph(panel, ticket) : runTable(panel, ticket));
  } catch (error) {
    if (ticket !== panel.runs) {
      return;
    }
    panel.stats.textContent = "";
    panel.output.replaceChildren();
    panel.messages.append(element("div", { class: "error" }, String(error.message || error)));
  }
}

/** What the expression box completes: functions and operators (`/api/v1/features`), keywords, metric and label names; loaded once. */
let vocabulary = null;
function loadVocabulary() {
  if (vocabulary === null) {
    vocabulary = Promise.all([
      callApi("api/v1/features", null).then((b) => Object.keys((b.data && b.data.promql_functions) || {}).concat(Object.keys((b.data && b.data.promql_operators) || {}).filter((o) => /^[a-z_]+$/.test(o)))).catch(() => []),
      callApi("api/v1/label/__name__/values", null).then((b) => b.data || []).catch(() => []),
      callApi("api/v1/labels", null).then((b) => (b.data || []).filter((n) => n !== "__name__")).catch(() => []),
    ]).then((lists) => PROMQL_KEYWORDS.concat(...lists));
  }
  return vocabulary;
}

/** The completion list under a panel's expression box (see `wordAt`, `completions`). */
function attachCompletion(panel, box) {
  const list = element("div", { class: "completions", hidden: "" });
  box.append(list);
  let items = [];
  let selected = 0;
  let word = null;
  const close = () => {
    list.hidden = true;
    items = [];
  };
  const accept = (choice) => {
    const text = panel.input.value;
    panel.input.value = text.slice(0, word.from) + choice + text.slice(word.from + word.prefix.length);
    const at = word.from + choice.length;
    panel.input.setSelectionRange(at, at);
    close();
    panel.input.focus();
  };
  const show = () => {
    list.replaceChildren(...items.map((item, i) => {
      const row = element("div", { class: "completion" + (i === selected ? " selected" : "") }, item);
      row.addEventListener("mousedown", (event) => {
        event.preventDefault();
        accept(item);
      });
      return row;
    }));
    list.hidden = items.length === 0;
  };
  panel.input.addEventListener("focus", () => loadVocabulary());
  panel.input.addEventListener("input", async () => {
    word = wordAt(panel.input.value, panel.input.selectionStart);
    const words = await loadVocabulary();
    items = word ? completions(word.prefix, words, 12) : [];
    selected = 0;
    show();
  });
  panel.input.addEventListener("blur", close);
  // Runs before the box's own Enter handler: with the list open, Enter and Tab accept.
  panel.input.addEventListener("keydown", (event) => {
    if (list.hidden || items.length === 0) {
      return;
    }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      selected = (selected + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      show();
    } else if (event.key === "Enter" || event.key === "Tab") {
      accept(items[selected]);
    } else if (event.key === "Escape") {
      close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
  });
}

async function loadMetricNames(select) {
  if (select.dataset.loaded) {
    return;
  }
  select.dataset.loaded = "1";
  try {
    const body = await callApi("api/v1/label/__name__/values", null);
    body.data.forEach((name) => select.append(element("option", { value: name }, name)));
  } catch (error) {
    select.append(element("option", { value: "" }, "cannot list metric names: " + (error.message || error)));
  }
}

function addPanel(model) {
  const panel = { model };
  panel.input = element("textarea", { class: "expr", rows: "2", placeholder: "Expression (Shift+Enter for new line)", spellcheck: "false" });
  panel.input.value = model.expr;
  const inputBox = element("div", { class: "expr-box" }, panel.input);
  attachCompletion(panel, inputBox);
  panel.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      execute(panel);
    }
  });
  const run = element("button", { class: "primary" }, "Execute");
  run.addEventListener("click", () => execute(panel));
  const metrics = element("select", { class: "metrics" }, element("option", { value: "" }, "Insert metric…"));
  metrics.addEventListener("focus", () => loadMetricNames(metrics));
  metrics.addEventListener("change", () => {
    const at = panel.input.selectionStart;
    panel.input.value = panel.input.value.slice(0, at) + metrics.value + panel.input.value.slice(panel.input.selectionEnd);
    metrics.value = "";
    panel.input.focus();
  });
  const tabs = element("div", { class: "tabs" });
  for (const [tab, label] of [["table", "Table"], ["graph", "Graph"]]) {
    const button = element("button", { class: "tab" + (model.tab === tab ? " active" : "") }, label);
    button.addEventListener("click", () => {
      model.tab = tab;
      tabs.querySelectorAll(".tab").forEach((b) => b.classList.toggle("active", b === button));
      execute(panel);
    });
    tabs.append(button);
  }
  panel.range = element("input", { class: "short", title: "Graph range (a Prometheus duration)", value: formatDuration(model.rangeMs) });
  panel.end = element("input", { class: "time", title: "Evaluation time / graph end, UTC (empty: now)", placeholder: "now (UTC YYYY-MM-DD HH:mm:ss)", value: model.endMs === null ? "" : formatUtc(model.endMs) });
  panel.step = element("input", { class: "short", title: "Graph step in seconds (empty: range / 250)", placeholder: "auto", value: model.stepMs === null ? "" : String(model.stepMs / 1000) });
  const stacked = element("input", { type: "checkbox", title: "Stack the graph's series" });
  stacked.checked = model.stacked;
  stacked.addEventListener("change", () => {
    model.stacked = stacked.checked;
    saveUrl();
    if (panel.graph) {
      drawGraph(panel);
    }
  });
  const remove = element("button", { class: "remove", title: "Remove this panel" }, "×");
  remove.addEventListener("click", () => {
    state.panels = state.panels.filter((p) => p !== panel);
    panel.root.remove();
    saveUrl();
  });
  panel.messages = element("div", { class: "messages" });
  panel.stats = element("span", { class: "stats" });
  panel.output = element("div", { class: "output" });
  const controls = element("div", { class: "controls" }, tabs, element("label", {}, "range ", panel.range), element("label", {}, "end ", panel.end), element("label", {}, "step ", panel.step), element("label", {}, stacked, " stacked"), panel.stats);
  panel.root = element("section", { class: "panel" }, element("div", { class: "row" }, inputBox, run, metrics, remove), controls, panel.messages, panel.output);
  document.getElementById("panels").append(panel.root);
  state.panels.push(panel);
  return panel;
}

/** A status view (alerts, rules, targets): its API's answer as titled tables. */
async function showStatusView(view) {
  const [paths, sections, heading] = {
    alerts: [["api/v1/rules?type=alert"], alertsSections, "Alerts"],
    rules: [["api/v1/rules"], rulesSections, "Rules"],
    targets: [["api/v1/targets?state=active"], targetsSections, "Targets"],
    "service-discovery": [["api/v1/targets"], serviceDiscoverySections, "Service discovery"],
    "tsdb-status": [[tsdbStatusPath(window.location.search)], tsdbStatusSections, "TSDB status"],
    flags: [["api/v1/status/flags"], flagsSections, "Flags"],
    status: [["api/v1/status/buildinfo", "api/v1/status/runtimeinfo"], serverStatusSections, "Status"],
    "top-queries": [["api/v1/status/top_queries"], topQueriesSections, "Top queries"],
    "active-queries": [["api/v1/status/active_queries"], activeQueriesSections, "Active queries"],
  }[view];
  const root = document.getElementById("view");
  document.title = `Metricstor · ${heading}`;
  root.replaceChildren(element("h2", {}, heading), element("div", { class: "stats" }, "Loading…"));
  try {
    const bodies = await Promise.all(paths.map((path) => callApi(path, null)));
    // VictoriaMetrics' top queries answer has no `data` wrapper.
    const list = sections(...bodies.map((body) => (body.data !== undefined ? body.data : body)));
    root.replaceChildren(element("h2", {}, heading));
    if (list.length === 0) {
      root.append(element("p", { class: "stats" }, `No ${heading.toLowerCase()} configured.`));
    }
    for (const section of list) {
      const table = element("table", { class: "result" }, element("tr", {}, ...section.columns.map((c) => element("th", {}, c))));
      section.rows.forEach((row) => table.append(element("tr", {}, ...row.map((cell) => element("td", {}, ...cellContent(cell))))));
      const title = section.title ? element("h3", { class: "state-" + section.state }, section.title) : "";
      root.append(element("section", { class: "panel" }, title, section.subtitle ? element("div", { class: "stats" }, section.subtitle) : "", section.rows.length ? table : ""));
    }
  } catch (error) {
    root.replaceChildren(element("h2", {}, heading), element("div", { class: "messages" }, element("div", { class: "error" }, String(error.message || error))));
  }
}

if (typeof window !== "undefined" && typeof document !== "undefined") {
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("a[data-api]").forEach((a) => (a.href = apiBase() + a.dataset.api));
    const view = pageView(window.location.pathname, window.location.hash);
    // vmui's routes change only the fragment: show the view it names.
    window.addEventListener("hashchange", () => window.location.reload());
    if (view !== "query") {
      document.getElementById("query").hidden = true;
      showStatusView(view);
      return;
    }
    for (const model of parsePanels(window.location.search, window.location.hash)) {
      const panel = addPanel(model);
      if (model.expr.trim() !== "") {
        execute(panel);
      }
    }
    document.getElementById("add-panel").addEventListener("click", () => addPanel(newPanel()).input.focus());
  });
}
