//! Grouping aggregations: groupByNode(s), groupByTags and the *SeriesWithWildcards family.
//! Each group becomes one series named by its key, in order of first appearance.

use super::{align, combine, joined_paths, name_from_nodes};
use crate::aggr::Aggr;
use crate::args::{Args, Node};
use crate::series::path_of_name;
use crate::{Error, Series};

/// Aggregates the series of each group (in first-seen key order).
fn aggregate_groups(a: &Args<'_>, mut series: Vec<Series>, func: &str, key: impl Fn(&Series) -> String) -> Result<Vec<Series>, Error> {
    let aggr = Aggr::parse(func).map_err(|_| a.err(format!("unsupported aggregation function {func:?}")))?;
    let func = func.strip_suffix("Series").unwrap_or(func);
    align(&mut series, &a.ec);
    let mut groups: Vec<(String, Vec<Series>)> = Vec::new();
    for s in series {
        let k = key(&s);
        match groups.iter_mut().find(|g| g.0 == k) {
            Some(g) => g.1.push(s),
            None => groups.push((k, vec![s])),
        }
    }
    let mut out = Vec::with_capacity(groups.len());
    for (key, group) in groups {
        let inner = format!("{func}Series({})", joined_paths(&group, !aggr.is_ordered()));
        if let Some(mut s) = combine(&group, aggr, a.ec.x_files_factor, inner, func) {
            s.path_expression = s.tags.get("name").cloned().unwrap_or_default();
            s.name = key;
            out.push(s);
        }
    }
    Ok(out)
}

pub(super) async fn group_by_node(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let nodes = a.nodes(1)?;
    let node = nodes.into_iter().next().ok_or_else(|| a.err("missing nodeNum"))?;
    let callback = a.opt_string(2, "callback")?.unwrap_or("average");
    let series = a.series(0, "seriesList").await?;
    aggregate_groups(a, series, callback, |s| name_from_nodes(s, std::slice::from_ref(&node)))
}

pub(super) async fn group_by_nodes(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let callback = a.string(1, "callback")?;
    let nodes = a.nodes(2)?;
    let series = a.series(0, "seriesList").await?;
    aggregate_groups(a, series, callback, |s| name_from_nodes(s, &nodes))
}

pub(super) async fn group_by_tags(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let callback = a.string(1, "callback")?;
    let mut keys: Vec<&str> = Vec::new();
    for i in 2..a.positional_len() {
        keys.push(a.string(i, "tags")?);
    }
    if keys.is_empty() {
        return Err(a.err("at least one tag is required"));
    }
    keys.sort_unstable();
    keys.dedup();
    let series = a.series(0, "seriesList").await?;
    let func = callback.strip_suffix("Series").unwrap_or(callback);
    aggregate_groups(a, series, callback, |s| {
        let get = |k: &str| s.tags.get(k).map(String::as_str).unwrap_or("");
        let mut key = if keys.contains(&"name") { get("name").to_string() } else { func.to_string() };
        for k in keys.iter().filter(|k| **k != "name") {
            key.push_str(&format!(";{k}={}", get(k)));
        }
        key
    })
}

fn positions(a: &Args<'_>, from: usize) -> Result<Vec<i64>, Error> {
    a.nodes(from)?
        .into_iter()
        .map(|n| match n {
            Node::Index(i) => Ok(i),
            Node::Tag(_) => Err(a.type_err(from, "position", "integer")),
        })
        .collect()
}

fn without_positions(s: &Series, positions: &[i64]) -> String {
    let path = path_of_name(&s.name);
    path.split('.')
        .enumerate()
        .filter(|(i, _)| !positions.contains(&(*i as i64)))
        .map(|(_, p)| p)
        .collect::<Vec<_>>()
        .join(".")
}

pub(super) async fn with_wildcards(a: &Args<'_>, func: &str) -> Result<Vec<Series>, Error> {
    let positions = positions(a, 1)?;
    let series = a.series(0, "seriesList").await?;
    aggregate_groups(a, series, func, |s| without_positions(s, &positions))
}

pub(super) async fn aggregate_with_wildcards(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let func = a.string(1, "func")?;
    let positions = positions(a, 2)?;
    let series = a.series(0, "seriesList").await?;
    aggregate_groups(a, series, func, |s| without_positions(s, &positions))
}

#[cfg(test)]
mod tests {
    use crate::testutil::{check, eval, N};


    #[test]
    fn grouping() {
        // a.b.c = 1..5, a.b.d = 10,20,-,40,50, a.x.c = 5..1
        check(
            "groupByNode(a.*.*,1,'sum')",
            &[("b", &[Some(11.0), Some(22.0), Some(3.0), Some(44.0), Some(55.0)]), ("x", &[Some(5.0), Some(4.0), Some(3.0), Some(2.0), Some(1.0)])],
        );
        check(
            "groupByNode(a.*.*,2)",
            &[("c", &[Some(3.0); 5]), ("d", &[Some(10.0), Some(20.0), N, Some(40.0), Some(50.0)])],
        );
        check("groupByNodes(a.*.*,'max',0,2)", &[("a.c", &[Some(5.0), Some(4.0), Some(3.0), Some(4.0), Some(5.0)]), ("a.d", &[Some(10.0), Some(20.0), N, Some(40.0), Some(50.0)])]);
        check("sumSeriesWithWildcards(a.*.c,1)", &[("a.c", &[Some(6.0); 5])]);
        check("averageSeriesWithWildcards(a.*.c,1)", &[("a.c", &[Some(3.0); 5])]);
        check("aggregateWithWildcards(a.*.c,'min',1)", &[("a.c", &[Some(1.0), Some(2.0), Some(3.0), Some(2.0), Some(1.0)])]);
        let s = eval("groupByNode(a.*.c,0,'sum')").unwrap();
        assert_eq!(s[0].path_expression, "sumSeries(a.*.c)");
        assert_eq!(s[0].tags.get("aggregatedBy").map(String::as_str), Some("sum"));
    }

    #[test]
    fn group_by_tags() {
        check("groupByTags(seriesByTag('name=cpu'),'sum','dc')", &[("sum;dc=eu", &[Some(1.0), Some(1.0), Some(2.0), Some(3.0), Some(5.0)]), ("sum;dc=us", &[Some(2.0); 5])]);
        check("groupByTags(seriesByTag('name=cpu'),'max','name')", &[("cpu", &[Some(2.0), Some(2.0), Some(2.0), Some(3.0), Some(5.0)])]);
        assert!(eval("groupByTags(a.b.c,'sum')").is_err());
    }
}
