//! Functions that evaluate further targets: aliasQuery, applyByNode and useSeriesAbove
//! build target text from series names and evaluate it one level deeper (through the
//! parser, the depth limit and the caller's Fetcher); mapSeries and reduceSeries hand
//! groups of already evaluated series to another function.

use std::collections::{BTreeSet, HashMap};

use super::alias::replacement;
use super::name_from_nodes;
use crate::aggr::Aggr;
use crate::args::Args;
use crate::eval::eval_expr;
use crate::parse::{Arg, Call, Expr, MAX_DEPTH};
use crate::pyfmt::percent_format;
use crate::{parse_target, Error, Series};

/// Most targets one call may build and evaluate (one per series for aliasQuery, one per
/// prefix for applyByNode, one per group for reduceSeries).
const SUBQUERIES_PER_CALL_MAX: usize = 10_000;

fn check_subqueries(a: &Args<'_>, n: usize) -> Result<(), Error> {
    if n > SUBQUERIES_PER_CALL_MAX {
        return Err(a.err(format!("{n} targets to evaluate exceed the limit of {SUBQUERIES_PER_CALL_MAX}")));
    }
    Ok(())
}

/// Parses and evaluates a target built by a function, one level below it.
async fn eval_text(a: &Args<'_>, target: &str) -> Result<Vec<Series>, Error> {
    let expr = parse_target(target)?;
    eval_expr(a.fetcher, a.ec, &expr, a.depth + 1).await
}

/// aliasQuery(seriesList, search, replace, newName): each series is named by `newName`
/// %-formatted with the last value of the series its rewritten name selects.
pub(super) async fn alias_query(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(4)?;
    let re = a.regex(1, "search")?;
    let replace = replacement(a.string(2, "replace")?);
    let new_name = a.string(3, "newName")?;
    let mut series = a.series(0, "seriesList").await?;
    check_subqueries(a, series.len())?;
    for s in &mut series {
        let query = re.replace_all(&s.name, replace.as_str()).into_owned();
        let found = eval_text(a, &query).await?;
        let first = found.first().ok_or_else(|| a.err(format!("no series found with query {query:?}")))?;
        let current = Aggr::Last.apply(&first.values);
        if current.is_nan() {
            return Err(a.err(format!("cannot get the last value of series {:?}", first.name)));
        }
        s.name = percent_format(new_name, current).map_err(|e| a.err(format!("newName {new_name:?}: {e}")))?;
    }
    Ok(series)
}

/// applyByNode(seriesList, nodeNum, templateFunction, newName=None): for every distinct
/// name prefix up to node `nodeNum` (sorted), the template with `%` replaced by the prefix.
pub(super) async fn apply_by_node(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(4)?;
    let node = a.int(1, "nodeNum")?;
    if node < 0 {
        return Err(a.err(format!("nodeNum must not be negative; got {node}")));
    }
    let template = a.string(2, "templateFunction")?;
    let new_name = a.opt_string(3, "newName")?.filter(|n| !n.is_empty());
    let series = a.series(0, "seriesList").await?;
    let mut prefixes = BTreeSet::new();
    for s in &series {
        let nodes: Vec<&str> = s.name.split('.').collect();
        let Some(head) = nodes.get(..=node as usize) else {
            return Err(a.err(format!("{:?} has no node {node}", s.name)));
        };
        prefixes.insert(head.join("."));
    }
    check_subqueries(a, prefixes.len())?;
    let mut out = Vec::new();
    for prefix in &prefixes {
        for mut s in eval_text(a, &template.replace('%', prefix)).await? {
            if let Some(n) = new_name {
                s.name = n.replace('%', prefix);
            }
            s.path_expression = prefix.clone();
            out.push(s);
        }
    }
    Ok(out)
}

/// useSeriesAbove(seriesList, value, search, replace): the series named by rewriting the
/// names of those whose maximum exceeds `value`, fetched as one group.
pub(super) async fn use_series_above(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(4)?;
    let value = a.number(1, "value")?;
    let re = a.regex(2, "search")?;
    let replace = replacement(a.string(3, "replace")?);
    let series = a.series(0, "seriesList").await?;
    let names: Vec<String> = series
        .iter()
        .filter(|s| Aggr::Max.apply(&s.values) > value)
        .map(|s| re.replace_all(&s.name, replace.as_str()).into_owned())
        .collect();
    if names.is_empty() {
        return Ok(vec![]);
    }
    let found = eval_text(a, &format!("group({})", names.join(","))).await?;
    Ok(found.into_iter().filter(|s| !s.values.is_empty()).collect())
}

/// mapSeries(seriesList, *mapNodes): the series grouped by the given nodes, groups in order
/// of first appearance. A series list cannot nest here, so the groups come back one after
/// another, which is all reduceSeries needs.
pub(super) async fn map_series(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let nodes = a.nodes(1)?;
    if nodes.is_empty() {
        return Err(a.err("at least one mapNode is required"));
    }
    let series = a.series(0, "seriesList").await?;
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<Vec<Series>> = Vec::new();
    for s in series {
        let key = name_from_nodes(&s, &nodes);
        let i = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[i].push(s);
    }
    Ok(groups.into_iter().flatten().collect())
}

/// reduceSeries(seriesLists, reduceFunction, reduceNode, *reduceMatchers): series whose
/// node `reduceNode` equals a matcher are gathered under the name prefix before that node;
/// each gathering calls `reduceFunction` with one series per matcher, in matcher order,
/// and its first result is named `prefix.reduce.reduceFunction`.
pub(super) async fn reduce_series(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let func = a.string(1, "reduceFunction")?;
    let node = a.int(2, "reduceNode")?;
    let matchers: Vec<&str> = (3..a.positional_len()).map(|i| a.string(i, "reduceMatchers")).collect::<Result<_, _>>()?;
    if matchers.is_empty() {
        return Err(a.err("at least one reduceMatcher is required"));
    }
    if a.depth + 1 > MAX_DEPTH {
        return Err(Error::TooDeep(MAX_DEPTH));
    }
    let series = a.series(0, "seriesLists").await?;
    let mut keys: Vec<(String, Vec<Option<Series>>)> = Vec::new();
    for s in series {
        let nodes: Vec<&str> = s.name.split('.').collect();
        let idx = if node < 0 { nodes.len() as i64 + node } else { node };
        let Some(value) = usize::try_from(idx).ok().and_then(|i| nodes.get(i)) else {
            return Err(a.err(format!("{:?} has no node {node}", s.name)));
        };
        let Some(slot) = matchers.iter().position(|m| m == value) else { continue };
        let key = format!("{}.reduce.{func}", nodes[..idx as usize].join("."));
        let i = match keys.iter().position(|k| k.0 == key) {
            Some(i) => i,
            None => {
                keys.push((key, vec![None; matchers.len()]));
                keys.len() - 1
            }
        };
        keys[i].1[slot] = Some(s);
    }
    check_subqueries(a, keys.len())?;
    let mut out = Vec::with_capacity(keys.len());
    for (key, slots) in keys {
        let mut bound = Vec::with_capacity(slots.len());
        for (i, slot) in slots.into_iter().enumerate() {
            let s = slot.ok_or_else(|| a.err(format!("no series matches {:?} for {key}", matchers[i])))?;
            // A path no target can spell: it only ever resolves to the bound series.
            bound.push((format!("\u{0}reduce{i}"), vec![s]));
        }
        let args = bound.iter().map(|b| Arg { name: None, value: Expr::Path(b.0.clone()) }).collect();
        let call = Call { name: func.to_string(), args, piped: false };
        let inner = Args::with_bound(a.fetcher, a.ec, &call, a.depth + 1, &bound);
        let result = Box::pin(super::call(&inner)).await?;
        let mut s = result.into_iter().next().ok_or_else(|| a.err(format!("{func} gave no series for {key}")))?;
        s.name = key;
        out.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::testutil::{check, eval, names, points as s, FakeFetcher, block_on, config, raw, N};
    use crate::{render, Error};

    #[test]
    fn alias_query_names_from_another_series() {
        // a.b.c ends at 5, a.x.c at 1; the query for a.b.d is a.b.c, for a.x.c itself.
        let s = eval(r#"aliasQuery(group(a.b.d,a.x.c),'^a\.b\.d$','a.b.c','last %d, %.1f%%')"#);
        assert!(s.is_err(), "two conversions for one value: {s:?}");
        assert_eq!(names(r#"aliasQuery(group(a.b.d,a.x.c),'^a\.b\.d$','a.b.c','last %d')"#), ["last 5", "last 1"]);
        assert_eq!(names(r#"aliasQuery(a.b.c,'c$','d','v=%s')"#), ["v=50.0"]);
        assert_eq!(names(r#"aliasQuery(a.b.c,'(b)\.c','\1.d','%05.1f')"#), ["050.0"]);
        let s = eval("aliasQuery(a.b.c,'c','d','x %d')").unwrap();
        assert_eq!(s[0].values, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(s[0].path_expression, "a.b.c");
        // No series, no value, no conversion, an unparsable query.
        assert!(eval("aliasQuery(a.b.c,'c','zzz','%d')").unwrap_err().to_string().contains("no series found"));
        assert!(eval("aliasQuery(a.b.c,'^.*$','removeAboveValue(a.b.c,0)','%d')").unwrap_err().to_string().contains("last value"));
        assert!(eval("aliasQuery(a.b.c,'c','d','plain')").is_err());
        assert!(matches!(eval("aliasQuery(a.b.c,'c','d(','%d')"), Err(Error::Parse { .. })));
        assert!(matches!(eval("aliasQuery(a.b.c,'(','d','%d')"), Err(Error::BadRegex { .. })));
    }

    #[test]
    fn apply_by_node_evaluates_the_template_per_prefix() {
        // Prefixes up to node 1 of a.b.c, a.b.d, a.x.c: a.b and a.x (sorted).
        check(
            "applyByNode(a.*.*,1,'sumSeries(%.*)')",
            &[("sumSeries(a.b.*)", &s(&[11.0, 22.0, 3.0, 44.0, 55.0])), ("sumSeries(a.x.*)", &s(&[5.0, 4.0, 3.0, 2.0, 1.0]))],
        );
        let out = eval("applyByNode(a.*.c,1,'scale(%.c,2)','%.double')").unwrap();
        let got: Vec<(&str, &str)> = out.iter().map(|s| (s.name.as_str(), s.path_expression.as_str())).collect();
        assert_eq!(got, [("a.b.double", "a.b"), ("a.x.double", "a.x")]);
        assert_eq!(out[1].values, vec![10.0, 8.0, 6.0, 4.0, 2.0]);
        assert!(eval("applyByNode(a.b.c,3,'%')").unwrap_err().to_string().contains("has no node 3"));
        assert!(eval("applyByNode(a.b.c,-1,'%')").is_err());
        assert!(matches!(eval("applyByNode(a.b.c,0,'sumSeries(%')"), Err(Error::Parse { .. })));
        // Each template is fetched through the caller's fetcher, in the request's range.
        let f = FakeFetcher::standard();
        block_on(render(&["applyByNode(a.b.c,1,'%.d')".to_string()], &config(), &f)).unwrap();
        let req = f.requests();
        assert_eq!(req.len(), 2);
        assert_eq!(req[1].spec, crate::FetchSpec::Path("a.b.d".into()));
        assert_eq!((req[1].from_ms, req[1].until_ms), (config().from_ms, config().until_ms));
    }

    #[test]
    fn templates_count_towards_the_depth_limit() {
        // applyByNode sits 30 calls deep and its template nests `inner` more calls: the
        // template is evaluated below applyByNode, so 40 more exceed the limit of 64.
        let target = |inner: usize| {
            let template = format!("{}%{}", "scale(".repeat(inner), ",1)".repeat(inner));
            format!("{}applyByNode(a.b.c,0,'{template}'){}", "scale(".repeat(30), ",1)".repeat(30))
        };
        // Unoptimized builds need about 80 KiB of stack per level of a target.
        let outcome = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || (eval(&target(40)).map(|s| s.len()), eval(&target(20)).map(|s| s.len())))
            .map(|t| t.join());
        let Ok(Ok((deep, shallow))) = outcome else { panic!("evaluation thread failed") };
        assert_eq!(deep, Err(Error::TooDeep(crate::parse::MAX_DEPTH)));
        assert_eq!(shallow, Ok(0));
    }

    #[test]
    fn use_series_above_selects_by_maximum() {
        // Maxima: a.b.c 5, a.x.c 5, a.b.d 50 (nulls ignored).
        assert_eq!(names("useSeriesAbove(a.*.*,10,'\\.c$','.d')"), ["a.b.d"]);
        assert_eq!(names("useSeriesAbove(a.b.*,4,'^a\\.b','a.x')"), ["a.x.c"]);
        assert_eq!(names("useSeriesAbove(a.b.d,40,'d','c')"), ["a.b.c"]);
        assert_eq!(names("useSeriesAbove(a.b.d,50,'d','c')"), Vec::<String>::new());
        assert!(matches!(eval("useSeriesAbove(a.b.d,1,'d','c)')"), Err(Error::Parse { .. })));
        assert!(eval("useSeriesAbove(a.b.d,'x','d','c')").is_err());
    }

    #[test]
    fn map_and_reduce() {
        assert_eq!(names("mapSeries(group(a.b.c,a.x.c,a.b.d),1)"), ["a.b.c", "a.b.d", "a.x.c"]);
        assert_eq!(names("map(seriesByTag('name=cpu'),'dc')"), ["cpu;dc=eu;host=h1", "cpu;dc=us;host=h2"]);
        assert!(eval("mapSeries(a.b.c)").is_err());
        // disk.<host>.{used,total}: used as a percent of total, per host.
        let f = FakeFetcher::new(vec![
            raw(&[("__name__", "disk.h1.used")], [(0, 1.0), (1, 2.0)]),
            raw(&[("__name__", "disk.h1.total")], [(0, 4.0), (1, 4.0)]),
            raw(&[("__name__", "disk.h2.total")], [(0, 10.0), (1, f64::NAN)]),
            raw(&[("__name__", "disk.h2.used")], [(0, 5.0), (1, 1.0)]),
            raw(&[("__name__", "disk.h3.used")], [(0, 5.0)]),
        ]);
        let mut ec = config();
        ec.until_ms = ec.from_ms + 20_000;
        let render1 = |t: &str| block_on(render(&[t.to_string()], &ec, &f));
        let out = render1("reduceSeries(mapSeries(disk.{h1,h2}.*,1),'asPercent',2,'used','total')").unwrap();
        let got: Vec<(String, Vec<Option<f64>>)> = crate::testutil::summary(&out);
        assert_eq!(
            got,
            [("disk.h1.reduce.asPercent".to_string(), vec![Some(25.0), Some(50.0)]), ("disk.h2.reduce.asPercent".to_string(), vec![Some(50.0), N])]
        );
        let out = render1("reduce(disk.h1.*,'diffSeries',-1,'total','used')").unwrap();
        assert_eq!(crate::testutil::summary(&out), [("disk.h1.reduce.diffSeries".to_string(), vec![Some(3.0), Some(2.0)])]);
        // h3 has no total; an unknown function; a function needing more args; no node 5.
        assert!(render1("reduceSeries(disk.*.*,'asPercent',2,'used','total')").unwrap_err().to_string().contains("\"total\""));
        assert!(matches!(render1("reduceSeries(disk.h1.*,'nope',2,'used')"), Err(Error::UnknownFunction(_))));
        assert!(matches!(render1("reduceSeries(disk.h1.*,'scale',2,'used')"), Err(Error::MissingArg { .. })));
        assert!(render1("reduceSeries(disk.h1.*,'sumSeries',5,'used')").is_err());
        assert!(render1("reduceSeries(disk.h1.*,'sumSeries',2)").is_err());
        // Nothing matches: nothing to reduce.
        assert!(render1("reduceSeries(disk.h1.*,'sumSeries',2,'free')").unwrap().is_empty());
    }
}
