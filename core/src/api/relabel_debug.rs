//! VictoriaMetrics' relabeling debuggers, `/metric-relabel-debug` and `/target-relabel-debug`:
//! relabeling rules (`relabel_configs`, YAML) run rule by rule over one series (`metric`,
//! written as the text format writes a series: `up{job="a"}`, `{__name__="up",job="a"}`, or
//! VictoriaMetrics' unbraced `job="a", instance="b"`), showing each rule's input and output
//! and what is left after the stage's own last steps: for a series, the labels starting with
//! `__` go (`__name__` stays); for a target, `instance` defaults to `__address__`, the scrape
//! URL is made, and every `__` label goes. `format=json` answers as VictoriaMetrics answers
//! vmui's relabeling page (labels as HTML with the changed ones highlighted); otherwise an
//! HTML page with the form. With neither a series nor rules, the series page starts from this
//! server's own `relabel_configs`.

use std::collections::HashSet;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use serde::Serialize;

use super::params::Params;
use super::{json, search::go_quote, ApiError};
use crate::ingest::label_limits::LabelLimits;
use crate::ingest::relabel::{get, Action, RelabelConfig, Relabeler};
use crate::scrape::status::TargetStatus;

/// Which relabeling the page shows: of scraped series (`metric_relabel_configs`, and the
/// server's own ingest relabeling), or of discovered targets (`relabel_configs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Series,
    Target,
}

impl Stage {
    fn title(self) -> &'static str {
        match self {
            Stage::Series => "Metric relabel debug",
            Stage::Target => "Target relabel debug",
        }
    }
}

/// One labeled series, as pairs sorted by name.
type LabelSet = Vec<(String, String)>;

/// One step: what it did (the rule as YAML, or the stage's own step in words), its input
/// and its output.
#[derive(Debug, PartialEq)]
struct Step {
    rule: String,
    input: LabelSet,
    output: LabelSet,
}

/// A run of the rules over one series.
#[derive(Debug, PartialEq)]
struct Debugged {
    original: LabelSet,
    steps: Vec<Step>,
    resulting: LabelSet,
    /// For a target: the URL it would be scraped at (none without an address).
    target_url: Option<String>,
}

/// Colours of the labels a step changed, as VictoriaMetrics marks them: removed or changed
/// in its input, added or changed in its output.
const INPUT_CHANGED_COLOR: &str = "#D15757";
const OUTPUT_CHANGED_COLOR: &str = "#4495e0";

/// The answer to `/metric-relabel-debug` or `/target-relabel-debug` with `params`;
/// `server_rules` are this server's own ingest rules, the series page's starting point
/// (`None`: not shown to this client). A series or rules that do not parse are a 400: the
/// JSON error envelope for `format=json`, else the page naming the problem.
pub fn handle(stage: Stage, params: &Params, server_rules: Option<&[RelabelConfig]>, target: Option<&TargetStatus>) -> Result<Response<Bytes>, ApiError> {
    let as_json = params.get("format") == Some("json");
    let mut metric = params.get("metric").unwrap_or("").to_string();
    let mut rules = params.get("relabel_configs").unwrap_or("").to_string();
    let outcome = match params.get("id").filter(|id| !id.is_empty()) {
        Some(id) => Err(format!("there are no target ids here (id={id}): give the labels as metric= and the rules as relabel_configs=, or name a target by scrapePool and scrapeUrl")),
        None => {
            // A named target (`scrapePool`, `scrapeUrl`) fills what is not given: its labels
            // before target relabeling and its job's `relabel_configs`, or its labels on `up`
            // and the job's `metric_relabel_configs`.
            if let (Some(status), true) = (target, metric.is_empty() && rules.is_empty()) {
                let job = &status.target.job;
                let (labels, relabeler, key) = match stage {
                    Stage::Target => (status.target.discovered.labels(), &job.target_relabeler, "relabel_configs"),
                    Stage::Series => {
                        let mut labels = status.target.labels.clone();
                        labels.push(("__name__".to_string(), "up".to_string()));
                        (labels, &job.metric_relabeler, "metric_relabel_configs")
                    }
                };
                metric = series_text(&labels);
                let configs: Vec<RelabelConfig> = relabeler.configs().cloned().collect();
                rules = format!("# scrape_configs[job_name={}].{key}\n{}", job.name, rules_yaml(&configs));
            }
            if metric.is_empty() && rules.is_empty() && stage == Stage::Series {
                if let Some(server_rules) = server_rules.filter(|r| !r.is_empty()) {
                    rules = format!("# relabel_configs: this server's ingest relabeling\n{}", rules_yaml(server_rules));
                }
            }
            if metric.trim().is_empty() {
                metric = "{}".into();
            }
            debug(stage, &metric, &rules)
        }
    };
    match (outcome, as_json) {
        (Ok(debugged), true) => Ok(json_answer(&debugged)),
        (Err(problem), true) => Err(ApiError::bad_data(problem)),
        (outcome, false) => Ok(page(stage, &metric, &rules, &outcome)),
    }
}

/// Runs `rules` (YAML) over `metric` at `stage`; a problem named as VictoriaMetrics names it.
fn debug(stage: Stage, metric: &str, rules: &str) -> Result<Debugged, String> {
    let labels = parse_metric(metric).map_err(|e| format!("cannot parse metric: {e}"))?;
    let configs = crate::ingest::relabel::configs_from_yaml(rules).map_err(|e| format!("cannot parse relabel configs: {e}"))?;
    let relabeler = Relabeler::new(&configs, LabelLimits::default()).map_err(|e| format!("cannot parse relabel configs: {e}"))?;
    let mut original = labels.clone();
    original.sort();
    let mut steps = Vec::new();
    let mut current = original.clone();
    for step in relabeler.steps(labels) {
        let output = step.output;
        steps.push(Step { rule: rule_yaml(step.rule), input: std::mem::replace(&mut current, output.clone()), output });
        if !step.keep || current.is_empty() {
            break;
        }
    }
    finish(&mut steps, &mut current, "remove empty labels", |labels| labels.retain(|(_, v)| !v.is_empty()));
    let mut target_url = None;
    match stage {
        Stage::Series => finish(&mut steps, &mut current, "remove labels with __ prefix except of __name__", |labels| {
            labels.retain(|(n, _)| !n.starts_with("__") || n == "__name__")
        }),
        Stage::Target => {
            let address = get(&current, "__address__").to_string();
            if get(&current, "instance").is_empty() && !address.is_empty() {
                finish(&mut steps, &mut current, "add missing instance label from __address__ label", |labels| {
                    labels.retain(|(n, _)| n != "instance");
                    labels.push(("instance".into(), address));
                });
            }
            target_url = scrape_url(&current);
            finish(&mut steps, &mut current, "remove labels with __ prefix", |labels| labels.retain(|(n, _)| !n.starts_with("__")));
        }
    }
    Ok(Debugged { original, steps, resulting: current, target_url })
}

/// One of the stage's own last steps: `change` applied to `current`, a step when it changed
/// something.
fn finish(steps: &mut Vec<Step>, current: &mut LabelSet, rule: &str, change: impl FnOnce(&mut LabelSet)) {
    let mut output = current.clone();
    change(&mut output);
    output.sort();
    if output != *current {
        steps.push(Step { rule: rule.into(), input: std::mem::replace(current, output.clone()), output });
    }
}

/// `labels` as one series in the text format's form (`{a="b",…}`, every label inside the
/// braces, values escaped), as the page's `metric` field takes it back.
fn series_text(labels: &[(String, String)]) -> String {
    let mut sorted = labels.to_vec();
    sorted.sort();
    let pairs: Vec<String> = sorted
        .iter()
        .map(|(name, value)| {
            let mut pair = format!("{name}=\"");
            crate::ingest::text_format::push_escaped_label_value(&mut pair, value);
            pair.push('"');
            pair
        })
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// The series' labels: one line only, braces paired, and VictoriaMetrics' unbraced form
/// (`a="b", c="d"`) braced.
fn parse_metric(metric: &str) -> Result<LabelSet, String> {
    let metric = metric.trim();
    if metric.contains('\n') {
        return Err("only one series may be given; got several lines".into());
    }
    let (opens, closes) = (metric.contains('{'), metric.contains('}'));
    if opens != closes {
        return Err(format!("{metric:?} has unpaired braces"));
    }
    if !opens && metric.contains('=') {
        return crate::ingest::text_format::parse_series_labels(&format!("{{{metric}}}"));
    }
    crate::ingest::text_format::parse_series_labels(metric)
}


/// One rule as YAML with the fields it sets (those at their defaults left out, the action
/// always given), as VictoriaMetrics shows a rule.
fn rule_yaml(rule: &RelabelConfig) -> String {
    #[derive(Serialize)]
    struct Shown<'a> {
        #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
        if_selectors: Option<&'a crate::ingest::relabel::Selectors>,
        action: Action,
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        source_labels: &'a [String],
        #[serde(skip_serializing_if = "Option::is_none")]
        separator: Option<&'a str>,
        #[serde(skip_serializing_if = "str::is_empty")]
        target_label: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        regex: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        modulus: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        replacement: Option<&'a str>,
        #[serde(rename = "match", skip_serializing_if = "str::is_empty")]
        graphite_match: &'a str,
        #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        labels: &'a std::collections::BTreeMap<String, String>,
    }
    let defaults = RelabelConfig::default();
    let shown = Shown {
        if_selectors: rule.if_selectors.as_ref(),
        action: rule.action,
        source_labels: &rule.source_labels,
        separator: (rule.separator != defaults.separator).then_some(rule.separator.as_str()),
        target_label: &rule.target_label,
        regex: (rule.regex != defaults.regex).then_some(rule.regex.as_str()),
        modulus: (rule.modulus != 0).then_some(rule.modulus),
        replacement: (rule.replacement != defaults.replacement).then_some(rule.replacement.as_str()),
        graphite_match: &rule.graphite_match,
        labels: &rule.labels,
    };
    serde_saphyr::to_string(&shown).unwrap_or_else(|e| format!("# cannot write the rule: {e}\n"))
}

/// `rules` as a YAML list, each rule as `rule_yaml` writes it.
fn rules_yaml(rules: &[RelabelConfig]) -> String {
    let mut out = String::new();
    for rule in rules {
        for (i, line) in rule_yaml(rule).lines().enumerate() {
            out.push_str(if i == 0 { "- " } else { "  " });
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The URL a target with these labels is scraped at: `__scheme__` (http by default),
/// `__address__`, `__metrics_path__` (`/metrics` by default) and a query of its
/// `__param_<name>` labels; none without an address.
fn scrape_url(labels: &[(String, String)]) -> Option<String> {
    let address = get(labels, "__address__");
    if address.is_empty() {
        return None;
    }
    let scheme = Some(get(labels, "__scheme__")).filter(|s| !s.is_empty()).unwrap_or("http");
    let path = Some(get(labels, "__metrics_path__")).filter(|p| !p.is_empty()).unwrap_or("/metrics");
    let escape = crate::scrape::discovery::query_escape;
    let query: Vec<String> =
        labels.iter().filter_map(|(n, v)| n.strip_prefix("__param_").map(|param| format!("{}={}", escape(param), escape(v)))).collect();
    let separator = if query.is_empty() { "" } else { "?" };
    Some(format!("{scheme}://{address}{path}{separator}{}", query.join("&")))
}

/// `text` safe in HTML text and attribute values.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The names whose value differs between `input` and `output` (added, removed or changed).
fn changed_names<'a>(input: &'a [(String, String)], output: &'a [(String, String)]) -> HashSet<&'a str> {
    let mut changed = HashSet::new();
    for (side, other) in [(input, output), (output, input)] {
        for (name, value) in side {
            if other.iter().all(|(n, v)| n != name || v != value) {
                changed.insert(name.as_str());
            }
        }
    }
    changed
}

/// `labels` as HTML, VictoriaMetrics' way: the metric name, then `{name="value", …}` (no
/// braces for a name alone, `{}` for nothing), the `changed` names bold in `color`.
fn labels_markup(labels: &[(String, String)], changed: &HashSet<&str>, color: &str) -> String {
    let mark = |name: &str, text: String| {
        if changed.contains(name) {
            format!("<span style=\"font-weight:bold;color:{color}\">{text}</span>")
        } else {
            text
        }
    };
    let name = get(labels, "__name__");
    let mut out = String::new();
    if !name.is_empty() {
        out.push_str(&mark("__name__", escape_html(name)));
    }
    let others: Vec<&(String, String)> = labels.iter().filter(|(n, _)| n != "__name__").collect();
    if !name.is_empty() && others.is_empty() {
        return out;
    }
    out.push('{');
    for (i, (label_name, value)) in others.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&mark(label_name, escape_html(&format!("{label_name}={}", go_quote(value)))));
    }
    out.push('}');
    out
}

/// VictoriaMetrics' JSON answer: each step's rule and labels (changes highlighted), and the
/// labels before and after; with the target's scrape URL for the target stage.
fn json_answer(debugged: &Debugged) -> Response<Bytes> {
    let mut out = String::from("{\"status\":\"success\",\"steps\":[");
    for (i, step) in debugged.steps.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let changed = changed_names(&step.input, &step.output);
        out.push_str("{\"inLabels\":");
        json::push_json_string(&mut out, &labels_markup(&step.input, &changed, INPUT_CHANGED_COLOR));
        out.push_str(",\"outLabels\":");
        json::push_json_string(&mut out, &labels_markup(&step.output, &changed, OUTPUT_CHANGED_COLOR));
        out.push_str(",\"rule\":");
        json::push_json_string(&mut out, &step.rule);
        out.push_str(",\"errors\":{}}");
    }
    out.push_str("],\"originalLabels\":");
    json::push_json_string(&mut out, &labels_markup(&debugged.original, &HashSet::new(), ""));
    out.push_str(",\"resultingLabels\":");
    json::push_json_string(&mut out, &labels_markup(&debugged.resulting, &HashSet::new(), ""));
    if let Some(url) = &debugged.target_url {
        out.push_str(",\"targetURL\":");
        json::push_json_string(&mut out, url);
    }
    out.push('}');
    let mut response = Response::new(Bytes::from(out));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The page holds no script; its form posts back here.
const PAGE_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'";

/// The HTML page: the form with what was given, then the steps or the problem (a 400).
fn page(stage: Stage, metric: &str, rules: &str, outcome: &Result<Debugged, String>) -> Response<Bytes> {
    let title = stage.title();
    let (other_path, other_title) = match stage {
        Stage::Series => ("target-relabel-debug", Stage::Target.title()),
        Stage::Target => ("metric-relabel-debug", Stage::Series.title()),
    };
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title><style>\
         body{{font-family:sans-serif;margin:1em}}textarea{{width:100%;font-family:monospace}}\
         table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #ccc;padding:.3em;vertical-align:top;text-align:left}}\
         pre{{margin:0}}.error{{color:#b00;font-weight:bold}}</style></head><body>\
         <h1>{title}</h1><p><a href=\"{other_path}\">{other_title}</a></p>"
    );
    if let Err(problem) = outcome {
        html.push_str(&format!("<p class=\"error\">{}</p>", escape_html(problem)));
    }
    html.push_str(&format!(
        "<form method=\"post\"><p>Relabeling rules (YAML):<br><textarea name=\"relabel_configs\" rows=\"15\">{}</textarea></p>\
         <p>A series:<br><textarea name=\"metric\" rows=\"3\" placeholder=\"up{{job=&quot;job_name&quot;,instance=&quot;host:port&quot;}}\">{}</textarea></p>\
         <p><button type=\"submit\">Submit</button></p></form>",
        escape_html(rules),
        escape_html(metric)
    ));
    if let Ok(debugged) = outcome {
        html.push_str(&format!("<p><b>Original labels:</b> <samp>{}</samp></p>", labels_markup(&debugged.original, &HashSet::new(), "")));
        html.push_str("<table><thead><tr><th>Step</th><th>Relabeling rule</th><th>Input labels</th><th>Output labels</th></tr></thead><tbody>");
        for (i, step) in debugged.steps.iter().enumerate() {
            let changed = changed_names(&step.input, &step.output);
            html.push_str(&format!(
                "<tr><td>{i}</td><td><pre>{}</pre></td><td>{}</td><td>{}</td></tr>",
                escape_html(&step.rule),
                labels_markup(&step.input, &changed, INPUT_CHANGED_COLOR),
                labels_markup(&step.output, &changed, OUTPUT_CHANGED_COLOR)
            ));
        }
        html.push_str("</tbody></table>");
        html.push_str(&format!("<p><b>Resulting labels:</b> <samp>{}</samp></p>", labels_markup(&debugged.resulting, &HashSet::new(), "")));
        if let Some(url) = &debugged.target_url {
            // A link only for what a browser would fetch as a scrape would.
            let shown = escape_html(url);
            if url.starts_with("http://") || url.starts_with("https://") {
                html.push_str(&format!("<p><b>Target URL:</b> <a href=\"{shown}\" rel=\"noreferrer\">{shown}</a></p>"));
            } else {
                html.push_str(&format!("<p><b>Target URL:</b> {shown}</p>"));
            }
        }
    }
    html.push_str("</body></html>\n");
    let mut response = Response::new(Bytes::from(html));
    *response.status_mut() = if outcome.is_ok() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> LabelSet {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    /// What VictoriaMetrics' own debug test expects of its input forms: the resulting
    /// labels, as text, after a rule that drops nothing.
    #[test]
    fn every_input_form_reads_as_victoriametrics_reads_it() {
        let keep_all = "- action: labeldrop\n  regex: a_not_exist_label\n";
        let resulting = |metric: &str| {
            debug(Stage::Series, metric, keep_all).map(|d| {
                let markup = labels_markup(&d.resulting, &HashSet::new(), "");
                markup.replace("&quot;", "\"")
            })
        };
        assert_eq!(resulting("metric_name").as_deref(), Ok("metric_name"));
        assert_eq!(resulting(r#"metric_name{label1="value1"}"#).as_deref(), Ok(r#"metric_name{label1="value1"}"#));
        assert_eq!(resulting(r#"{__name__="metric_name", label1="value1"}"#).as_deref(), Ok(r#"metric_name{label1="value1"}"#));
        assert_eq!(resulting(r#"__name__="metric_name", label1="value1""#).as_deref(), Ok(r#"metric_name{label1="value1"}"#));
        assert_eq!(resulting(r#"_name__="metric_name""#).as_deref(), Ok(r#"{_name__="metric_name"}"#));
        for bad in [r#"{_name__="metric_name""#, r#"_name__="metric_name}""#, r#"metrics_name}""#, "a\nb"] {
            let problem = resulting(bad).expect_err(bad);
            assert!(problem.starts_with("cannot parse metric: "), "{bad}: {problem}");
        }
    }

    #[test]
    fn each_rule_is_a_step_and_the_series_stage_drops_double_underscore_labels() {
        let rules = "- action: labeldrop\n  regex: drop_me\n- target_label: added\n  replacement: added\n- source_labels: [__tmp]\n  target_label: kept\n";
        let debugged = debug(Stage::Series, r#"m{drop_me="1", __tmp="t", job="j"}"#, rules).expect("runs");
        let rules_shown: Vec<&str> = debugged.steps.iter().map(|s| s.rule.as_str()).collect();
        assert_eq!(rules_shown.len(), 4, "{rules_shown:?}");
        assert!(rules_shown[0].contains("action: labeldrop") && rules_shown[0].contains("regex: drop_me"), "{rules_shown:?}");
        assert!(!rules_shown[0].contains("separator"), "defaults are left out: {rules_shown:?}");
        assert_eq!(rules_shown[3], "remove labels with __ prefix except of __name__");
        assert_eq!(debugged.steps[0].output, pairs(&[("__name__", "m"), ("__tmp", "t"), ("job", "j")]));
        assert_eq!(debugged.steps[1].output, pairs(&[("__name__", "m"), ("__tmp", "t"), ("added", "added"), ("job", "j")]));
        assert_eq!(debugged.resulting, pairs(&[("__name__", "m"), ("added", "added"), ("job", "j"), ("kept", "t")]));
        assert_eq!(debugged.target_url, None);
    }

    #[test]
    fn a_dropped_series_ends_the_steps() {
        let rules = "- action: drop\n  source_labels: [job]\n  regex: j\n- target_label: never\n  replacement: x\n";
        let debugged = debug(Stage::Series, r#"m{job="j"}"#, rules).expect("runs");
        assert_eq!(debugged.steps.len(), 1);
        assert!(debugged.resulting.is_empty());
        assert_eq!(labels_markup(&debugged.resulting, &HashSet::new(), ""), "{}");
    }

    #[test]
    fn the_target_stage_sets_instance_makes_the_url_and_drops_hidden_labels() {
        let rules = "- source_labels: [__meta_port]\n  target_label: __address__\n  regex: (.+)\n  replacement: host:$1\n";
        let metric = r#"{__meta_port="9100", __metrics_path__="/probe", __param_target="a b&c", job="node"}"#;
        let debugged = debug(Stage::Target, metric, rules).expect("runs");
        assert_eq!(debugged.target_url.as_deref(), Some("http://host:9100/probe?target=a+b%26c"));
        assert_eq!(debugged.resulting, pairs(&[("instance", "host:9100"), ("job", "node")]));
        let rules_shown: Vec<&str> = debugged.steps.iter().map(|s| s.rule.as_str()).collect();
        assert_eq!(rules_shown[1..], ["add missing instance label from __address__ label", "remove labels with __ prefix"]);
        // No address: no URL.
        assert_eq!(debug(Stage::Target, r#"{job="x"}"#, "").expect("runs").target_url, None);
    }

    #[test]
    fn bad_rules_are_named() {
        let problem = debug(Stage::Series, "m", "- action: replace\n  regex: x\n").expect_err("no target_label");
        assert!(problem.starts_with("cannot parse relabel configs: ") && problem.contains("target_label"), "{problem}");
        let problem = debug(Stage::Series, "m", "- action: nonsense\n").expect_err("unknown action");
        assert!(problem.starts_with("cannot parse relabel configs: "), "{problem}");
        assert_eq!(debug(Stage::Series, "m", "# only a comment\n\n").expect("no rules").steps, Vec::new());
    }

    #[test]
    fn markup_highlights_changes_and_escapes() {
        let input = pairs(&[("__name__", "m"), ("a", "<x>"), ("b", "same")]);
        let output = pairs(&[("__name__", "m"), ("b", "same"), ("c", "\"q\"")]);
        let changed = changed_names(&input, &output);
        assert_eq!(
            labels_markup(&input, &changed, INPUT_CHANGED_COLOR),
            "m{<span style=\"font-weight:bold;color:#D15757\">a=&quot;&lt;x&gt;&quot;</span>, b=&quot;same&quot;}"
        );
        assert_eq!(
            labels_markup(&output, &changed, OUTPUT_CHANGED_COLOR),
            "m{b=&quot;same&quot;, <span style=\"font-weight:bold;color:#4495e0\">c=&quot;\\&quot;q\\&quot;&quot;</span>}"
        );
    }

    #[test]
    fn server_rules_are_written_back_as_a_list_that_parses() {
        let configs = crate::ingest::relabel::configs_from_yaml(
            "- action: keep\n  source_labels: [job, env]\n  separator: '/'\n  regex: a/b\n- target_label: t\n  replacement: ''\n- if: '{a=\"1\"}'\n  action: drop\n- action: graphite\n  match: 'a.*'\n  labels: {job: '$1'}\n",
        )
        .expect("parses");
        assert_eq!(crate::ingest::relabel::configs_from_yaml(&rules_yaml(&configs)).expect("written back"), configs);
    }
}
