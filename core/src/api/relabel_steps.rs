//! `/api/v1/targets/relabel_steps?scrapePool=<job>&labels=<JSON object>`: a scrape job's
//! target relabeling applied rule by rule to the given labels, as Prometheus 3 answers it
//! for its UI: `{"steps":[{"rule":{…},"output":{…},"keep":true},…]}`.

use crate::ingest::relabel::RelabelConfig;

use super::{json, ApiError};

/// The answer's `data` for `labels` (the request's JSON object) under `job`'s
/// `relabel_configs`; a 400 naming the problem for a missing or bad parameter or an unknown
/// job, in Prometheus' words.
pub fn steps(config: &crate::scrape::ScrapeConfig, scrape_pool: Option<&str>, labels: Option<&str>) -> Result<String, ApiError> {
    let pool = scrape_pool.filter(|p| !p.is_empty()).ok_or_else(|| ApiError::bad_data("no scrapePool parameter provided"))?;
    let text = labels.filter(|l| !l.is_empty()).ok_or_else(|| ApiError::bad_data("no labels parameter provided"))?;
    let given: std::collections::BTreeMap<String, String> = serde_json::from_str(text).map_err(|e| ApiError::bad_data(format!("error parsing labels: {e}")))?;
    let job = config.jobs.iter().find(|j| j.name == pool).ok_or_else(|| ApiError::bad_data(format!("error retrieving scrape config: scrape pool {} not found", serde_json::Value::from(pool))))?;
    let mut out = String::from("{\"steps\":[");
    for (i, crate::ingest::relabel::RelabelStep { rule, output, keep }) in job.target_relabeler.steps(given.into_iter().collect()).into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"rule\":");
        push_rule(&mut out, rule);
        out.push_str(",\"output\":");
        json::push_label_pairs(&mut out, output.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        out.push_str(",\"keep\":");
        out.push_str(if keep { "true" } else { "false" });
        out.push('}');
    }
    out.push_str("]}");
    Ok(out)
}

/// A rule as Prometheus' `relabel.Config` writes itself in JSON: its fields in order,
/// `source_labels`, `modulus` and `target_label` left out when empty.
fn push_rule(out: &mut String, rule: &RelabelConfig) {
    out.push('{');
    if !rule.source_labels.is_empty() {
        out.push_str("\"source_labels\":");
        json::push_string_array(out, rule.source_labels.iter().map(String::as_str));
        out.push(',');
    }
    out.push_str("\"separator\":");
    json::push_json_string(out, &rule.separator);
    out.push_str(",\"regex\":");
    json::push_json_string(out, &rule.regex);
    if rule.modulus != 0 {
        out.push_str(&format!(",\"modulus\":{}", rule.modulus));
    }
    if !rule.target_label.is_empty() {
        out.push_str(",\"target_label\":");
        json::push_json_string(out, &rule.target_label);
    }
    out.push_str(",\"replacement\":");
    json::push_json_string(out, &rule.replacement);
    out.push_str(",\"action\":");
    json::push_json_string(out, serde_json::to_value(rule.action).ok().and_then(|v| v.as_str().map(str::to_string)).as_deref().unwrap_or("replace"));
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> crate::scrape::ScrapeConfig {
        let yaml = "scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}], relabel_configs: [\
                    {source_labels: [__address__], regex: '(.*):1', target_label: host, replacement: '$1'},\
                    {action: labeldrop, regex: 'env'},\
                    {source_labels: [host], regex: 'h', action: drop},\
                    {action: hashmod, source_labels: [host], target_label: shard, modulus: 4}]}]";
        crate::scrape::ScrapeConfig::from_yaml(yaml, std::path::Path::new("/"), crate::ingest::label_limits::LabelLimits::default()).expect("a valid configuration")
    }

    #[test]
    fn each_rule_shows_its_output_and_a_drop_empties_the_rest() {
        let answer = steps(&config(), Some("j"), Some(r#"{"__address__":"h:1","env":"prod","job":"j"}"#)).expect("steps");
        let value: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
        let steps = value["steps"].as_array().expect("steps");
        assert_eq!(steps.len(), 4);
        assert_eq!(steps[0]["rule"], serde_json::json!({"source_labels": ["__address__"], "separator": ";", "regex": "(.*):1", "target_label": "host", "replacement": "$1", "action": "replace"}));
        assert_eq!(steps[0]["output"], serde_json::json!({"__address__": "h:1", "env": "prod", "host": "h", "job": "j"}));
        assert_eq!(steps[1]["output"], serde_json::json!({"__address__": "h:1", "host": "h", "job": "j"}));
        assert_eq!((&steps[2]["output"], &steps[2]["keep"]), (&serde_json::json!({}), &serde_json::json!(false)));
        assert_eq!((&steps[3]["output"], &steps[3]["keep"]), (&serde_json::json!({}), &serde_json::json!(false)), "nothing runs after a drop");
        assert_eq!(steps[3]["rule"]["modulus"], 4);
        assert!(steps[1]["rule"].get("source_labels").is_none() && steps[1]["rule"].get("target_label").is_none(), "empty fields left out");
        // The raw text keeps Prometheus' field order.
        assert!(answer.starts_with(r#"{"steps":[{"rule":{"source_labels":["__address__"],"separator":";","regex":"(.*):1","target_label":"host","replacement":"$1","action":"replace"},"output":{"#), "{answer}");
    }

    #[test]
    fn bad_parameters_are_named_as_prometheus_names_them() {
        let config = config();
        let message = |pool: Option<&str>, labels: Option<&str>| steps(&config, pool, labels).expect_err("a 400").message;
        assert!(message(None, Some("{}")).contains("no scrapePool parameter provided"));
        assert!(message(Some("j"), None).contains("no labels parameter provided"));
        assert!(message(Some("j"), Some("[1]")).contains("error parsing labels"));
        assert!(message(Some("other"), Some("{}")).contains(r#"error retrieving scrape config: scrape pool "other" not found"#));
    }
}
