//! Time zones for MetricsQL's `timezone_offset`: the system's tz database, read as Go's
//! `time.LoadLocation` (which VictoriaMetrics calls) reads it: a TZif file per zone under the
//! zoneinfo directories, its transitions, and past the last one the POSIX rule of its footer.

use std::path::Path;

/// Where zone files are looked for, in order (Go's list on Unix).
const ZONEINFO_DIRS: [&str; 4] = ["/usr/share/zoneinfo", "/usr/share/lib/zoneinfo", "/usr/lib/locale/TZ", "/etc/zoneinfo"];

/// The zone `Local` stands for: the host's.
const LOCAL_ZONE_FILE: &str = "/etc/localtime";

/// Largest zone file read (real ones are a few KiB).
const TZIF_BYTES_MAX: u64 = 1 << 20;

/// A time zone: its offsets from UTC at each transition, then its rule.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Zone {
    /// (transition time in Unix seconds, UTC offset in seconds from then on), in time order.
    transitions: Vec<(i64, i32)>,
    /// The offset before the first transition.
    initial_offset_s: i32,
    /// The rule after the last transition (a TZif v2+ footer), if any.
    rule: Option<Rule>,
}

/// A POSIX TZ rule: standard time, and daylight time between two yearly dates.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rule {
    std_offset_s: i32,
    dst: Option<(i32, DateRule, DateRule)>,
}

/// When daylight time starts or ends in a year: a day and the local time of day (seconds,
/// possibly negative or past 24 h).
#[derive(Debug, Clone, Copy, PartialEq)]
struct DateRule {
    day: Day,
    time_s: i64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Day {
    /// `Jn`: day 1..=365, February 29 never counted.
    Julian(i64),
    /// `n`: day 0..=365, February 29 counted.
    Zero(i64),
    /// `Mm.w.d`: weekday `d` (0 Sunday) of week `w` (5: the last) of month `m`.
    Month { month: i64, week: i64, weekday: i64 },
}

impl Zone {
    fn utc() -> Zone {
        Zone { transitions: Vec::new(), initial_offset_s: 0, rule: None }
    }

    /// The zone named `name`, read once per process: a query's executor thread reads the
    /// file only the first time a zone is asked for (at most `ZONES_CACHED_MAX` are kept).
    pub(super) fn cached(name: &str) -> Result<Zone, String> {
        static ZONES: std::sync::Mutex<Option<std::collections::HashMap<String, Zone>>> = std::sync::Mutex::new(None);
        const ZONES_CACHED_MAX: usize = 1024;
        if let Some(zone) = ZONES.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref().and_then(|zones| zones.get(name)) {
            return Ok(zone.clone());
        }
        let zone = Zone::load(name)?;
        let mut zones = ZONES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let zones = zones.get_or_insert_with(Default::default);
        if zones.len() < ZONES_CACHED_MAX {
            zones.insert(name.to_string(), zone.clone());
        }
        Ok(zone)
    }

    /// The zone named `name` (`UTC`, `Local`, or a tz database name such as `Europe/Berlin`).
    pub(super) fn load(name: &str) -> Result<Zone, String> {
        if name.is_empty() || name == "UTC" {
            return Ok(Zone::utc());
        }
        if name == "Local" {
            return Ok(read_file(Path::new(LOCAL_ZONE_FILE)).ok().and_then(|bytes| parse_tzif(&bytes).ok()).unwrap_or_else(Zone::utc));
        }
        // A name is a path below the zoneinfo directories and never leaves them.
        if name.starts_with('/') || name.starts_with('\\') || name.contains("..") {
            return Err(format!("cannot load timezone {name:?}: invalid location name"));
        }
        for dir in ZONEINFO_DIRS {
            if let Ok(bytes) = read_file(&Path::new(dir).join(name)) {
                return parse_tzif(&bytes).map_err(|e| format!("cannot load timezone {name:?}: {e}"));
            }
        }
        Err(format!("cannot load timezone {name:?}: unknown time zone"))
    }

    /// The offset from UTC in seconds at Unix time `t_s`.
    pub(super) fn offset_at(&self, t_s: i64) -> i32 {
        let after = self.transitions.partition_point(|&(at, _)| at <= t_s);
        match (after, &self.rule) {
            (0, _) => self.initial_offset_s,
            (n, Some(rule)) if n == self.transitions.len() => rule.offset_at(t_s),
            (n, _) => self.transitions[n - 1].1,
        }
    }
}

fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a file"));
    }
    let mut bytes = Vec::new();
    file.take(TZIF_BYTES_MAX).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A big-endian reader over a TZif file.
struct Bytes<'a> {
    rest: &'a [u8],
}

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.rest.len() < n {
            return Err("truncated zone file".into());
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn time(&mut self, wide: bool) -> Result<i64, String> {
        if !wide {
            return Ok(i64::from(self.u32()? as i32));
        }
        let b = self.take(8)?;
        Ok(i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }
}

/// The counts of a TZif header (RFC 8536 §3.1), and its version.
struct Header {
    version: u8,
    isut: usize,
    isstd: usize,
    leap: usize,
    time: usize,
    types: usize,
    chars: usize,
}

fn header(b: &mut Bytes<'_>) -> Result<Header, String> {
    if b.take(4)? != b"TZif" {
        return Err("not a TZif file".into());
    }
    let version = b.take(1)?[0];
    b.take(15)?;
    let mut count = || -> Result<usize, String> { usize::try_from(b.u32()?).map_err(|_| "count out of range".to_string()) };
    Ok(Header { version, isut: count()?, isstd: count()?, leap: count()?, time: count()?, types: count()?, chars: count()? })
}

fn parse_tzif(bytes: &[u8]) -> Result<Zone, String> {
    let mut b = Bytes { rest: bytes };
    let mut h = header(&mut b)?;
    let mut wide = false;
    if h.version >= b'2' {
        // Skip the 32-bit block: the 64-bit one after it says the same for all times.
        b.take(h.time * 5 + h.types * 6 + h.chars + h.leap * 8 + h.isstd + h.isut)?;
        h = header(&mut b)?;
        wide = true;
    }
    let times = (0..h.time).map(|_| b.time(wide)).collect::<Result<Vec<i64>, String>>()?;
    let indices = b.take(h.time)?.to_vec();
    let mut offsets = Vec::with_capacity(h.types);
    let mut daylight = Vec::with_capacity(h.types);
    for _ in 0..h.types {
        offsets.push(b.u32()? as i32);
        let info = b.take(2)?;
        daylight.push(info[0] != 0);
    }
    if offsets.is_empty() {
        return Err("zone file without local time types".into());
    }
    b.take(h.chars + h.leap * if wide { 12 } else { 8 } + h.isstd + h.isut)?;
    let mut transitions = Vec::with_capacity(times.len());
    for (at, index) in times.into_iter().zip(indices) {
        let offset = *offsets.get(usize::from(index)).ok_or("transition to an unknown local time type")?;
        transitions.push((at, offset));
    }
    // Before the first transition: the first standard time type (Go's choice too).
    let initial_offset_s = daylight.iter().position(|d| !d).map_or(offsets[0], |i| offsets[i]);
    let rule = if wide { footer_rule(b.rest) } else { None };
    Ok(Zone { transitions, initial_offset_s, rule })
}

/// The POSIX rule between the newlines of a TZif footer; `None` when there is none or it does
/// not parse (the last transition's offset then holds on).
fn footer_rule(rest: &[u8]) -> Option<Rule> {
    let text = std::str::from_utf8(rest).ok()?;
    let inner = text.strip_prefix('\n')?;
    let line = &inner[..inner.find('\n')?];
    parse_rule(line)
}

/// A POSIX TZ string: `std offset [dst [offset] [,start[/time],end[/time]]]`.
fn parse_rule(text: &str) -> Option<Rule> {
    let mut p = RuleText { rest: text };
    p.name()?;
    // POSIX offsets are west of UTC: `CET-1` is UTC+1.
    let std_offset_s = -i32::try_from(p.seconds()?).ok()?;
    if p.rest.is_empty() {
        return Some(Rule { std_offset_s, dst: None });
    }
    p.name()?;
    let dst_offset_s = match p.rest.chars().next() {
        Some(c) if c != ',' => -i32::try_from(p.seconds()?).ok()?,
        _ => std_offset_s + 3600,
    };
    // Without dates, the United States' (what Go assumes).
    let (start, end) = if p.rest.is_empty() {
        (DateRule { day: Day::Month { month: 3, week: 2, weekday: 0 }, time_s: 7200 }, DateRule { day: Day::Month { month: 11, week: 1, weekday: 0 }, time_s: 7200 })
    } else {
        p.rest = p.rest.strip_prefix(',')?;
        let start = p.date()?;
        p.rest = p.rest.strip_prefix(',')?;
        (start, p.date()?)
    };
    p.rest.is_empty().then_some(Rule { std_offset_s, dst: Some((dst_offset_s, start, end)) })
}

struct RuleText<'a> {
    rest: &'a str,
}

impl RuleText<'_> {
    /// A zone abbreviation: letters, or anything between `<` and `>`.
    fn name(&mut self) -> Option<()> {
        let end = match self.rest.strip_prefix('<') {
            Some(quoted) => quoted.find('>')? + 2,
            None => self.rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(self.rest.len()),
        };
        (end >= 3).then(|| self.rest = &self.rest[end..])
    }

    fn number(&mut self) -> Option<i64> {
        let end = self.rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(self.rest.len());
        let n = self.rest[..end].parse().ok()?;
        self.rest = &self.rest[end..];
        Some(n)
    }

    /// `[+-]hh[:mm[:ss]]` in seconds.
    fn seconds(&mut self) -> Option<i64> {
        let sign = match self.rest.as_bytes().first() {
            Some(b'-') => -1,
            _ => 1,
        };
        self.rest = self.rest.strip_prefix(['+', '-']).unwrap_or(self.rest);
        let mut total = self.number()? * 3600;
        for unit in [60, 1] {
            match self.rest.strip_prefix(':') {
                Some(rest) => {
                    self.rest = rest;
                    total += self.number()? * unit;
                }
                None => break,
            }
        }
        Some(sign * total)
    }

    /// `Jn`, `n` or `Mm.w.d`, then `/time` (02:00 when left out).
    fn date(&mut self) -> Option<DateRule> {
        let day = if let Some(rest) = self.rest.strip_prefix('J') {
            self.rest = rest;
            Day::Julian(self.number()?)
        } else if let Some(rest) = self.rest.strip_prefix('M') {
            self.rest = rest;
            let month = self.number()?;
            self.rest = self.rest.strip_prefix('.')?;
            let week = self.number()?;
            self.rest = self.rest.strip_prefix('.')?;
            Day::Month { month, week, weekday: self.number()? }
        } else {
            Day::Zero(self.number()?)
        };
        let valid = match day {
            Day::Julian(n) => (1..=365).contains(&n),
            Day::Zero(n) => (0..=365).contains(&n),
            Day::Month { month, week, weekday } => (1..=12).contains(&month) && (1..=5).contains(&week) && (0..=6).contains(&weekday),
        };
        if !valid {
            return None;
        }
        let time_s = match self.rest.strip_prefix('/') {
            Some(rest) => {
                self.rest = rest;
                self.seconds()?
            }
            None => 7200,
        };
        Some(DateRule { day, time_s })
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

impl DateRule {
    /// Days from January 1 of `year` to this rule's day.
    fn day_of_year(self, year: i64) -> i64 {
        match self.day {
            Day::Julian(n) => n - 1 + i64::from(is_leap(year) && n >= 60),
            Day::Zero(n) => n,
            Day::Month { month, week, weekday } => {
                let first = crate::format::days_from_civil(year, month, 1);
                // Day 0 of the Unix epoch was a Thursday (weekday 4).
                let first_weekday = (first + 4).rem_euclid(7);
                let mut day = (weekday - first_weekday).rem_euclid(7) + (week - 1) * 7;
                let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
                let length = crate::format::days_from_civil(next_year, next_month, 1) - first;
                while day >= length {
                    day -= 7;
                }
                first - crate::format::days_from_civil(year, 1, 1) + day
            }
        }
    }
}

impl Rule {
    fn offset_at(&self, t_s: i64) -> i32 {
        let Some((dst_offset_s, start, end)) = self.dst else { return self.std_offset_s };
        let (year, _, _) = crate::format::civil_from_days((t_s + i64::from(self.std_offset_s)).div_euclid(86_400));
        let year_start_s = crate::format::days_from_civil(year, 1, 1) * 86_400;
        // The start is given in standard time, the end in daylight time.
        let starts_s = year_start_s + start.day_of_year(year) * 86_400 + start.time_s - i64::from(self.std_offset_s);
        let ends_s = year_start_s + end.day_of_year(year) * 86_400 + end.time_s - i64::from(dst_offset_s);
        let daylight = if starts_s < ends_s { t_s >= starts_s && t_s < ends_s } else { !(t_s >= ends_s && t_s < starts_s) };
        if daylight { dst_offset_s } else { self.std_offset_s }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-01-15 and 2024-07-15, 12:00 UTC.
    const WINTER_S: i64 = 1_705_320_000;
    const SUMMER_S: i64 = 1_721_044_800;

    #[test]
    fn posix_rules_of_both_hemispheres() {
        let berlin = Zone { transitions: vec![(0, 3600)], initial_offset_s: 3600, rule: parse_rule("CET-1CEST,M3.5.0,M10.5.0/3") };
        assert_eq!(berlin.offset_at(WINTER_S), 3600);
        assert_eq!(berlin.offset_at(SUMMER_S), 7200);
        // 2024-03-31 01:00 UTC is 02:00 CET, when CEST starts; a second before it is still CET.
        assert_eq!(berlin.offset_at(1_711_846_800), 7200);
        assert_eq!(berlin.offset_at(1_711_846_799), 3600);
        let sydney = Zone { transitions: vec![(0, 36_000)], initial_offset_s: 36_000, rule: parse_rule("AEST-10AEDT,M10.1.0,M4.1.0/3") };
        assert_eq!(sydney.offset_at(WINTER_S), 39_600);
        assert_eq!(sydney.offset_at(SUMMER_S), 36_000);
        let kolkata = parse_rule("IST-5:30");
        assert_eq!(kolkata, Some(Rule { std_offset_s: 19_800, dst: None }));
        assert_eq!(parse_rule("<+03>-3"), Some(Rule { std_offset_s: 10_800, dst: None }));
        assert_eq!(parse_rule("CET-1CEST,M13.5.0,M10.5.0"), None);
    }

    #[test]
    fn names_never_leave_the_zoneinfo_directories() {
        for name in ["../../etc/passwd", "/etc/localtime", "Europe/../../x"] {
            assert!(Zone::load(name).is_err(), "{name}");
        }
        assert!(Zone::load("No/Such_Zone").is_err());
        // The cache keeps only zones read: a mistake stays a mistake, a zone the same zone.
        assert!(Zone::cached("No/Such_Zone").is_err() && Zone::cached("No/Such_Zone").is_err());
        assert_eq!(Zone::cached("UTC"), Zone::load("UTC"));
        assert_eq!(Zone::load("UTC").map(|z| z.offset_at(SUMMER_S)), Ok(0));
    }

    #[test]
    fn system_zone_files_when_installed() {
        // The tz database is not on every build machine; where it is, it must read right.
        if !Path::new("/usr/share/zoneinfo/Europe/Berlin").exists() {
            eprintln!("SKIPPED system_zone_files_when_installed: no /usr/share/zoneinfo (install tzdata; .ci/run does)");
            return;
        }
        let berlin = Zone::load("Europe/Berlin").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((berlin.offset_at(WINTER_S), berlin.offset_at(SUMMER_S)), (3600, 7200));
        // Past 2037, where only the footer's rule speaks: 2100-07-01 is summer time.
        assert_eq!(berlin.offset_at(4_118_083_200), 7200);
        let new_york = Zone::load("America/New_York").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((new_york.offset_at(WINTER_S), new_york.offset_at(SUMMER_S)), (-18_000, -14_400));
    }
}
