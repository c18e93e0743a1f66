//! Request parameters as Prometheus parses them: query string and form bodies (GET and
//! POST alike), times as RFC3339 or float Unix seconds, durations as `1h30m` or float seconds.

use super::read_filters::ReadFilters;

/// Decoded `key=value` pairs, in order; repeated keys (`match[]`) appear repeatedly; and the
/// read filters the client's identity is confined to (`tls.read_filters`), which no
/// parameter can change; and the client's address, for the queries it runs
/// (`/api/v1/status/active_queries`).
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
    confinement: ReadFilters,
    remote_addr: Option<std::net::SocketAddr>,
}

impl Params {
    /// Merges the URL query string and, for form POSTs, the body (Go's `r.Form` does the same).
    pub fn from_request(query: Option<&str>, form_body: Option<&[u8]>) -> Result<Params, String> {
        let mut pairs = Vec::new();
        if let Some(body) = form_body {
            let text = std::str::from_utf8(body).map_err(|_| "form body is not valid UTF-8".to_string())?;
            parse_urlencoded(text, &mut pairs)?;
        }
        if let Some(q) = query {
            parse_urlencoded(q, &mut pairs)?;
        }
        Ok(Params { pairs, confinement: ReadFilters::default(), remote_addr: None })
    }

    /// Merges the URL query string and a `multipart/form-data` body's fields (Go's
    /// `r.FormValue`, which Prometheus and VictoriaMetrics read `query` and the times with,
    /// takes them too, so `curl -F query=up` works); file parts are not parameters.
    pub fn from_multipart(query: Option<&str>, body: &[u8], boundary: &str) -> Result<Params, String> {
        let mut pairs = multipart_fields(body, boundary)?;
        if let Some(q) = query {
            parse_urlencoded(q, &mut pairs)?;
        }
        Ok(Params { pairs, confinement: ReadFilters::default(), remote_addr: None })
    }

    /// These parameters from a client confined to `filters` (its identity's).
    pub fn confined_to(self, filters: ReadFilters) -> Params {
        Params { confinement: filters, ..self }
    }

    /// These parameters from the client at `remote_addr` (none when unknown).
    pub fn sent_from(self, remote_addr: Option<std::net::SocketAddr>) -> Params {
        Params { remote_addr, ..self }
    }

    /// The client's address, when known.
    pub fn remote_addr(&self) -> Option<std::net::SocketAddr> {
        self.remote_addr
    }

    /// The read filters of the client's identity (none when it has none).
    pub fn confinement(&self) -> &ReadFilters {
        &self.confinement
    }

    /// The first value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// `key` as an integer (absent or empty: `None`), as Prometheus reads its `limit` and
    /// `limit_per_metric` parameters; otherwise the error in its words, "`key` must be a number".
    pub fn integer(&self, key: &str) -> Result<Option<i64>, String> {
        match self.get(key).filter(|text| !text.is_empty()) {
            None => Ok(None),
            Some(text) => text.parse::<i64>().map(Some).map_err(|_| format!("{key} must be a number")),
        }
    }

    /// Every value of `key`.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

fn parse_urlencoded(text: &str, out: &mut Vec<(String, String)>) -> Result<(), String> {
    for part in text.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        out.push((percent_decode(key)?, percent_decode(value)?));
    }
    Ok(())
}

/// The `boundary` parameter of a `multipart/form-data` content type (quoted or not), None for
/// another type.
pub fn multipart_boundary(content_type: &str) -> Option<&str> {
    let (kind, parameters) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parameters.split(';').find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim().eq_ignore_ascii_case("boundary").then(|| value.trim().trim_matches('"')).filter(|b| !b.is_empty())
    })
}

/// The named fields of a `multipart/form-data` body (RFC 7578), in order: each part's
/// `Content-Disposition: form-data; name="…"` and its content; parts with a `filename` are
/// left out. A body without its closing delimiter, or a part without a name, is an error.
fn multipart_fields(body: &[u8], boundary: &str) -> Result<Vec<(String, String)>, String> {
    let delimiter = format!("--{boundary}");
    let finder = memchr::memmem::Finder::new(delimiter.as_bytes());
    let mut fields = Vec::new();
    let mut at = finder.find(body).ok_or("multipart body has no boundary delimiter")? + delimiter.len();
    loop {
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Ok(fields);
        }
        let part_start = rest.strip_prefix(b"\r\n").ok_or("multipart delimiter is not followed by a line break")?;
        let next = finder.find(part_start).ok_or("multipart body ends without its closing delimiter")?;
        let part = part_start[..next].strip_suffix(b"\r\n").ok_or("multipart part does not end with a line break")?;
        let head_end = memchr::memmem::find(part, b"\r\n\r\n").ok_or("multipart part has no blank line after its headers")?;
        let head = std::str::from_utf8(&part[..head_end]).map_err(|_| "multipart part headers are not valid UTF-8".to_string())?;
        let disposition = head
            .split("\r\n")
            .find_map(|line| line.split_once(':').filter(|(name, _)| name.trim().eq_ignore_ascii_case("content-disposition")).map(|(_, value)| value))
            .ok_or("multipart part has no Content-Disposition")?;
        let parameter = |wanted: &str| {
            disposition.split(';').skip(1).find_map(|p| {
                let (name, value) = p.split_once('=')?;
                name.trim().eq_ignore_ascii_case(wanted).then(|| value.trim().trim_matches('"').to_string())
            })
        };
        let name = parameter("name").ok_or("multipart part has no field name")?;
        if parameter("filename").is_none() {
            let value = std::str::from_utf8(&part[head_end + 4..]).map_err(|_| format!("multipart field {name:?} is not valid UTF-8"))?;
            fields.push((name, value.to_string()));
        }
        at += 2 + next + delimiter.len();
    }
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte.
pub fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(|| format!("invalid URL escape in {text:?}"))?;
                let hex = std::str::from_utf8(hex).map_err(|_| format!("invalid URL escape in {text:?}"))?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("invalid URL escape {hex:?}"))?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("parameter {text:?} is not valid UTF-8"))
}

/// `%XX` escapes decoded, as in a URL's path or user information (`+` stays itself); `None`
/// for a broken escape or a result that is not UTF-8.
pub fn percent_decode_path(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit)).and_then(|h| std::str::from_utf8(h).ok())?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Smallest and largest times Prometheus accepts (its `minTime`/`maxTime`), in milliseconds.
/// Wall-clock time in Unix milliseconds (the default `time` of queries and imports).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub const MIN_TIME_MS: i64 = -9_223_309_901_257_974;
pub const MAX_TIME_MS: i64 = 9_223_309_901_257_974;

/// Parses a time as float Unix seconds, RFC3339 or, as VictoriaMetrics takes them, `now`, a
/// duration before now (`-1h`, `1h` and `now-1h` alike: an hour ago; `-1h30m`) or a
/// shortened RFC3339 (`2024-05`, `2024-05-17`, `2024-05-17T10`, `…T10:30`, `…T10:30:00`,
/// each with an optional `Z` or `±hh:mm`; UTC without one), returning milliseconds.
pub fn parse_time_ms(text: &str) -> Result<i64, String> {
    parse_time_ms_at(text, now_ms())
}

/// `parse_time_ms` with relative times counted back from `now_ms`.
pub fn parse_time_ms_at(text: &str, now_ms: i64) -> Result<i64, String> {
    if let Ok(seconds) = text.parse::<f64>() {
        if !seconds.is_finite() {
            return Err(format!("cannot parse {text:?} to a valid timestamp"));
        }
        let ms = (seconds * 1000.0).round();
        if ms < MIN_TIME_MS as f64 || ms > MAX_TIME_MS as f64 {
            return Err(format!("cannot parse {text:?} to a valid timestamp"));
        }
        return Ok(ms as i64);
    }
    if let Some(ms) = parse_rfc3339_ms(text).or_else(|| parse_shortened_rfc3339_ms(text)) {
        return Ok(ms);
    }
    if text == "now" {
        return Ok(now_ms);
    }
    let before = text.strip_prefix("now-").or_else(|| text.strip_prefix('-')).unwrap_or(text);
    match parse_prometheus_duration_ms(before) {
        Some(before) => Ok(now_ms.saturating_sub(before).max(MIN_TIME_MS)),
        None => Err(format!("cannot parse {text:?} to a valid timestamp")),
    }
}

/// Parses a duration as float seconds or a Prometheus duration (`1h30m`, `500ms`), in ms.
pub fn parse_duration_ms(text: &str) -> Result<i64, String> {
    if let Ok(seconds) = text.parse::<f64>() {
        let ms = (seconds * 1000.0).round();
        if !ms.is_finite() || ms.abs() > i64::MAX as f64 / 2.0 {
            return Err(format!("cannot parse {text:?} to a valid duration. It overflows int64"));
        }
        return Ok(ms as i64);
    }
    parse_prometheus_duration_ms(text).ok_or_else(|| format!("cannot parse {text:?} to a valid duration"))
}

/// `[0-9]+(y|w|d|h|m|s|ms)` repeated, units in decreasing order, each at most once.
pub fn parse_prometheus_duration_ms(text: &str) -> Option<i64> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    if text.is_empty() {
        return None;
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    let mut last_unit = None;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return None;
        }
        let number: i64 = text[start..i].parse().ok()?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &text[unit_start..i];
        let index = UNITS.iter().position(|(u, _)| *u == unit)?;
        if last_unit.is_some_and(|last| index <= last) {
            return None;
        }
        last_unit = Some(index);
        total = total.checked_add(number.checked_mul(UNITS[index].1)?)?;
    }
    Some(total)
}

/// RFC3339 cut short after the month, day, hour, minute or second (the rest zero), its zone
/// optional (UTC): `2006-01`, `2006-01-02`, `2006-01-02T15`, `2006-01-02T15:04+02:00`.
fn parse_shortened_rfc3339_ms(text: &str) -> Option<i64> {
    let zone_at = if text.ends_with(['Z', 'z']) {
        text.len() - 1
    } else if text.len() > 6 && text.is_char_boundary(text.len() - 6) && text[text.len() - 6..].starts_with(['+', '-']) && text.as_bytes()[text.len() - 3] == b':' {
        text.len() - 6
    } else {
        text.len()
    };
    let (shortened, zone) = text.split_at(zone_at);
    let rest = match shortened.len() {
        7 => "-01T00:00:00",
        10 => "T00:00:00",
        13 => ":00:00",
        16 => ":00",
        19 => "",
        _ => return None,
    };
    parse_rfc3339_ms(&format!("{shortened}{rest}{}", if zone.is_empty() { "Z" } else { zone }))
}

/// RFC3339 with optional fraction: `2006-01-02T15:04:05.999999999Z07:00`.
fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let digits = &text[start..i.min(start + 3)];
        millis = digits.parse::<i64>().ok()? * 10i64.pow(3 - digits.len() as u32);
    }
    let offset_seconds = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let minutes = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if *sign == b'+' { minutes * 60 } else { -minutes * 60 }
        }
        _ => return None,
    };
    let days = promql::format::days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_seconds;
    Some(seconds * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_form_fields_are_parameters_and_files_are_not() {
        assert_eq!(multipart_boundary("multipart/form-data; boundary=------abc"), Some("------abc"));
        assert_eq!(multipart_boundary("Multipart/Form-Data; charset=utf-8; Boundary=\"x y\""), Some("x y"));
        assert_eq!(multipart_boundary("application/x-www-form-urlencoded"), None);
        assert_eq!(multipart_boundary("multipart/form-data"), None);
        // As curl -F sends it: a preamble-free body, a file part, an empty value.
        let body = "--b\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\nsum(rate(x[5m]))\r\n\
                    --b\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nfile\r\nbody\r\n\
                    --b\r\ncontent-disposition: form-data; name=match[]\r\n\r\n\r\n\
                    --b--\r\n";
        let params = Params::from_multipart(Some("time=5&query=ignored"), body.as_bytes(), "b").expect("parsed");
        assert_eq!(params.get("query"), Some("sum(rate(x[5m]))"), "the body's field comes first, as the form's before the URL's");
        assert_eq!(params.get("time"), Some("5"));
        assert_eq!(params.all("match[]").collect::<Vec<_>>(), vec![""]);
        assert_eq!(params.get("upload"), None);
        // A value holding line breaks and dashes stays whole.
        let body = "--b\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\na\r\n--c\r\n\r\n--b--";
        assert_eq!(Params::from_multipart(None, body.as_bytes(), "b").expect("parsed").get("query"), Some("a\r\n--c\r\n"));
        for (broken, problem) in [
            ("no delimiter at all", "no boundary delimiter"),
            ("--b\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\nx", "without its closing delimiter"),
            ("--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--", "no field name"),
            ("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", "no Content-Disposition"),
            ("--b\r\nContent-Disposition: form-data; name=q\r\nx\r\n--b--", "no blank line"),
            ("--bx", "not followed by a line break"),
        ] {
            let error = Params::from_multipart(None, broken.as_bytes(), "b").expect_err(broken);
            assert!(error.contains(problem), "{broken:?}: {error}");
        }
    }

    #[test]
    fn times() {
        let table: &[(&str, Option<i64>)] = &[
            ("1700000000", Some(1_700_000_000_000)),
            ("1700000000.123", Some(1_700_000_000_123)),
            ("4", Some(4_000)),
            ("-1.5", Some(-1_500)),
            ("2023-11-14T22:13:20Z", Some(1_700_000_000_000)),
            ("2023-11-14T22:13:20.5Z", Some(1_700_000_000_500)),
            ("2023-11-15T00:13:20+02:00", Some(1_700_000_000_000)),
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2000-02-29T12:00:00Z", Some(951_825_600_000)),
            ("yesterday", None),
            ("NaN", None),
            ("2023-13-01T00:00:00Z", None),
            // Shortened, as VictoriaMetrics takes them (UTC without a zone).
            ("2023-11", Some(1_698_796_800_000)),
            ("2023-11-14", Some(1_699_920_000_000)),
            ("2023-11-14T22", Some(1_699_999_200_000)),
            ("2023-11-14T22:13", Some(1_699_999_980_000)),
            ("2023-11-14T22:13:20", Some(1_700_000_000_000)),
            ("2023-11-14T22:13Z", Some(1_699_999_980_000)),
            ("2023-11-15T00:13:20+02:00", Some(1_700_000_000_000)),
            ("2023-11-15+02:00", Some(1_699_999_200_000)),
            ("2023-11-14T22:1", None),
            ("2023-1-14", None),
            ("2023-11-32", None),
            ("2023-11-14T22:13+2:00", None),
            ("2023-11-14 22:13", None),
        ];
        for (text, expected) in table {
            assert_eq!(parse_time_ms(text).ok(), *expected, "{text}");
        }
    }

    #[test]
    fn relative_times_count_back_from_now_as_victoriametrics_takes_them() {
        let now = 1_700_000_000_000;
        let table: &[(&str, Option<i64>)] = &[
            ("-1h", Some(now - 3_600_000)),
            ("1h", Some(now - 3_600_000)),
            ("-1h30m", Some(now - 5_400_000)),
            ("-500ms", Some(now - 500)),
            ("-2d", Some(now - 172_800_000)),
            ("now", Some(now)),
            ("now-1h", Some(now - 3_600_000)),
            ("now-1h30m", Some(now - 5_400_000)),
            ("now-", None),
            ("now+1h", None),
            ("now1h", None),
            // A plain number stays a Unix time, as before.
            ("-90", Some(-90_000)),
            ("-1x", None),
            ("--1h", None),
            ("-", None),
        ];
        for (text, expected) in table {
            assert_eq!(parse_time_ms_at(text, now).ok(), *expected, "{text}");
        }
        // Far back is clamped to the earliest time, not an overflow.
        assert_eq!(parse_time_ms_at("-292y", MIN_TIME_MS + 1), Ok(MIN_TIME_MS));
    }

    #[test]
    fn durations() {
        let table: &[(&str, Option<i64>)] = &[
            ("15s", Some(15_000)),
            ("1h30m", Some(5_400_000)),
            ("500ms", Some(500)),
            ("1.5", Some(1_500)),
            ("1d", Some(86_400_000)),
            ("30m1h", None),
            ("5", Some(5_000)),
            ("abc", None),
            ("", None),
        ];
        for (text, expected) in table {
            assert_eq!(parse_duration_ms(text).ok(), *expected, "{text}");
        }
    }

    #[test]
    fn form_and_query_merge() {
        let p = Params::from_request(Some("match%5B%5D=up&x=1+2"), Some(b"match[]=foo%7Bjob%3D%22a%22%7D")).unwrap();
        let matches: Vec<&str> = p.all("match[]").collect();
        assert_eq!(matches, vec!["foo{job=\"a\"}", "up"]);
        assert_eq!(p.get("x"), Some("1 2"));
        assert!(Params::from_request(Some("a=%zz"), None).is_err());
    }
}
