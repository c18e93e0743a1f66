//! The metadata of an answer's families (`# HELP`, `# TYPE`, OpenMetrics' `# UNIT`) for
//! `/api/v1/metadata`, read as Prometheus reads the text formats' comments.

use super::answer::Format;

/// The metadata of an exposition's comment lines (those `comment_keyword` keeps), in order
/// of first mention: `# TYPE name type` (`untyped` shown as `unknown`, as Prometheus shows
/// it; a type the format does not have is skipped), `# HELP name text` (its `\\\\`
/// and `\\n` escapes read) and, in OpenMetrics, `# UNIT name unit`.
pub(super) fn metadata_of(lines: &[&str], format: Format) -> Vec<crate::ingest::MetricMetadata> {
    let mut out: Vec<crate::ingest::MetricMetadata> = Vec::new();
    for line in lines {
        let Some(keyword) = comment_keyword(line, format) else { continue };
        let Some((family, text)) = comment_parts(line, keyword) else { continue };
        if family.is_empty() {
            continue;
        }
        let kind = match keyword {
            "TYPE" => match prometheus_type(text, format) {
                Some(kind) => kind,
                None => continue,
            },
            _ => "",
        };
        let at = match out.iter().position(|m| m.family == family) {
            Some(at) => at,
            None => {
                out.push(crate::ingest::MetricMetadata { family: family.to_string(), kind: "unknown".into(), help: String::new(), unit: String::new() });
                out.len() - 1
            }
        };
        match keyword {
            "TYPE" => out[at].kind = kind.to_string(),
            "UNIT" => out[at].unit = text.to_string(),
            _ => out[at].help = unescape_help(text, format),
        }
    }
    out
}

/// The family (possibly empty) and the trimmed text of a comment line whose `keyword`
/// `comment_keyword` found.
pub(super) fn comment_parts<'l>(line: &'l str, keyword: &str) -> Option<(std::borrow::Cow<'l, str>, &'l str)> {
    let rest = line.trim_start_matches('#').trim_start()[keyword.len()..].trim_start();
    crate::ingest::text_format::comment_family(rest).map(|(family, text)| (family, text.trim()))
}

/// A `# TYPE` line's type as Prometheus names it (`untyped` as `unknown`); `None` for a type
/// the format does not have.
pub(super) fn prometheus_type(text: &str, format: Format) -> Option<&str> {
    match text {
        "untyped" => Some("unknown"),
        "counter" | "gauge" | "histogram" | "summary" => Some(text),
        "gaugehistogram" | "info" | "stateset" if format == Format::OpenMetrics => Some(text),
        _ => None,
    }
}

/// `HELP` or `TYPE` (and in OpenMetrics `UNIT`) when `line` is such a comment: `#`,
/// whitespace, the keyword, whitespace (Prometheus' lexer; in the text format `#TYPE` and
/// `# UNIT` are plain comments).
pub(super) fn comment_keyword(line: &str, format: Format) -> Option<&'static str> {
    let rest = line.strip_prefix('#')?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim_start();
    let keywords: &[&'static str] = match format {
        Format::Text => &["HELP", "TYPE"],
        Format::OpenMetrics => &["HELP", "TYPE", "UNIT"],
    };
    keywords.iter().copied().find(|k| rest.strip_prefix(k).is_some_and(|after| after.starts_with([' ', '\t'])))
}

/// The family name (plain or quoted) and type of a `# TYPE name type` comment (`#`,
/// whitespace, `TYPE`, as `comment_keyword` reads it).
pub(crate) fn type_comment(line: &str) -> Option<(std::borrow::Cow<'_, str>, &str)> {
    let rest = line.strip_prefix('#').filter(|rest| rest.starts_with([' ', '\t']))?.trim_start();
    let rest = rest.strip_prefix("TYPE").filter(|after| after.starts_with([' ', '\t']))?.trim_start();
    let (family, kind) = crate::ingest::text_format::comment_family(rest)?;
    if family.is_empty() {
        return None;
    }
    Some((family, kind.split_whitespace().next().unwrap_or("")))
}

/// A `# HELP` text with its escapes read: `\\`, `\n`, and in OpenMetrics also `\"`.
fn unescape_help(text: &str, format: Format) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some('"')) if format == Format::OpenMetrics => {
                out.push('"');
                chars.next();
            }
            ('\\', Some('n')) => {
                out.push('\n');
                chars.next();
            }
            ('\\', Some('\\')) => {
                out.push('\\');
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}
