//! Renaming: alias, aliasByNode/aliasByTags, aliasByMetric and aliasSub. Only the
//! displayed name changes; pathExpression and tags stay.

use super::name_from_nodes;
use crate::args::Args;
use crate::series::path_of_name;
use crate::{Error, Series};

pub(super) async fn alias(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let new_name = a.string(1, "newName")?;
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        s.name = new_name.to_string();
    }
    Ok(series)
}

pub(super) async fn alias_by_node(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let nodes = a.nodes(1)?;
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        s.name = name_from_nodes(s, &nodes);
    }
    Ok(series)
}

pub(super) async fn alias_by_metric(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(1)?;
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        let path = path_of_name(&s.name);
        s.name = path.rsplit('.').next().unwrap_or(&path).to_string();
    }
    Ok(series)
}

/// Turns graphite's `\1` back-references into the regex crate's `${1}`.
fn replacement(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push_str("${");
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                out.push(d);
                chars.next();
            }
            out.push('}');
        } else if c == '$' {
            out.push_str("$$");
        } else {
            out.push(c);
        }
    }
    out
}

pub(super) async fn alias_sub(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let re = a.regex(1, "search")?;
    let replace = replacement(a.string(2, "replace")?);
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        s.name = re.replace_all(&s.name, replace.as_str()).into_owned();
    }
    Ok(series)
}

#[cfg(test)]
mod tests {
    use super::replacement;
    use crate::testutil::{check, eval};

    const V: [Option<f64>; 5] = [Some(1.0), Some(2.0), Some(3.0), Some(4.0), Some(5.0)];

    #[test]
    fn aliases() {
        check("alias(a.b.c,'x y')", &[("x y", &V)]);
        check("a.b.c|alias('piped')", &[("piped", &V)]);
        check("aliasByNode(a.b.c,0,2)", &[("a.c", &V)]);
        check("aliasByNode(a.b.c,-1)", &[("c", &V)]);
        check("aliasByNode(scale(a.b.c,1),1)", &[("b", &V)]);
        check("aliasByMetric(a.b.c)", &[("c", &V)]);
        check("aliasSub(a.b.c,'^a\\.(\\w)\\.','X-\\1-')", &[("X-b-c", &V)]);
        let s = eval("alias(a.b.c,'n')").unwrap();
        assert_eq!(s[0].path_expression, "a.b.c");
    }

    #[test]
    fn alias_by_tags() {
        let s = eval("aliasByTags(seriesByTag('name=cpu'),'host',0,'missing')").unwrap();
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["h1.cpu", "h2.cpu"]);
    }

    #[test]
    fn back_references() {
        assert_eq!(replacement(r"a\1b\12$"), "a${1}b${12}$$");
    }
}
