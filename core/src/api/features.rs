//! `/api/v1/features`: what this server supports, in Prometheus 3's categories and feature
//! names (its `util/features` registry), each `true` when supported and enabled here and
//! `false` when Prometheus has it and this server does not (or has it switched off). Built
//! from the configuration and the PromQL function table, so it cannot drift from either.

use std::collections::BTreeMap;

use crate::config::Config;

/// Prometheus' PromQL keywords (its lexer's keyword tokens); every one is parsed here.
const PROMQL_KEYWORDS: [&str; 13] = ["anchored", "bool", "by", "fill", "fill_left", "fill_right", "group_left", "group_right", "ignoring", "offset", "on", "smoothed", "without"];
/// Its binary and set operators (the trim operators `</` and `>/` of native histograms
/// included), then its aggregations (`limitk` and `limit_ratio`, experimental there, always
/// on here); all evaluated here.
const PROMQL_OPERATORS: [&str; 35] = [
    "+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "=~", "!~", "</", ">/", "@", "and", "or", "unless", "atan2", "avg", "bottomk", "count", "count_values", "group", "limit_ratio", "limitk", "max", "min", "quantile",
    "stddev", "stdvar", "sum", "topk",
];
/// Prometheus' PromQL functions that this engine does not evaluate (none at present).
const PROMQL_FUNCTIONS_MISSING: [&str; 0] = [];
/// Functions of the engine's table that answer only under `storage.start_timestamp_storage`:
/// `start_timestamp()` reads the start time stored with each sample.
const PROMQL_FUNCTIONS_OF_START_TIMES: [&str; 1] = ["start_timestamp"];
/// Prometheus' service discovery providers, and whether `scrape_configs` here takes them.
const DISCOVERY_PROVIDERS: [(&str, bool); 37] = [
    ("aws", true),
    ("azure", true),
    ("consul", true),
    ("digitalocean", true),
    ("dns", true),
    ("docker", true),
    ("dockerswarm", true),
    ("ec2", true),
    ("ecs", true),
    ("elasticache", true),
    ("eureka", true),
    ("file", true),
    ("gce", true),
    ("hetzner", true),
    ("http", true),
    ("ionos", true),
    ("kubernetes", true),
    ("kuma", true),
    ("lightsail", true),
    ("linode", true),
    ("marathon", true),
    ("msk", true),
    ("nerve", true),
    ("nomad", true),
    ("oci", true),
    ("openstack", true),
    ("outscale", true),
    ("ovhcloud", true),
    ("puppetdb", true),
    ("rds", true),
    ("scaleway", true),
    ("serverset", true),
    ("stackit", true),
    ("static", true),
    ("triton", true),
    ("uyuni", true),
    ("vultr", true),
];

/// The `data` of `/api/v1/features`: category → feature → enabled, keys sorted (as Go
/// writes a map).
pub fn features(config: &Config) -> BTreeMap<&'static str, BTreeMap<String, bool>> {
    let mut out: BTreeMap<&'static str, BTreeMap<String, bool>> = BTreeMap::new();
    let mut set = |category: &'static str, name: &str, enabled: bool| {
        out.entry(category).or_default().insert(name.to_string(), enabled);
    };
    let api = [
        ("admin", config.server.enable_admin_api),
        ("exclude_alerts", true),
        ("label_values_match", true),
        ("lifecycle", config.server.enable_lifecycle),
        ("openapi_3.1", true),
        ("openapi_3.2", true),
        ("otlp_write_receiver", true),
        ("query_stats", true),
        ("query_warnings", true),
        ("remote_write_receiver", true),
        ("search", true),
        ("search_fuzz_alg_jarowinkler", true),
        ("search_fuzz_alg_subsequence", true),
        ("time_range_labels", true),
        ("time_range_series", true),
    ];
    for (name, enabled) in api {
        set("api", name, enabled);
    }
    set("otlp_receiver", "delta_conversion", config.otlp.delta_to_cumulative);
    set("otlp_receiver", "native_delta_ingestion", config.otlp.native_delta_ingestion);
    set("prometheus", "agent_mode", false);
    set("prometheus", "auto_reload_config", config.scrape.config_check_interval_seconds > 0);
    set("prometheus", "server_mode", true);
    for keyword in PROMQL_KEYWORDS {
        set("promql", keyword, true);
    }
    let promql = [
        ("at_modifier", true),
        ("delayed_name_removal", config.server.promql_delayed_name_removal),
        ("duration_expr", true),
        ("negative_offset", true),
        ("per_query_lookback_delta", true),
        ("per_step_stats", true),
        ("subqueries", true),
        ("type_and_unit_labels", config.storage.type_and_unit_labels),
    ];
    for (name, enabled) in promql {
        set("promql", name, enabled);
    }
    for function in promql::functions::FUNCTIONS {
        let needs_start_times = PROMQL_FUNCTIONS_OF_START_TIMES.contains(&function.name);
        set("promql_functions", function.name, !needs_start_times || config.storage.start_timestamp_storage);
    }
    for function in PROMQL_FUNCTIONS_MISSING {
        set("promql_functions", function, false);
    }
    for operator in PROMQL_OPERATORS {
        set("promql_operators", operator, true);
    }
    // Independent rules of a group evaluate at once with `rules.concurrent_evals` above 1.
    set("rules", "concurrent_rule_eval", config.rules.concurrent_evals > 1);
    set("rules", "keep_firing_for", true);
    set("rules", "query_offset", true);
    set("scrape", "extra_scrape_metrics", true);
    set("scrape", "start_timestamp_zero_ingestion", config.storage.start_timestamp_zero_ingestion);
    // Prometheus lists it (in these words) only when it is on.
    if config.storage.start_timestamp_synthesis {
        set("scrape", "st-synthesis", true);
    }
    set("scrape", "type_and_unit_labels", config.storage.type_and_unit_labels);
    for function in template::prometheus_function_names() {
        set("templating_functions", function, true);
    }
    for (provider, supported) in DISCOVERY_PROVIDERS {
        set("service_discovery_providers", provider, supported);
    }
    let tsdb = [
        ("delayed_compaction", config.storage.delayed_compaction),
        ("exemplar_storage", config.storage.max_exemplars > 0),
        // Native histograms with start times are stored in Prometheus' chunk for them.
        ("histograms_st_encoding", config.storage.start_timestamp_storage),
        // A write spanning shards may be seen on one before another.
        ("isolation", false),
        ("native_histograms", true),
        ("st_storage", config.storage.start_timestamp_storage),
        // Blocks are read with O_DIRECT.
        ("use_uncached_io", true),
        // Read from blocks always; written for series with start times.
        ("xor2_encoding", true),
    ];
    for (name, enabled) in tsdb {
        set("tsdb", name, enabled);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_follow_the_configuration_and_the_function_table() {
        let mut config = Config::default();
        let on = features(&config);
        assert_eq!(on["api"]["admin"], config.server.enable_admin_api);
        assert!(on["api"]["query_stats"], "the query API answers `stats`");
        assert!(on["promql"]["per_step_stats"], "stats=all gives totalQueryableSamplesPerStep and samplesReadPerStep");
        assert!(!on["scrape"]["start_timestamp_zero_ingestion"]);
        assert!(!on["scrape"]["type_and_unit_labels"] && !on["promql"]["type_and_unit_labels"]);
        assert!(on["tsdb"]["exemplar_storage"], "exemplars are kept by default");
        assert!(on["promql_functions"]["rate"]);
        assert!(!on["promql_functions"]["start_timestamp"], "no start times are stored per sample to answer from");
        assert!(!on["tsdb"]["st_storage"]);
        assert_eq!(on["promql_functions"].len(), promql::functions::FUNCTIONS.len() + PROMQL_FUNCTIONS_MISSING.len());
        assert!(on["promql_operators"].values().all(|&e| e) && on["promql_operators"].len() == PROMQL_OPERATORS.len());
        assert!(on["service_discovery_providers"]["kubernetes"]);
        assert!(on["api"]["exclude_alerts"] && on["rules"]["keep_firing_for"] && on["rules"]["query_offset"] && !on["rules"]["concurrent_rule_eval"]);
        let concurrent = Config { rules: crate::config::RulesSection { concurrent_evals: 4, ..Default::default() }, ..Config::default() };
        assert!(features(&concurrent)["rules"]["concurrent_rule_eval"], "follows rules.concurrent_evals");
        assert!(on["templating_functions"]["humanizeDuration"] && on["templating_functions"]["query"] && !on["templating_functions"].contains_key("printf"));
        config.server.enable_admin_api = !config.server.enable_admin_api;
        config.storage.start_timestamp_zero_ingestion = true;
        config.storage.max_exemplars = 0;
        config.otlp.native_delta_ingestion = true;
        config.storage.type_and_unit_labels = true;
        config.storage.delayed_compaction = true;
        let changed = features(&config);
        assert!(!on["tsdb"]["delayed_compaction"] && changed["tsdb"]["delayed_compaction"], "follows storage.delayed_compaction");
        assert!(changed["scrape"]["type_and_unit_labels"] && changed["promql"]["type_and_unit_labels"], "follow storage.type_and_unit_labels");
        assert_eq!(changed["api"]["admin"], config.server.enable_admin_api);
        assert!(changed["scrape"]["start_timestamp_zero_ingestion"]);
        assert!(!changed["tsdb"]["exemplar_storage"]);
        assert!(changed["otlp_receiver"]["native_delta_ingestion"]);
        assert!(!on["otlp_receiver"]["delta_conversion"] && !changed["otlp_receiver"]["delta_conversion"]);
        let converting = Config { otlp: crate::config::OtlpConfig { delta_to_cumulative: true, ..Default::default() }, ..Config::default() };
        assert!(features(&converting)["otlp_receiver"]["delta_conversion"], "follows otlp.delta_to_cumulative");
        // None of the missing ones is in the table.
        for missing in PROMQL_FUNCTIONS_MISSING {
            assert!(promql::functions::FUNCTIONS.iter().all(|f| f.name != missing));
        }
        for of_start_times in PROMQL_FUNCTIONS_OF_START_TIMES {
            assert!(promql::functions::FUNCTIONS.iter().any(|f| f.name == of_start_times));
        }
        config.storage.start_timestamp_storage = true;
        let stored = features(&config);
        assert!(stored["promql_functions"]["start_timestamp"] && stored["tsdb"]["st_storage"] && stored["tsdb"]["histograms_st_encoding"]);
    }

    #[test]
    fn a_provider_is_said_supported_exactly_when_its_section_is_read() {
        for (provider, supported) in DISCOVERY_PROVIDERS {
            // `nerve` and `serverset` are Prometheus' `nerve_sd_configs`/`serverset_sd_configs`;
            // `static` is `static_configs`.
            let key = if provider == "static" { "static_configs".to_string() } else { format!("{provider}_sd_configs") };
            let yaml = format!("scrape_configs: [{{job_name: a, {key}: []}}]");
            let read = crate::scrape::config::ScrapeConfig::from_yaml(&yaml, std::path::Path::new("/"), Default::default());
            assert_eq!(read.is_ok(), supported, "{provider}: {read:?}", read = read.as_ref().err());
        }
    }
}
