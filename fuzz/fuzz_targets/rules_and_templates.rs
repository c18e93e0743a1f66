//! Fuzz target: reading a rule file never panics, and neither does parsing an alert
//! template and expanding it (with every `query` it asks for answered by one sample, up to
//! a bound); a template that parses expands or fails with an error, never hangs past the
//! engine's own limits; relabeling rules (with VictoriaMetrics' extensions) read, checked
//! and run over a series never panic either. The first byte picks the parser.
#![no_main]
use std::collections::BTreeMap;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if choice % 3 == 0 {
        let _ = metricstor::rules::file::parse(text, "fuzz.yml");
        return;
    }
    if choice % 3 == 2 {
        use metricstor::ingest::relabel::{configs_from_yaml, Relabeler};
        let Ok(configs) = configs_from_yaml(text) else { return };
        let Ok(relabeler) = Relabeler::new(&configs, Default::default()) else { return };
        let series = [("__name__", "servers.web1.cpu.user"), ("job", "node"), ("instance", "h:9"), ("path", "/a/b")];
        let mut labels: Vec<(String, String)> = series.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        let kept = relabeler.apply(&mut labels);
        assert!(labels.iter().enumerate().all(|(i, (name, _))| !name.is_empty() && labels[..i].iter().all(|(earlier, _)| earlier != name)), "a label name empty or twice: {labels:?}");
        let steps = relabeler.steps(series.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect());
        assert_eq!(steps.len(), configs.len());
        assert_eq!(kept, steps.last().is_none_or(|s| s.keep), "apply and steps disagree on keeping the series");
        return;
    }
    let Ok(parsed) = template::alert_template("__alert_Fuzz", text) else { return };
    let labels: BTreeMap<String, String> = [("instance", "host:9100"), ("job", "node"), ("__name__", "up")].map(|(k, v)| (k.to_string(), v.to_string())).into();
    let external: BTreeMap<String, String> = [("dc".to_string(), "eu".to_string())].into();
    let data = template::Data { labels: &labels, external_labels: &external, external_url: "http://prometheus:9090", value: 1.5 };
    let mut answers = template::QueryAnswers::new();
    for _ in 0..8 {
        match parsed.expand_at(&data, &answers, 1_700_000_000.0) {
            Ok(template::Expansion::NeedsQuery(query)) => {
                let sample = template::QueriedSample { labels: labels.clone(), value: 2.0 };
                answers.insert(query, Ok(vec![sample]));
            }
            Ok(template::Expansion::Text(_)) | Err(_) => return,
        }
    }
});
