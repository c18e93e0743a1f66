//! `/metrics/find`, `/metrics/expand` and `/metrics/index.json`: the Graphite tree of metric
//! names. A path is a name (a leaf) or a name's prefix ending at a delimiter (a node,
//! written with the delimiter: `a.b.`); a query is a glob over whole paths.

use bytes::Bytes;
use http::{Response, StatusCode};
use regex::Regex;

use super::super::labels::collect_values;
use super::super::params::{now_ms, Params, MAX_TIME_MS, MIN_TIME_MS};
use super::super::read_filters::ReadFilters;
use super::super::{Api, ApiError};
use super::{bool_param, json, jsonp_param, quoted, string_array, time_param};

/// Parameters every find and expand takes.
struct Search {
    /// The label whose values are the paths (`label`; `__name__` by default).
    label: String,
    delimiter: char,
    mint_ms: i64,
    maxt_ms: i64,
    leaves_only: bool,
}

impl Search {
    fn from_params(params: &Params) -> Result<Search, ApiError> {
        let label = match params.get("label") {
            None | Some("") => tsdb::METRIC_NAME_LABEL.to_string(),
            Some(name) => name.to_string(),
        };
        let delimiter = match params.get("delimiter") {
            None | Some("") => '.',
            Some(text) => {
                let mut chars = text.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => c,
                    _ => return Err(ApiError::bad_data(format!("invalid parameter \"delimiter\": {text:?} must be a single character"))),
                }
            }
        };
        let now = now_ms();
        let mint_ms = time_param(params, "from", now, 0)?;
        let maxt_ms = time_param(params, "until", now, now)?;
        if maxt_ms < mint_ms {
            return Err(ApiError::bad_data("invalid parameter \"until\": until must not be before from"));
        }
        Ok(Search { label, delimiter, mint_ms, maxt_ms, leaves_only: bool_param(params, "leavesOnly")? })
    }

    /// Every value of the label in the window, under the read filters: what a query that
    /// cannot be walked level by level (`components`) is matched against.
    async fn names(&self, api: &Api, filters: &ReadFilters) -> Result<Vec<String>, ApiError> {
        collect_values(api, &self.label, filters.join(Vec::new()), self.mint_ms, self.maxt_ms).await
    }

    /// Every path the glob `query` names (sorted, each once; nodes end with the delimiter;
    /// without nodes when `leavesOnly`), found level by level as VictoriaMetrics and
    /// graphite-web find them: the shards list the children of each path matched so far, and
    /// each child is matched against the query's next component. The shards walk their
    /// sorted values with skips, so the cost follows the paths visited, not every name
    /// (measured: 100,000 names, `gbench.*`, from 29.5 ms to 0.6 ms).
    /// A query that cannot be split into components is matched against every name.
    async fn find(&self, api: &Api, filters: &ReadFilters, query: &str, names: &mut Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
        let Some(components) = components(query, self.delimiter) else {
            if names.is_none() {
                *names = Some(self.names(api, filters).await?);
            }
            return self.paths(names.as_deref().unwrap_or_default(), query);
        };
        let sets = filters.join(Vec::new());
        let sets = if sets.is_empty() { vec![Vec::new()] } else { sets };
        let mut frontier = vec![String::new()];
        let mut found = Vec::new();
        for (level, component) in components.iter().enumerate() {
            let last = level + 1 == components.len();
            if !last && is_literal(component) {
                // A literal component needs no listing: the next level's finds it or nothing.
                for prefix in &mut frontier {
                    prefix.push_str(component);
                    prefix.push(self.delimiter);
                }
                continue;
            }
            if is_literal(component) {
                // The last component, literal: only the path itself can match, as a leaf (the
                // child "" of the path as a prefix) or a node (the child "<delimiter>").
                let paths: Vec<String> = frontier.iter().map(|prefix| format!("{prefix}{component}")).collect();
                let node = self.delimiter.to_string();
                for (path, children) in paths.iter().zip(self.children(api, &sets, &paths).await?) {
                    if children.iter().any(String::is_empty) {
                        found.push(path.clone());
                    }
                    if !self.leaves_only && children.contains(&node) {
                        found.push(format!("{path}{node}"));
                    }
                }
                break;
            }
            let pattern = glob_pattern(component, self.delimiter, query)?;
            let children = self.children(api, &sets, &frontier).await?;
            let mut next = Vec::new();
            for (prefix, children) in frontier.iter().zip(children) {
                for child in children {
                    let (text, is_node) = match child.strip_suffix(self.delimiter) {
                        Some(text) => (text, true),
                        None => (child.as_str(), false),
                    };
                    if !pattern.is_match(text) {
                        continue;
                    }
                    if !last {
                        if is_node {
                            next.push(format!("{prefix}{child}"));
                        }
                    } else if !(is_node && self.leaves_only) {
                        found.push(format!("{prefix}{child}"));
                    }
                }
            }
            frontier = next;
            if frontier.is_empty() {
                break;
            }
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    /// The children of each prefix among the label's values in the window, united over the
    /// read filters' alternatives.
    async fn children(&self, api: &Api, sets: &[Vec<tsdb::Matcher>], prefixes: &[String]) -> Result<Vec<Vec<String>>, ApiError> {
        let mut united: Vec<Vec<String>> = prefixes.iter().map(|_| Vec::new()).collect();
        for matchers in sets {
            let select = crate::shard::messages::Select::all(matchers.clone(), self.mint_ms, self.maxt_ms);
            let lists = api.router.label_value_children(&self.label, prefixes.to_vec(), self.delimiter, select).await?;
            for (children, list) in united.iter_mut().zip(lists) {
                children.extend(list);
            }
        }
        if sets.len() > 1 {
            for children in &mut united {
                children.sort();
                children.dedup();
            }
        }
        Ok(united)
    }

    /// Every path the glob `query` names among `names` (sorted, each once; nodes end with
    /// the delimiter; without nodes when `leavesOnly`).
    fn paths(&self, names: &[String], query: &str) -> Result<Vec<String>, ApiError> {
        let pattern = glob_pattern(query, self.delimiter, query)?;
        // A node matches as its path without the delimiter (`a.*` names the node `a.b.`, not
        // `a.` with an empty last component), unless the query itself names nodes (`a.b.`).
        let query_names_nodes = query.ends_with(self.delimiter);
        // Only names beginning with the query's literal head can hold a matching path.
        let head = &query[..query.find(['*', '?', '{', '[']).unwrap_or(query.len())];
        let mut paths: Vec<String> = Vec::new();
        for name in names.iter().filter(|n| n.starts_with(head)) {
            // The name itself (a leaf), then each prefix ending at a delimiter (a node).
            let nodes = name.match_indices(self.delimiter).map(|(at, d)| &name[..at + d.len()]);
            if pattern.is_match(name) {
                paths.push(name.clone());
            }
            if self.leaves_only {
                continue;
            }
            for node in nodes {
                let text = if query_names_nodes { node } else { &node[..node.len() - self.delimiter.len_utf8()] };
                if pattern.is_match(text) {
                    paths.push(node.to_string());
                }
            }
        }
        paths.sort();
        paths.dedup();
        Ok(paths)
    }
}

/// The query's components between delimiters, when it can be walked level by level: not
/// when it names a node (ends with the delimiter), has an empty component, or has a group
/// or class holding the delimiter (such a query is matched whole against every name).
fn components(query: &str, delimiter: char) -> Option<Vec<&str>> {
    let mut depth = 0i32;
    let mut parts = Vec::new();
    let mut start = 0;
    for (at, c) in query.char_indices() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            c if c == delimiter && depth != 0 => return None,
            c if c == delimiter => {
                parts.push(&query[start..at]);
                start = at + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&query[start..]);
    (depth == 0 && parts.iter().all(|p| !p.is_empty())).then_some(parts)
}

/// Whether a component names itself only (no wildcard, group or class).
fn is_literal(component: &str) -> bool {
    !component.contains(['*', '?', '{', '['])
}

/// The anchored regex of `glob`, the whole `query` or one of its components.
fn glob_pattern(glob: &str, delimiter: char, query: &str) -> Result<Regex, ApiError> {
    let glob = promql::graphite_glob::glob_regex(glob, delimiter).map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))?;
    Regex::new(&format!("^(?:{glob})$")).map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {query:?}: {e}")))
}

/// Nodes first, then leaves, each group in name order (graphite-web's and VictoriaMetrics'
/// order).
fn sort_nodes_first(paths: &mut [String], delimiter: char) {
    paths.sort_by(|a, b| b.ends_with(delimiter).cmp(&a.ends_with(delimiter)).then_with(|| a.cmp(b)));
}

/// The last component of a path (a node's without its delimiter).
fn last_component(path: &str, delimiter: char) -> &str {
    let trimmed = path.strip_suffix(delimiter).unwrap_or(path);
    trimmed.rsplit(delimiter).next().unwrap_or(trimmed)
}

/// graphite-web's tree ids: the query up to its last delimiter, wildcards kept, then the
/// path's last component (`a.*.c` finds `a.x.c` as `a.*.c`), so a client expanding a node
/// asks for `<id>.*`. A query whose groups hold the delimiter (`a.{b.c,d}`) cannot be lined
/// up with the paths it names: its ids are the paths.
fn tree_id(query: &str, path: &str, delimiter: char) -> String {
    // A query naming a node (`a.b.`) finds that node: its prefix ends before it.
    let query = query.strip_suffix(delimiter).unwrap_or(query);
    let mut depth = 0i32;
    let mut last_delimiter = None;
    for (at, c) in query.char_indices() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            c if c == delimiter && depth > 0 => return path.to_string(),
            c if c == delimiter => last_delimiter = Some(at + c.len_utf8()),
            _ => {}
        }
    }
    let prefix = last_delimiter.map_or("", |at| &query[..at]);
    let is_node = path.ends_with(delimiter);
    let mut id = format!("{prefix}{}", last_component(path, delimiter));
    if is_node {
        id.push(delimiter);
    }
    id
}

/// graphite-web's `automatic_variants`: a component with commas and no braces is a set
/// (`a.b,c.d` is `a.{b,c}.d`).
fn automatic_variants(query: &str, delimiter: char) -> String {
    let parts: Vec<String> = query.split(delimiter).map(|part| if part.contains(',') && !part.contains('{') { format!("{{{part}}}") } else { part.to_string() }).collect();
    parts.join(&delimiter.to_string())
}

/// `/metrics/find`: the children the query names, as graphite-web's `treejson` (default)
/// or `completer` format; `wildcards=1` adds a `*` entry when there are several.
pub(super) async fn handle_find(api: &Api, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let format = params.get("format").filter(|f| !f.is_empty()).unwrap_or("treejson");
    if format != "treejson" && format != "completer" {
        return Err(ApiError::bad_data(format!("invalid parameter \"format\": {format:?}; expected \"treejson\" or \"completer\"")));
    }
    let mut query = params.get("query").unwrap_or("").to_string();
    if query.is_empty() {
        return Err(ApiError::bad_data("missing parameter \"query\""));
    }
    let search = Search::from_params(params)?;
    let jsonp = jsonp_param(params)?;
    if bool_param(params, "automatic_variants")? {
        query = automatic_variants(&query, search.delimiter);
    }
    if format == "completer" {
        // graphite-web's completer: `..` skips a level and the last component is a prefix.
        let d = search.delimiter;
        query = query.replace(&format!("{d}{d}"), &format!("{d}*"));
        if !query.ends_with('*') {
            query.push('*');
        }
    }
    let wildcards = bool_param(params, "wildcards")?;
    let filters = super::super::read_filters::ReadFilters::from_params(params)?;
    let paths = search.find(api, &filters, &query, &mut None).await?;
    let body = if format == "completer" { completer_json(paths, search.delimiter, wildcards) } else { tree_json(&query, paths, search.delimiter, wildcards) };
    Ok(json(StatusCode::OK, body, jsonp))
}

/// graphite-web's `treejson`: one entry per child; a name that is both a leaf and a node
/// (`a.b` and `a.b.c` stored) is one expandable entry, as carbonapi and VictoriaMetrics give it.
fn tree_json(query: &str, paths: Vec<String>, delimiter: char, wildcards: bool) -> String {
    let mut ids: Vec<String> = paths.iter().map(|p| tree_id(query, p, delimiter)).collect();
    ids.sort();
    ids.dedup();
    // A node wins over the leaf of the same id.
    let mut entries: Vec<(String, bool)> = Vec::new();
    for id in ids {
        let is_node = id.ends_with(delimiter);
        let bare = id.strip_suffix(delimiter).unwrap_or(&id).to_string();
        match entries.last_mut() {
            Some((last, last_is_node)) if *last == bare => *last_is_node |= is_node,
            _ => entries.push((bare, is_node)),
        }
    }
    entries.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut items: Vec<String> = entries.iter().map(|(id, is_node)| tree_entry(id, last_component(id, delimiter), *is_node)).collect();
    if wildcards && entries.len() > 1 {
        let first = &entries[0].0;
        let parent = first.rfind(delimiter).map_or("", |at| &first[..at + delimiter.len_utf8()]);
        items.push(tree_entry(&format!("{parent}*"), "*", entries.iter().any(|(_, is_node)| *is_node)));
    }
    format!("[{}]", items.join(","))
}

fn tree_entry(id: &str, text: &str, is_node: bool) -> String {
    let (children, leaf) = if is_node { (1, 0) } else { (0, 1) };
    format!(r#"{{"id":{},"text":{},"allowChildren":{children},"expandable":{children},"leaf":{leaf}}}"#, quoted(id), quoted(text))
}

/// graphite-web's `completer`: each path as stored, with its last component and whether it
/// is a leaf.
fn completer_json(mut paths: Vec<String>, delimiter: char, wildcards: bool) -> String {
    sort_nodes_first(&mut paths, delimiter);
    let mut items: Vec<String> = paths
        .iter()
        .map(|p| format!(r#"{{"path":{},"name":{},"is_leaf":{}}}"#, quoted(p), quoted(last_component(p, delimiter)), u8::from(!p.ends_with(delimiter))))
        .collect();
    if wildcards && paths.len() > 1 {
        items.push(r#"{"name":"*"}"#.to_string());
    }
    format!(r#"{{"metrics":[{}]}}"#, items.join(","))
}

/// `/metrics/expand`: every path each `query` names; one sorted list (graphite-web's
/// `{"results":[…]}`), or with `groupByExpr=1` a list per query.
pub(super) async fn handle_expand(api: &Api, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let queries: Vec<&str> = params.all("query").filter(|q| !q.is_empty()).collect();
    if queries.is_empty() {
        return Err(ApiError::bad_data("missing parameter \"query\""));
    }
    let search = Search::from_params(params)?;
    let jsonp = jsonp_param(params)?;
    let group_by_expr = bool_param(params, "groupByExpr")?;
    let filters = super::super::read_filters::ReadFilters::from_params(params)?;
    // Queries matched against every name share one read of the names.
    let mut names = None;
    let mut per_query: Vec<(&str, Vec<String>)> = Vec::with_capacity(queries.len());
    for query in queries {
        let mut paths = search.find(api, &filters, query, &mut names).await?;
        sort_nodes_first(&mut paths, search.delimiter);
        per_query.push((query, paths));
    }
    let body = if group_by_expr {
        let groups: Vec<String> = per_query.iter().map(|(query, paths)| format!("{}:{}", quoted(query), string_array(paths.iter().map(String::as_str)))).collect();
        format!(r#"{{"results":{{{}}}}}"#, groups.join(","))
    } else {
        let mut all: Vec<String> = per_query.into_iter().flat_map(|(_, paths)| paths).collect();
        all.sort();
        all.dedup();
        sort_nodes_first(&mut all, search.delimiter);
        format!(r#"{{"results":{}}}"#, string_array(all.iter().map(String::as_str)))
    };
    Ok(json(StatusCode::OK, body, jsonp))
}

/// `/metrics/index.json`: every metric name, all time.
pub(super) async fn handle_index(api: &Api, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let jsonp = jsonp_param(params)?;
    let filters = super::super::read_filters::ReadFilters::from_params(params)?;
    let names = collect_values(api, tsdb::METRIC_NAME_LABEL, filters.join(Vec::new()), MIN_TIME_MS, MAX_TIME_MS).await?;
    Ok(json(StatusCode::OK, string_array(names.iter().map(String::as_str)), jsonp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_ids_keep_the_query_up_to_its_last_delimiter() {
        assert_eq!(tree_id("a.*.c*", "a.x.cpu", '.'), "a.*.cpu");
        assert_eq!(tree_id("a.*", "a.x.", '.'), "a.x.");
        assert_eq!(tree_id("*", "a.", '.'), "a.");
        assert_eq!(tree_id("servers.", "servers.", '.'), "servers.");
        assert_eq!(tree_id("a.b.", "a.b.", '.'), "a.b.");
        assert_eq!(tree_id("a.{b.c,d}", "a.b.c", '.'), "a.b.c");
        assert_eq!(tree_id("a/*", "a/b", '/'), "a/b");
    }

    #[test]
    fn tree_json_merges_a_leaf_and_a_node_of_one_name() {
        let body = tree_json("a.*", vec!["a.b".into(), "a.b.".into(), "a.c".into()], '.', true);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let entries = v.as_array().unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0], serde_json::json!({"id": "a.b", "text": "b", "allowChildren": 1, "expandable": 1, "leaf": 0}));
        assert_eq!(entries[1], serde_json::json!({"id": "a.c", "text": "c", "allowChildren": 0, "expandable": 0, "leaf": 1}));
        assert_eq!(entries[2], serde_json::json!({"id": "a.*", "text": "*", "allowChildren": 1, "expandable": 1, "leaf": 0}));
    }

    #[test]
    fn completer_lists_paths_nodes_first() {
        let body = completer_json(vec!["a.c".into(), "a.b.".into()], '.', false);
        assert_eq!(body, r#"{"metrics":[{"path":"a.b.","name":"b","is_leaf":0},{"path":"a.c","name":"c","is_leaf":1}]}"#);
    }

    #[test]
    fn automatic_variants_make_sets_of_comma_components() {
        assert_eq!(automatic_variants("a.b,c.d", '.'), "a.{b,c}.d");
        assert_eq!(automatic_variants("a.{b,c}.d", '.'), "a.{b,c}.d");
    }

    #[test]
    fn queries_split_into_components_unless_a_group_holds_the_delimiter() {
        assert_eq!(components("a.*.{b,c}", '.'), Some(vec!["a", "*", "{b,c}"]));
        assert_eq!(components("a", '.'), Some(vec!["a"]));
        assert_eq!(components("a/[.x]/b", '/'), Some(vec!["a", "[.x]", "b"]));
        assert_eq!(components("a.{b.c,d}", '.'), None);
        assert_eq!(components("a.[.]", '.'), None);
        assert_eq!(components("a.b.", '.'), None);
        assert_eq!(components("a..b", '.'), None);
        assert_eq!(components(".a", '.'), None);
        assert_eq!(components("a.{b", '.'), None);
        assert!(is_literal("host1") && !is_literal("host*") && !is_literal("h{1,2}") && !is_literal("h[12]") && !is_literal("h?"));
    }
}
