//! VictoriaMetrics' `extra_label=name=value` and `extra_filters[]=<series selector>` parameters
//! on the read endpoints, and `tls.read_filters` (`IdentityFilters`): every series selector the
//! request makes (each `match[]`, each vector selector of a query) also has to match them. An
//! endpoint that reads series either applies them or refuses the request; it never ignores them.

use std::collections::{BTreeMap, HashMap};

use tsdb::{MatchOp, Matcher};

use super::params::Params;
use super::ApiError;

/// The filters a read request carries: alternatives, each a list of matchers; none when the
/// request names no `extra_label` and no `extra_filters`. Tenant proxies (vmauth,
/// prom-label-proxy-style setups) add these parameters to every URL to confine a user to the
/// series of one tenant. On the write endpoints `extra_label` means something else (a label
/// set on what is written, `extra_labels`).
#[derive(Clone, Debug, Default)]
pub struct ReadFilters {
    alternatives: Vec<Vec<Matcher>>,
}

impl ReadFilters {
    /// The request's `extra_label`s and `extra_filters`, as VictoriaMetrics 1.79 reads them
    /// (`GetExtraTagFilters`, `JoinTagFilterss`): the `extra_label`s are equality matchers
    /// added to every filter; each `extra_filters` (or `extra_filters[]`) selector is one
    /// alternative, the `extra_label`s added to each; a series passes when it matches one
    /// alternative. A malformed one is a 400 naming it.
    pub(super) fn from_params(params: &Params) -> Result<ReadFilters, ApiError> {
        let mut labels = Vec::new();
        for raw in params.all("extra_label") {
            let Some((name, value)) = raw.split_once('=') else {
                return Err(ApiError::bad_data(format!("invalid parameter \"extra_label\": must have the form name=value; got {raw:?}")));
            };
            if name.is_empty() || value.is_empty() {
                return Err(ApiError::bad_data(format!("invalid parameter \"extra_label\": needs a label name and a non-empty value; got {raw:?}")));
            }
            let matcher = Matcher::new(MatchOp::Equal, name, value).map_err(|e| ApiError::bad_data(format!("invalid parameter \"extra_label\": {e}")))?;
            labels.push(matcher);
        }
        let mut alternatives = Vec::new();
        for (param, text) in params.all("extra_filters").map(|t| ("extra_filters", t)).chain(params.all("extra_filters[]").map(|t| ("extra_filters[]", t))) {
            // As in VictoriaMetrics, a filter may consist of matchers of the empty value only
            // (`{team!="a"}`): it narrows selectors, it never selects on its own.
            let mut matchers = promql::parse_narrowing_selector(text).map_err(|e| ApiError::bad_data(format!("invalid parameter \"{param}\": {e}")))?;
            if matchers.is_empty() {
                return Err(ApiError::bad_data(format!("invalid parameter \"{param}\": {text:?} has no label matcher")));
            }
            matchers.extend(labels.iter().cloned());
            alternatives.push(matchers);
        }
        if alternatives.is_empty() && !labels.is_empty() {
            alternatives.push(labels);
        }
        Ok(ReadFilters { alternatives }.and(params.confinement()))
    }

    /// Series must pass both these filters and `other`: each alternative joined with each of
    /// `other`'s (either alone when the other has none).
    pub fn and(self, other: &ReadFilters) -> ReadFilters {
        if other.is_empty() {
            return self;
        }
        ReadFilters { alternatives: self.join(other.alternatives.clone()) }
    }

    pub fn is_empty(&self) -> bool {
        self.alternatives.is_empty()
    }

    /// The alternatives (empty when there are no filters).
    pub fn alternatives(&self) -> &[Vec<Matcher>] {
        &self.alternatives
    }

    /// `sets` (selectors of which a series must match one) with the filters enforced: each set
    /// joined with each alternative. No `sets` (a listing of everything) gives the
    /// alternatives themselves; no filters gives `sets` unchanged.
    pub fn join(&self, sets: Vec<Vec<Matcher>>) -> Vec<Vec<Matcher>> {
        if self.alternatives.is_empty() {
            return sets;
        }
        if sets.is_empty() {
            return self.alternatives.clone();
        }
        sets.iter().flat_map(|set| self.alternatives.iter().map(move |alternative| set.iter().chain(alternative).cloned().collect())).collect()
    }

    /// The filters as text, for cache keys: empty when there are none, and equal for requests
    /// that filter the same way.
    pub fn key(&self) -> String {
        let mut key = String::new();
        for alternative in &self.alternatives {
            key.push('{');
            for matcher in alternative {
                key.push_str(&format!("{matcher},"));
            }
            key.push('}');
        }
        key
    }

    /// A 400 for an endpoint that cannot apply the filters (answering unfiltered would show a
    /// confined client what it must not see).
    pub fn refuse_unless_empty(&self, endpoint: &str) -> Result<(), ApiError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ApiError::bad_data(format!(
                "{endpoint} cannot confine its answer to the series that extra_label, extra_filters or this client's tls.read_filters allow"
            )))
        }
    }
}

/// `tls.read_filters`: per client identity (a certificate SAN or CN), the series selectors
/// its reads are confined to (a series passes when it matches one), without a proxy. A listed
/// identity's reads must match one of its selectors as well as whatever filters its requests
/// carry, on every read endpoint of both ports and over gRPC.
#[derive(Debug, Default)]
pub struct IdentityFilters {
    by_identity: HashMap<String, ReadFilters>,
}

impl IdentityFilters {
    /// Compiles the configuration; names the identity and selector that do not parse.
    pub fn from_config(config: &BTreeMap<String, Vec<String>>) -> Result<IdentityFilters, String> {
        let mut by_identity = HashMap::new();
        for (identity, selectors) in config {
            if selectors.is_empty() {
                return Err(format!("{identity:?} needs at least one series selector"));
            }
            let mut alternatives = Vec::new();
            for selector in selectors {
                let matchers = promql::parse_narrowing_selector(selector).map_err(|e| format!("{identity:?}: {selector:?}: {e}"))?;
                if matchers.is_empty() {
                    return Err(format!("{identity:?}: {selector:?} has no label matcher"));
                }
                alternatives.push(matchers);
            }
            by_identity.insert(identity.clone(), ReadFilters { alternatives });
        }
        Ok(IdentityFilters { by_identity })
    }

    /// The filters a client with `peer`'s certificate is confined to: the selectors of each of
    /// its identities (SANs, CN) that is listed, any of them; none when none is listed.
    pub fn for_peer(&self, peer: Option<&net::PeerInfo>) -> ReadFilters {
        let Some(identity) = peer.and_then(|p| p.identity.as_ref()) else {
            return ReadFilters::default();
        };
        if self.by_identity.is_empty() {
            return ReadFilters::default();
        }
        let mut names: Vec<&String> = identity.sans.iter().chain(identity.common_name.as_ref()).collect();
        names.sort();
        names.dedup();
        let alternatives = names.into_iter().filter_map(|name| self.by_identity.get(name)).flat_map(|f| f.alternatives.iter().cloned()).collect();
        ReadFilters { alternatives }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(query: &str) -> Result<ReadFilters, ApiError> {
        ReadFilters::from_params(&Params::from_request(Some(query), None).expect("params"))
    }

    fn shown(sets: &[Vec<Matcher>]) -> Vec<String> {
        sets.iter().map(|set| set.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(",")).collect()
    }

    #[test]
    fn extra_labels_are_one_alternative_and_join_every_extra_filter() {
        assert!(filters("query=up").expect("none").is_empty());
        let f = filters("extra_label=job=vmagent&extra_label=dc=gce").expect("labels");
        assert_eq!(shown(f.alternatives()), vec![r#"job="vmagent",dc="gce""#]);
        let f = filters("extra_label=dc=gce&extra_filters=%7Bfoo%3D%22bar%22%7D&extra_filters[]=%7Bx%3D~%22y%7Cz%22%7D").expect("both");
        assert_eq!(shown(f.alternatives()), vec![r#"foo="bar",dc="gce""#, r#"x=~"y|z",dc="gce""#]);
        // A filter may match the empty value only: it narrows, as in VictoriaMetrics.
        let f = filters("extra_filters=%7Bteam%21%3D%22a%22%7D").expect("negative filter");
        assert_eq!(shown(f.alternatives()), vec![r#"team!="a""#]);
    }

    #[test]
    fn join_adds_each_alternative_to_each_selector() {
        let f = filters("extra_filters[]=%7Ba%3D%221%22%7D&extra_filters[]=%7Bb%3D%222%22%7D").expect("filters");
        let sets = vec![promql::parse_series_selector("up").expect("up"), promql::parse_series_selector("down").expect("down")];
        assert_eq!(shown(&f.join(sets.clone())), vec![r#"__name__="up",a="1""#, r#"__name__="up",b="2""#, r#"__name__="down",a="1""#, r#"__name__="down",b="2""#]);
        // A listing of everything is confined to the alternatives; no filters leave sets as they are.
        assert_eq!(shown(&f.join(Vec::new())), vec![r#"a="1""#, r#"b="2""#]);
        assert_eq!(shown(&ReadFilters::default().join(sets)), vec![r#"__name__="up""#, r#"__name__="down""#]);
        assert_ne!(f.key(), filters("extra_filters[]=%7Ba%3D%221%22%7D").expect("one").key());
        assert_eq!(ReadFilters::default().key(), "");
    }

    #[test]
    fn malformed_filters_are_refused_naming_the_parameter() {
        let refused = [
            ("extra_label=job", "extra_label"),
            ("extra_label==x", "extra_label"),
            ("extra_label=job=", "extra_label"),
            ("extra_filters=%7Bbad", "extra_filters"),
            ("extra_filters[]=1%2B1", "extra_filters[]"),
            ("extra_filters[]=%7B%7D", "extra_filters[]"),
            ("extra_filters[]=x%5B5m%5D", "extra_filters[]"),
        ];
        for (query, named) in refused {
            let error = filters(query).expect_err(query);
            assert_eq!(error.status, http::StatusCode::BAD_REQUEST, "{query}");
            assert!(error.message.contains(&format!("\"{named}\"")), "{query}: {}", error.message);
        }
        assert!(ReadFilters::default().refuse_unless_empty("/api/v1/status/top_queries").is_ok());
        let error = filters("extra_label=a=b").expect("filters").refuse_unless_empty("/api/v1/status/top_queries").expect_err("refused");
        assert!(error.message.contains("/api/v1/status/top_queries"), "{}", error.message);
    }

    fn peer(sans: &[&str], common_name: Option<&str>) -> net::PeerInfo {
        let identity = net::tls::ClientIdentity { sans: sans.iter().map(|s| s.to_string()).collect(), common_name: common_name.map(str::to_string) };
        net::PeerInfo { addr: "127.0.0.1:1".parse().expect("addr"), identity: Some(identity) }
    }

    #[test]
    fn an_identity_is_confined_to_its_selectors_and_a_request_narrows_them_further() {
        let config: BTreeMap<String, Vec<String>> = [
            ("grafana-a".to_string(), vec![r#"{team="a"}"#.to_string()]),
            ("ops".to_string(), vec![r#"{team!="secret"}"#.to_string(), r#"{job="node"}"#.to_string()]),
        ]
        .into_iter()
        .collect();
        let identities = IdentityFilters::from_config(&config).expect("valid");
        assert_eq!(shown(identities.for_peer(Some(&peer(&["grafana-a"], None))).alternatives()), vec![r#"team="a""#]);
        // The CN counts as an identity too; several listed identities give any of their selectors.
        assert_eq!(shown(identities.for_peer(Some(&peer(&["grafana-a"], Some("ops")))).alternatives()), vec![r#"team="a""#, r#"team!="secret""#, r#"job="node""#]);
        assert!(identities.for_peer(Some(&peer(&["other"], Some("x")))).is_empty(), "unlisted identities are not confined");
        assert!(identities.for_peer(None).is_empty());
        // A request's own filters narrow its identity's, never widen them.
        let confined = Params::from_request(Some("extra_filters[]=%7Bteam%3D%22b%22%7D&extra_label=env=prod"), None)
            .expect("params")
            .confined_to(identities.for_peer(Some(&peer(&["grafana-a"], None))));
        let f = ReadFilters::from_params(&confined).expect("filters");
        assert_eq!(shown(f.alternatives()), vec![r#"team="a",team="b",env="prod""#]);
        let plain = Params::from_request(Some("query=up"), None).expect("params").confined_to(identities.for_peer(Some(&peer(&["ops"], None))));
        assert_eq!(ReadFilters::from_params(&plain).expect("filters").alternatives().len(), 2);
        // Bad configuration names the identity and the selector.
        for (selectors, named) in [(vec![], "needs at least one"), (vec!["{team=".to_string()], "{team="), (vec!["{}".to_string()], "no label matcher")] {
            let config: BTreeMap<String, Vec<String>> = [("grafana-b".to_string(), selectors)].into_iter().collect();
            let error = IdentityFilters::from_config(&config).expect_err("invalid");
            assert!(error.contains("grafana-b") && error.contains(named), "{error}");
        }
    }
}
