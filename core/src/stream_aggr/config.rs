//! `stream_aggregation:`: VictoriaMetrics' `-streamAggr.config` items (same YAML keys and
//! checks), and `-streamAggr.keepInput` / `-streamAggr.dropInput`, read and compiled. Every
//! error names its key path (`configs[0].outputs[1]: …`).

use serde::{Deserialize, Serialize};

use super::outputs::OutputKind;
use crate::ingest::label_limits::LabelLimits;
use crate::ingest::relabel::{RelabelConfig, Relabeler, Selectors};

/// The `stream_aggregation` section.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamAggregationSection {
    /// The aggregations, each as one item of a VictoriaMetrics `-streamAggr.config` file.
    pub configs: Vec<AggregationConfig>,
    /// `-streamAggr.keepInput`: matched input samples are stored too.
    pub keep_input: bool,
    /// `-streamAggr.dropInput`: input samples no aggregation matched are not stored either
    /// (no effect with `keep_input`, as in VictoriaMetrics).
    pub drop_input: bool,
}

/// One aggregation: VictoriaMetrics' stream aggregation config item, its keys.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregationConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// One series selector or a list of them; unset: every series.
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_selectors: Option<Selectors>,
    /// Go duration (`1m`, `30s`, `1h30m`), at least 1s; written into output names as given.
    pub interval: String,
    pub no_align_flush_to_interval: bool,
    pub flush_on_shutdown: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dedup_interval: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub staleness_interval: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ignore_first_sample_interval: String,
    pub outputs: Vec<String>,
    pub keep_metric_names: bool,
    pub ignore_old_samples: bool,
    pub ignore_first_intervals: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub without: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drop_input_labels: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub input_relabel_configs: Vec<RelabelConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub output_relabel_configs: Vec<RelabelConfig>,
    /// VictoriaMetrics' aggregation windows: not supported (refused when true).
    pub enable_windows: bool,
}

/// One aggregation, checked and compiled.
#[derive(Debug)]
pub struct Compiled {
    /// The item as configured (its `name` and `outputs` label the aggregation's metrics): a
    /// reload keeps the state of an aggregation whose item it finds unchanged.
    pub item: AggregationConfig,
    /// Alternatives of matchers (a series matching any is aggregated); none: every series.
    pub match_alternatives: Vec<Vec<tsdb::Matcher>>,
    pub interval_ms: i64,
    /// 0: no de-duplication.
    pub dedup_interval_ms: i64,
    pub align_flush_to_interval: bool,
    pub flush_on_shutdown: bool,
    pub staleness_interval_ms: i64,
    pub ignore_first_sample_interval_ms: i64,
    pub outputs: Vec<OutputKind>,
    pub keep_metric_names: bool,
    pub ignore_old_samples: bool,
    pub ignore_first_intervals: u64,
    /// Sorted, unique; with `__name__` added when `by` is given (VictoriaMetrics does so).
    pub by: Vec<String>,
    /// Sorted, unique.
    pub without: Vec<String>,
    pub drop_input_labels: Vec<String>,
    pub input_relabeling: Option<Relabeler>,
    pub output_relabeling: Option<Relabeler>,
    /// `:<interval>[_by_<a_b>][_without_<c_d>]_`, put between the input name and the output's.
    pub name_suffix: String,
}

impl Compiled {
    /// Neither `by` nor `without`: each input series is its own output series.
    pub fn aggregates_only_by_time(&self) -> bool {
        self.by.is_empty() && self.without.is_empty()
    }
}

impl StreamAggregationSection {
    /// Checks and compiles every item as VictoriaMetrics does; an error is the item's key
    /// path and the problem (`configs[0].outputs[1]: unsupported output "foo" …`).
    pub fn compile(&self, limits: LabelLimits) -> Result<Vec<Compiled>, String> {
        self.configs.iter().enumerate().map(|(i, config)| compile_one(config, self.keep_input, limits).map_err(|e| format!("configs[{i}]{e}"))).collect()
    }
}

/// An item; errors start with the key's path below the item (`.interval: …`).
fn compile_one(config: &AggregationConfig, keep_input: bool, limits: LabelLimits) -> Result<Compiled, String> {
    if config.interval.is_empty() {
        return Err(".interval: missing (required, e.g. 1m)".to_string());
    }
    let interval_ms = parse_go_duration_ms(&config.interval).map_err(|e| format!(".interval: {e}"))?;
    if interval_ms < 1000 {
        return Err(format!(".interval: {:?} is below the minimum of 1s", config.interval));
    }
    if config.enable_windows {
        return Err(".enable_windows: aggregation windows are not supported".to_string());
    }
    let dedup_interval_ms = match config.dedup_interval.as_str() {
        "" => 0,
        text => parse_go_duration_ms(text).map_err(|e| format!(".dedup_interval: {e}"))?,
    };
    if dedup_interval_ms > interval_ms {
        return Err(format!(".dedup_interval: {:?} cannot exceed interval {:?}", config.dedup_interval, config.interval));
    }
    if dedup_interval_ms > 0 && interval_ms % dedup_interval_ms != 0 {
        return Err(format!(".dedup_interval: interval {:?} must be a multiple of it ({:?})", config.interval, config.dedup_interval));
    }
    let staleness_interval_ms = match config.staleness_interval.as_str() {
        "" => interval_ms,
        text => {
            let ms = parse_go_duration_ms(text).map_err(|e| format!(".staleness_interval: {e}"))?;
            if ms < interval_ms {
                return Err(format!(".staleness_interval: {text:?} cannot be smaller than interval {:?}", config.interval));
            }
            ms
        }
    };
    let ignore_first_sample_interval_ms = match config.ignore_first_sample_interval.as_str() {
        "" => staleness_interval_ms,
        text => parse_go_duration_ms(text).map_err(|e| format!(".ignore_first_sample_interval: {e}"))?,
    };
    let match_alternatives = match &config.match_selectors {
        None => Vec::new(),
        Some(selectors) => selectors.alternatives().map_err(|e| format!(".match: {e}"))?,
    };
    let relabeler = |key: &str, configs: &[RelabelConfig]| -> Result<Option<Relabeler>, String> {
        if configs.is_empty() {
            return Ok(None);
        }
        // Relabeler's errors start `relabel_configs[j]`: this item's key replaces it.
        Relabeler::new(configs, limits).map(Some).map_err(|e| format!(".{key}{}", e.strip_prefix("relabel_configs").unwrap_or(&format!(": {e}"))))
    };
    let input_relabeling = relabeler("input_relabel_configs", &config.input_relabel_configs)?;
    let output_relabeling = relabeler("output_relabel_configs", &config.output_relabel_configs)?;
    let mut by = sorted_unique(&config.by);
    let without = sorted_unique(&config.without);
    if !by.is_empty() && !without.is_empty() {
        return Err(format!(".by: `by: {by:?}` and `without: {without:?}` cannot be set together"));
    }
    if !by.is_empty() && !by.iter().any(|l| l == "__name__") {
        by.insert(0, "__name__".to_string());
        by.sort();
    }
    if config.outputs.is_empty() {
        return Err(format!(".outputs: missing (required: at least one of {})", OutputKind::SUPPORTED));
    }
    let mut outputs: Vec<OutputKind> = Vec::with_capacity(config.outputs.len());
    for (j, text) in config.outputs.iter().enumerate() {
        let duplicate = config.outputs[..j].iter().any(|seen| seen == text);
        if duplicate {
            return Err(format!(".outputs[{j}]: {text:?} is listed twice"));
        }
        let kind = OutputKind::parse(text).map_err(|e| format!(".outputs[{j}]: {e}"))?;
        if matches!(kind, OutputKind::Quantiles(_)) && outputs.iter().any(|o| matches!(o, OutputKind::Quantiles(_))) {
            return Err(format!(".outputs[{j}]: quantiles() is listed twice; put every phi into one, e.g. quantiles(0.5, 0.9)"));
        }
        outputs.push(kind);
    }
    if config.keep_metric_names {
        if keep_input {
            return Err(".keep_metric_names: cannot be set with stream_aggregation.keep_input (the output series would collide with the inputs)".to_string());
        }
        if outputs.len() != 1 {
            return Err(format!(".keep_metric_names: needs exactly one output; got {:?}", config.outputs));
        }
        let many_series = match &outputs[0] {
            OutputKind::HistogramBucket => true,
            OutputKind::Quantiles(phis) => phis.len() > 1,
            _ => false,
        };
        if many_series {
            return Err(format!(".keep_metric_names: cannot be applied to output {:?}, which writes several series", config.outputs[0]));
        }
    }
    let mut name_suffix = format!(":{}", config.interval);
    let named = |labels: &[String]| labels.iter().filter(|l| *l != "__name__").cloned().collect::<Vec<_>>().join("_");
    if by.iter().any(|l| l != "__name__") {
        name_suffix.push_str(&format!("_by_{}", named(&by)));
    }
    if without.iter().any(|l| l != "__name__") {
        name_suffix.push_str(&format!("_without_{}", named(&without)));
    }
    name_suffix.push('_');
    Ok(Compiled {
        item: config.clone(),
        match_alternatives,
        interval_ms,
        dedup_interval_ms,
        align_flush_to_interval: !config.no_align_flush_to_interval,
        flush_on_shutdown: config.flush_on_shutdown,
        staleness_interval_ms,
        ignore_first_sample_interval_ms,
        outputs,
        keep_metric_names: config.keep_metric_names,
        ignore_old_samples: config.ignore_old_samples,
        ignore_first_intervals: config.ignore_first_intervals,
        by,
        without,
        drop_input_labels: config.drop_input_labels.clone(),
        input_relabeling,
        output_relabeling,
        name_suffix,
    })
}

fn sorted_unique(labels: &[String]) -> Vec<String> {
    let mut labels = labels.to_vec();
    labels.sort();
    labels.dedup();
    labels
}

/// A Go duration (`time.ParseDuration`: `300ms`, `1.5h`, `2h45m`; units ns, us, µs, ms, s,
/// m, h; no days), in whole milliseconds (below that truncated).
pub fn parse_go_duration_ms(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a duration (e.g. 30s, 1m, 1h30m)");
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total_ns: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let number = &rest[..number_len];
        if number.is_empty() || number == "." {
            return Err(bad());
        }
        let value: f64 = number.parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit_ns = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total_ns += value * unit_ns;
    }
    if negative || total_ns > 9.2e18 {
        return Err(bad());
    }
    Ok((total_ns / 1e6) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(yaml: &str) -> Result<Vec<Compiled>, String> {
        let section: StreamAggregationSection = serde_saphyr::from_str(yaml).map_err(|e| e.to_string())?;
        section.compile(LabelLimits::default())
    }

    #[test]
    fn go_durations_read_as_go_reads_them() {
        for (text, ms) in [("1s", 1000), ("1m", 60_000), ("1h30m", 5_400_000), ("1.5m", 90_000), ("300ms", 300), ("0", 0), ("1500us", 1), ("2h45m30.5s", 9_930_500)] {
            assert_eq!(parse_go_duration_ms(text), Ok(ms), "{text}");
        }
        for bad in ["", "1", "1d", "m", "-1m", "1 m", "1.2.3s", "."] {
            assert!(parse_go_duration_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_follow_victoriametrics() {
        let c = compile("configs:\n- interval: 1m\n  outputs: [total]\n  by: [job, instance, job]\n").unwrap();
        assert_eq!(c[0].name_suffix, ":1m_by_instance_job_");
        assert_eq!(c[0].by, vec!["__name__", "instance", "job"], "__name__ joins by");
        let c = compile("configs:\n- interval: 90s\n  outputs: [sum_samples]\n  without: [pod, __name__]\n").unwrap();
        assert_eq!(c[0].name_suffix, ":90s_without_pod_", "__name__ left out of the name");
        assert_eq!(c[0].without, vec!["__name__", "pod"]);
        let c = compile("configs:\n- interval: 5m\n  outputs: [avg]\n").unwrap();
        assert_eq!(c[0].name_suffix, ":5m_");
        assert!(c[0].aggregates_only_by_time());
        assert_eq!(c[0].staleness_interval_ms, 300_000, "staleness defaults to the interval");
        assert_eq!(c[0].ignore_first_sample_interval_ms, 300_000, "and the first-sample interval to staleness");
    }

    #[test]
    fn the_server_config_names_the_section() {
        let config = crate::config::Config::from_yaml("stream_aggregation:\n  configs:\n  - interval: 1m\n    outputs: [total, foo]\n").unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("stream_aggregation: configs[0].outputs[1]: unsupported output \"foo\""), "{error}");
        let unknown = crate::config::Config::from_yaml("stream_aggregation:\n  keep_inputs: true\n").unwrap_err();
        assert!(unknown.contains("keep_inputs"), "{unknown}");
        let resolved = crate::config::Config::default().validate().unwrap();
        assert!(resolved.stream_aggr.is_none(), "off by default");
        let config = crate::config::Config::from_yaml("stream_aggregation:\n  keep_input: true\n  configs:\n  - match: up\n    interval: 1m\n    outputs: [last]\n").unwrap();
        assert!(config.validate().unwrap().stream_aggr.is_some());
        assert_eq!(crate::config::Config::from_yaml(&config.to_yaml()).unwrap(), config, "round trip");
    }

    #[test]
    fn every_error_names_its_key() {
        for (yaml, wanted) in [
            ("configs:\n- outputs: [total]\n", "configs[0].interval: missing"),
            ("configs:\n- interval: 1x\n  outputs: [total]\n", "configs[0].interval: \"1x\" is not a duration"),
            ("configs:\n- interval: 500ms\n  outputs: [total]\n", "configs[0].interval: \"500ms\" is below the minimum of 1s"),
            ("configs:\n- interval: 1m\n", "configs[0].outputs: missing"),
            ("configs:\n- interval: 1m\n  outputs: [total, foo]\n", "configs[0].outputs[1]: unsupported output \"foo\""),
            ("configs:\n- interval: 1m\n  outputs: [total, total]\n", "configs[0].outputs[1]: \"total\" is listed twice"),
            ("configs:\n- interval: 1m\n  outputs: [\"quantiles(0.5)\", \"quantiles(0.9)\"]\n", "configs[0].outputs[1]: quantiles() is listed twice"),
            ("configs:\n- interval: 1m\n  outputs: [\"quantiles(1.5)\"]\n", "configs[0].outputs[0]: phi 1.5"),
            ("configs:\n- interval: 1m\n  outputs: [\"quantiles(x)\"]\n", "configs[0].outputs[0]: cannot parse phi \"x\""),
            ("configs:\n- interval: 1m\n  outputs: [\"quantiles()\"]\n", "configs[0].outputs[0]: quantiles() needs at least one phi"),
            ("configs:\n- interval: 1m\n  outputs: [\"quantiles(0.5\"]\n", "configs[0].outputs[0]: quantiles( without its closing )"),
            ("configs:\n- interval: 1m\n  outputs: [total]\n- interval: 1m\n  outputs: [min]\n  by: [a]\n  without: [b]\n", "configs[1].by: "),
            ("configs:\n- interval: 1m\n  outputs: [total]\n  match: 'up{'\n", "configs[0].match: \"up{\" does not parse"),
            ("configs:\n- interval: 1m\n  outputs: [total]\n  match: ['up', 'rate(x[5m])']\n", "configs[0].match: \"rate(x[5m])\" is not a series selector"),
            ("configs:\n- interval: 1m\n  outputs: [total]\n  staleness_interval: 30s\n", "configs[0].staleness_interval: \"30s\" cannot be smaller"),
            ("configs:\n- interval: 1m\n  outputs: [total]\n  staleness_interval: soon\n", "configs[0].staleness_interval: \"soon\" is not a duration"),
            ("configs:\n- interval: 1m\n  outputs: [total]\n  ignore_first_sample_interval: x\n", "configs[0].ignore_first_sample_interval: "),
            ("configs:\n- interval: 1m\n  outputs: [total]\n  dedup_interval: 2m\n", "configs[0].dedup_interval: \"2m\" cannot exceed interval \"1m\""),
            ("configs:\n- interval: 1m\n  outputs: [total]\n  dedup_interval: 25s\n", "configs[0].dedup_interval: interval \"1m\" must be a multiple of it"),
            ("configs:\n- interval: 1m\n  outputs: [total]\n  dedup_interval: x\n", "configs[0].dedup_interval: \"x\" is not a duration"),
            ("configs:\n- interval: 1m\n  outputs: [total]\n  enable_windows: true\n", "configs[0].enable_windows: "),
            ("configs:\n- interval: 1m\n  outputs: [total, min]\n  keep_metric_names: true\n", "configs[0].keep_metric_names: needs exactly one output"),
            ("configs:\n- interval: 1m\n  outputs: [histogram_bucket]\n  keep_metric_names: true\n", "configs[0].keep_metric_names: cannot be applied"),
            ("configs:\n- interval: 1m\n  outputs: [\"quantiles(0.1, 0.9)\"]\n  keep_metric_names: true\n", "configs[0].keep_metric_names: cannot be applied"),
            ("keep_input: true\nconfigs:\n- interval: 1m\n  outputs: [total]\n  keep_metric_names: true\n", "configs[0].keep_metric_names: cannot be set with stream_aggregation.keep_input"),
            ("configs:\n- interval: 1m\n  outputs: [total]\n  input_relabel_configs:\n  - action: hashmod\n", "configs[0].input_relabel_configs[0] (action HashMod): needs a target_label"),
            ("configs:\n- interval: 1m\n  outputs: [total]\n  output_relabel_configs:\n  - regex: '('\n    target_label: x\n", "configs[0].output_relabel_configs[0] (action Replace): invalid regex"),
        ] {
            let error = compile(yaml).map(|_| ()).unwrap_err();
            assert!(error.starts_with(wanted), "{yaml}: {error}");
        }
        let unknown = compile("configs:\n- interval: 1m\n  outputs: [total]\n  intervall: 2m\n").map(|_| ()).unwrap_err();
        assert!(unknown.contains("intervall"), "{unknown}");
        // keep_metric_names with one single-series output is fine, quantiles with one phi too.
        compile("configs:\n- interval: 1m\n  outputs: [\"quantiles(0.5)\"]\n  keep_metric_names: true\n  dedup_interval: 0s\n").unwrap();
    }
}
