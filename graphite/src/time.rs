//! Graphite time syntax: absolute and relative `from`/`until` values and interval
//! strings (`5min`, `-1h`, `1mon`). All calendar arithmetic is in UTC.

use crate::Error;

const MS_PER_DAY: i64 = 24 * 3600 * 1000;

/// Parses an interval such as `10s`, `-5min`, `1.5h`, `2d`, `1w`, `1mon`, `1y` into
/// milliseconds; the unit may be spelled out (`minutes`, `hours`).
pub fn parse_interval(text: &str) -> Result<i64, Error> {
    let bad = || Error::Interval(text.to_string());
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '-' || c == '+' || c == '.'))
        .ok_or_else(bad)?;
    let (number, unit) = s.split_at(split);
    let n: f64 = number.parse().map_err(|_| bad())?;
    let unit = unit.trim();
    let ms: f64 = if unit.starts_with("ms") {
        1.0
    } else if unit.starts_with('s') {
        1e3
    } else if unit.starts_with("mo") {
        30.0 * 86_400e3
    } else if unit.starts_with('m') {
        60e3
    } else if unit.starts_with('h') {
        3_600e3
    } else if unit.starts_with('d') {
        86_400e3
    } else if unit.starts_with('w') {
        7.0 * 86_400e3
    } else if unit.starts_with('y') {
        365.0 * 86_400e3
    } else {
        return Err(bad());
    };
    let total = n * ms;
    if !total.is_finite() || total.abs() > 1e17 {
        return Err(bad());
    }
    Ok(total as i64)
}

/// Parses a Graphite `from`/`until` value into unix milliseconds. Relative values
/// (`-1h`, `now-2d`, `today`) are relative to `now_ms`.
pub fn parse_time(text: &str, now_ms: i64) -> Result<i64, Error> {
    let s = text.trim();
    let today = now_ms.div_euclid(MS_PER_DAY).saturating_mul(MS_PER_DAY);
    match s {
        "now" => return Ok(now_ms),
        "today" => return Ok(today),
        "yesterday" => return Ok(today.saturating_sub(MS_PER_DAY)),
        "tomorrow" => return Ok(today.saturating_add(MS_PER_DAY)),
        _ => {}
    }
    if let Some(t) = parse_absolute(s) {
        return Ok(t);
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(secs) = s.parse::<i64>() {
            return secs.checked_mul(1000).ok_or_else(|| Error::Time(text.to_string()));
        }
    }
    let relative = s.strip_prefix("now").unwrap_or(s);
    match parse_interval(relative) {
        Ok(offset) => Ok(now_ms.saturating_add(offset)),
        Err(_) => Err(Error::Time(text.to_string())),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian (year, month, day) of a day number since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD HH:MM:SS` in UTC of unix seconds (Python's `strftime("%Y-%m-%d %H:%M:%S")`).
pub(crate) fn utc_datetime_text(unix_s: i64) -> String {
    let (days, secs) = (unix_s.div_euclid(86_400), unix_s.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// A calendar unit that a time can be rounded down to (smartSummarize's alignTo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CalendarUnit {
    Seconds,
    Minutes,
    Hours,
    Days,
    /// Weeks starting on the given ISO weekday (1 = Monday .. 7 = Sunday).
    Weeks(u32),
    Months,
    Years,
}

/// Rounds `t_ms` down to the start of its `unit` in UTC.
pub(crate) fn floor_to_unit(t_ms: i64, unit: CalendarUnit) -> i64 {
    let secs = t_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (y, m, _) = civil_from_days(days);
    let floored_s = match unit {
        CalendarUnit::Seconds => secs,
        CalendarUnit::Minutes => secs - secs.rem_euclid(60),
        CalendarUnit::Hours => days * 86_400 + of_day - of_day % 3600,
        CalendarUnit::Days => days * 86_400,
        CalendarUnit::Weeks(iso_day) => {
            // 1970-01-01 was a Thursday (ISO weekday 4).
            let weekday = (days + 3).rem_euclid(7) + 1;
            (days - (weekday - i64::from(iso_day)).rem_euclid(7)) * 86_400
        }
        CalendarUnit::Months => days_from_civil(y, m, 1) * 86_400,
        CalendarUnit::Years => days_from_civil(y, 1, 1) * 86_400,
    };
    floored_s.saturating_mul(1000)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn date_ms(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400
        + (hour * 3600 + minute * 60 + second) as i64;
    Some(secs * 1000)
}

/// `YYYYMMDD`
fn ymd_compact(s: &str) -> Option<(i64, u32, u32)> {
    if s.len() != 8 {
        return None;
    }
    Some((num(s.get(0..4)?)? as i64, num(s.get(4..6)?)?, num(s.get(6..8)?)?))
}

/// `HH:MM`
fn hour_minute(s: &str) -> Option<(u32, u32)> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    Some((num(h)?, num(m)?))
}

fn parse_absolute(s: &str) -> Option<i64> {
    if let Some(t) = parse_rfc3339(s) {
        return Some(t);
    }
    // HH:MM_YYYYMMDD, HH:MM YYYYMMDD, HH:MMYYYYMMDD
    if s.len() >= 13 && s.as_bytes().get(2) == Some(&b':') && s.is_char_boundary(5) {
        let (hm, rest) = s.split_at(5);
        let date = rest.strip_prefix(['_', ' ']).unwrap_or(rest);
        let (h, m) = hour_minute(hm)?;
        let (y, mo, d) = ymd_compact(date)?;
        return date_ms(y, mo, d, h, m, 0);
    }
    if let Some((y, mo, d)) = ymd_compact(s) {
        return date_ms(y, mo, d, 0, 0, 0);
    }
    // YYYY-MM-DD
    let parts: Vec<&str> = s.split('-').collect();
    if parts.len() == 3 && parts[0].len() == 4 && parts[1].len() == 2 && parts[2].len() == 2 {
        return date_ms(num(parts[0])? as i64, num(parts[1])?, num(parts[2])?, 0, 0, 0);
    }
    // MM/DD/YY
    let parts: Vec<&str> = s.split('/').collect();
    if parts.len() == 3 && parts.iter().all(|p| p.len() == 2) {
        let yy = num(parts[2])? as i64;
        // Two-digit years follow the POSIX convention: 69-99 -> 19xx, 00-68 -> 20xx.
        let year = if yy >= 69 { 1900 + yy } else { 2000 + yy };
        return date_ms(year, num(parts[0])?, num(parts[1])?, 0, 0, 0);
    }
    None
}

/// `YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)`
fn parse_rfc3339(s: &str) -> Option<i64> {
    let (date, rest) = s.split_once(['T', 't'])?;
    let d: Vec<&str> = date.split('-').collect();
    if d.len() != 3 || d[0].len() != 4 || d[1].len() != 2 || d[2].len() != 2 {
        return None;
    }
    if rest.len() < 8 || !rest.is_char_boundary(8) {
        return None;
    }
    let (clock, mut zone) = rest.split_at(8);
    let c: Vec<&str> = clock.split(':').collect();
    if c.len() != 3 || c.iter().any(|p| p.len() != 2) {
        return None;
    }
    let mut frac_ms = 0i64;
    if let Some(f) = zone.strip_prefix('.') {
        let digits = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &f[..digits.min(3)]);
        frac_ms = num(&padded)? as i64;
        zone = &f[digits..];
    }
    let offset_ms = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = match zone.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = hour_minute(zone.get(1..)?)?;
            sign * (h as i64 * 3600 + m as i64 * 60) * 1000
        }
    };
    let base = date_ms(num(d[0])? as i64, num(d[1])?, num(d[2])?, num(c[0])?, num(c[1])?, num(c[2])?)?;
    Some(base + frac_ms - offset_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2024-03-05T12:34:56Z
    const NOW: i64 = 1_709_642_096_000;

    #[test]
    fn intervals() {
        let cases: &[(&str, i64)] = &[
            ("10s", 10_000),
            ("-5min", -300_000),
            ("5m", 300_000),
            ("1.5h", 5_400_000),
            ("2d", 172_800_000),
            ("1w", 604_800_000),
            ("1mon", 2_592_000_000),
            ("1y", 31_536_000_000),
            ("+3hours", 10_800_000),
            ("250ms", 250),
            (" 7 days ", 604_800_000),
        ];
        for (text, want) in cases {
            assert_eq!(parse_interval(text).unwrap(), *want, "{text}");
        }
        for bad in ["", "5", "h", "5x", "1e400y", "--1h"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times() {
        let today = 1_709_596_800_000; // 2024-03-05T00:00:00Z
        let cases: &[(&str, i64)] = &[
            ("now", NOW),
            ("today", today),
            ("yesterday", today - MS_PER_DAY),
            ("-1h", NOW - 3_600_000),
            ("-10min", NOW - 600_000),
            ("now-2d", NOW - 2 * MS_PER_DAY),
            ("now+1h", NOW + 3_600_000),
            ("1709642096", NOW),
            ("2024-03-05T12:34:56Z", NOW),
            ("2024-03-05T14:34:56+02:00", NOW),
            ("2024-03-05T12:34:56.5Z", NOW + 500),
            ("12:34_20240305", NOW - 56_000),
            ("12:34 20240305", NOW - 56_000),
            ("12:3420240305", NOW - 56_000),
            ("20240305", today),
            ("2024-03-05", today),
            ("03/05/24", today),
            ("02/29/24", today - 5 * MS_PER_DAY),
            ("19700101", 0),
        ];
        for (text, want) in cases {
            assert_eq!(parse_time(text, NOW).unwrap(), *want, "{text}");
        }
        for bad in ["", "later", "2024-13-01", "02/30/24", "25:00_20240305", "nowish"] {
            assert_eq!(parse_time(bad, NOW), Err(Error::Time(bad.to_string())), "{bad}");
        }
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        for days in [-800_000, -1, 0, 59, 11_017, 19_782, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
    }

    #[test]
    fn datetime_text_and_calendar_floors() {
        assert_eq!(utc_datetime_text(NOW / 1000), "2024-03-05 12:34:56");
        assert_eq!(utc_datetime_text(0), "1970-01-01 00:00:00");
        assert_eq!(utc_datetime_text(-1), "1969-12-31 23:59:59");
        // NOW is Tuesday 2024-03-05T12:34:56Z.
        let day = 1_709_596_800_000;
        let cases = [
            (CalendarUnit::Seconds, NOW),
            (CalendarUnit::Minutes, NOW - 56_000),
            (CalendarUnit::Hours, NOW - 34 * 60_000 - 56_000),
            (CalendarUnit::Days, day),
            (CalendarUnit::Weeks(1), day - MS_PER_DAY),
            (CalendarUnit::Weeks(2), day),
            (CalendarUnit::Weeks(3), day - 6 * MS_PER_DAY),
            (CalendarUnit::Weeks(7), day - 2 * MS_PER_DAY),
            (CalendarUnit::Months, 1_709_251_200_000),
            (CalendarUnit::Years, 1_704_067_200_000),
        ];
        for (unit, want) in cases {
            assert_eq!(floor_to_unit(NOW + 250, unit), want, "{unit:?}");
        }
    }
}
