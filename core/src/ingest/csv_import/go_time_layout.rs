//! Go time layouts (`2006-01-02 15:04:05.000 MST`) read as Go's `time.Parse` and
//! `time.Format` read them, for VictoriaMetrics' CSV `time:rfc3339` and `time:custom:<layout>`
//! import columns and its `__timestamp__:custom:<layout>` export field. Every instant is UTC:
//! a zone abbreviation parses as offset 0, as Go does on a host whose local zone is UTC.

use promql::format::{civil_from_days, days_from_civil};

/// Go's `time.RFC3339`, what the `rfc3339` time format parses and writes.
pub const RFC3339: &str = "2006-01-02T15:04:05Z07:00";

const LONG_MONTHS: [&str; 12] = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const LONG_WEEKDAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// Characters of a value shown in an error.
const VALUE_SHOWN_CHARS_MAX: usize = 64;

/// How a numeric zone offset is written (the layout's `-07`, `-0700`, `-07:00`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OffsetStyle {
    Hours,
    HoursMinutes,
    HoursColonMinutes,
    HoursMinutesSeconds,
    HoursColonMinutesColonSeconds,
}

/// One element of a layout (Go's "std chunks").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Element {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekday,
    Weekday,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    UpperPm,
    LowerPm,
    ZoneName,
    /// `z_for_utc`: the `Z07:00` family, where `Z` stands for UTC.
    Offset { z_for_utc: bool, style: OffsetStyle },
    /// `.000` (fixed digits) or `.999` (trailing zeros trimmed); `separator` is `.` or `,`.
    Fraction { separator: u8, digits: usize, trimmed: bool },
}

/// A parsed layout: literal text and elements in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoTimeLayout {
    layout: String,
    /// Each element with the literal text before it.
    steps: Vec<(String, Element)>,
    /// The literal text after the last element.
    tail: String,
}

/// Fields read from a value, Go's defaults where the layout has none.
struct Fields {
    year: i64,
    month: Option<i64>,
    day: Option<i64>,
    year_day: Option<i64>,
    hour: i64,
    minute: i64,
    second: i64,
    nanos: i64,
    pm: Option<bool>,
    offset_seconds: i64,
}

impl GoTimeLayout {
    /// Splits `layout` into elements as Go does; every text is a layout (what Go does not
    /// recognise is literal text).
    pub fn new(layout: &str) -> GoTimeLayout {
        let bytes = layout.as_bytes();
        let mut steps = Vec::new();
        let mut literal_start = 0;
        let mut i = 0;
        while i < bytes.len() {
            match element_at(bytes, i) {
                Some((element, length)) => {
                    steps.push((layout[literal_start..i].to_string(), element));
                    i += length;
                    literal_start = i;
                }
                None => i += 1,
            }
        }
        GoTimeLayout { layout: layout.to_string(), steps, tail: layout[literal_start..].to_string() }
    }

    pub fn as_str(&self) -> &str {
        &self.layout
    }

    /// Whether the layout has a year (`2006` or `06`): without one Go dates every value in
    /// year 0.
    pub fn has_year(&self) -> bool {
        self.steps.iter().any(|(_, e)| matches!(e, Element::LongYear | Element::Year))
    }

    /// The instant `value` names, in milliseconds since the epoch (nanoseconds truncated
    /// toward zero, as VictoriaMetrics' `UnixNano() / 1e6`); the error says what did not match.
    pub fn parse_ms(&self, value: &str) -> Result<i64, String> {
        let fail = |problem: String| format!("cannot parse {} with the Go layout {:?}: {problem}", shown(value), self.layout);
        let mut fields = Fields { year: 0, month: None, day: None, year_day: None, hour: 0, minute: 0, second: 0, nanos: 0, pm: None, offset_seconds: 0 };
        let mut rest = value.as_bytes();
        for (k, (literal, element)) in self.steps.iter().enumerate() {
            rest = skip_literal(rest, literal.as_bytes()).ok_or_else(|| fail(format!("{} does not match {literal:?}", shown_bytes(rest))))?;
            let fraction_follows = matches!(self.steps.get(k + 1), Some((_, Element::Fraction { .. })));
            rest = parse_element(*element, rest, fraction_follows, &mut fields).map_err(fail)?;
        }
        rest = skip_literal(rest, self.tail.as_bytes()).ok_or_else(|| fail(format!("{} does not match {:?}", shown_bytes(rest), self.tail)))?;
        if !rest.is_empty() {
            return Err(fail(format!("extra text {}", shown_bytes(rest))));
        }
        fields.to_ms().map_err(fail)
    }

    /// Appends `timestamp_ms` (UTC) written with the layout.
    pub fn format_ms(&self, out: &mut String, timestamp_ms: i64) {
        let seconds = timestamp_ms.div_euclid(1000);
        let nanos = timestamp_ms.rem_euclid(1000) * 1_000_000;
        let days = seconds.div_euclid(86_400);
        let second_of_day = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let year_day = days - days_from_civil(year, 1, 1) + 1;
        // 1970-01-01 was a Thursday.
        let weekday = (days + 4).rem_euclid(7) as usize;
        let (hour, minute, second) = (second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60);
        for (literal, element) in &self.steps {
            out.push_str(literal);
            match *element {
                Element::LongYear => push_int(out, year, 4),
                Element::Year => push_int(out, year % 100, 2),
                Element::LongMonth => out.push_str(LONG_MONTHS[(month - 1) as usize]),
                Element::Month => out.push_str(&LONG_MONTHS[(month - 1) as usize][..3]),
                Element::NumMonth => push_int(out, month, 0),
                Element::ZeroMonth => push_int(out, month, 2),
                Element::LongWeekday => out.push_str(LONG_WEEKDAYS[weekday]),
                Element::Weekday => out.push_str(&LONG_WEEKDAYS[weekday][..3]),
                Element::Day => push_int(out, day, 0),
                Element::UnderDay => {
                    if day < 10 {
                        out.push(' ');
                    }
                    push_int(out, day, 0);
                }
                Element::ZeroDay => push_int(out, day, 2),
                Element::UnderYearDay => {
                    let pad = if year_day < 10 { "  " } else if year_day < 100 { " " } else { "" };
                    out.push_str(pad);
                    push_int(out, year_day, 0);
                }
                Element::ZeroYearDay => push_int(out, year_day, 3),
                Element::Hour => push_int(out, hour, 2),
                Element::Hour12 | Element::ZeroHour12 => {
                    let twelve = if hour % 12 == 0 { 12 } else { hour % 12 };
                    push_int(out, twelve, if *element == Element::ZeroHour12 { 2 } else { 0 });
                }
                Element::Minute => push_int(out, minute, 0),
                Element::ZeroMinute => push_int(out, minute, 2),
                Element::Second => push_int(out, second, 0),
                Element::ZeroSecond => push_int(out, second, 2),
                Element::UpperPm => out.push_str(if hour >= 12 { "PM" } else { "AM" }),
                Element::LowerPm => out.push_str(if hour >= 12 { "pm" } else { "am" }),
                Element::ZoneName => out.push_str("UTC"),
                Element::Offset { z_for_utc: true, .. } => out.push('Z'),
                Element::Offset { z_for_utc: false, style } => out.push_str(match style {
                    OffsetStyle::Hours => "+00",
                    OffsetStyle::HoursMinutes => "+0000",
                    OffsetStyle::HoursColonMinutes => "+00:00",
                    OffsetStyle::HoursMinutesSeconds => "+000000",
                    OffsetStyle::HoursColonMinutesColonSeconds => "+00:00:00",
                }),
                Element::Fraction { separator, digits, trimmed } => push_fraction(out, nanos, separator, digits, trimmed),
            }
        }
        out.push_str(&self.tail);
    }
}

/// The element starting at `layout[i]`, with its length in bytes (Go's `nextStdChunk`).
fn element_at(layout: &[u8], i: usize) -> Option<(Element, usize)> {
    let rest = &layout[i..];
    let starts = |prefix: &str| rest.starts_with(prefix.as_bytes());
    let offset = |z_for_utc, style| Element::Offset { z_for_utc, style };
    match rest[0] {
        b'J' if starts("January") => Some((Element::LongMonth, 7)),
        b'J' if starts("Jan") => Some((Element::Month, 3)),
        b'M' if starts("Monday") => Some((Element::LongWeekday, 6)),
        b'M' if starts("Mon") => Some((Element::Weekday, 3)),
        b'M' if starts("MST") => Some((Element::ZoneName, 3)),
        b'0' if rest.len() >= 2 && (b'1'..=b'6').contains(&rest[1]) => {
            let zero_padded = [Element::ZeroMonth, Element::ZeroDay, Element::ZeroHour12, Element::ZeroMinute, Element::ZeroSecond, Element::Year];
            Some((zero_padded[(rest[1] - b'1') as usize], 2))
        }
        b'0' if starts("002") => Some((Element::ZeroYearDay, 3)),
        b'1' if starts("15") => Some((Element::Hour, 2)),
        b'1' => Some((Element::NumMonth, 1)),
        b'2' if starts("2006") => Some((Element::LongYear, 4)),
        b'2' => Some((Element::Day, 1)),
        // `_2006` is a literal `_` and a year: the year is found at the next byte.
        b'_' if starts("_2006") => None,
        b'_' if starts("_2") => Some((Element::UnderDay, 2)),
        b'_' if starts("__2") => Some((Element::UnderYearDay, 3)),
        b'3' => Some((Element::Hour12, 1)),
        b'4' => Some((Element::Minute, 1)),
        b'5' => Some((Element::Second, 1)),
        b'P' if starts("PM") => Some((Element::UpperPm, 2)),
        b'p' if starts("pm") => Some((Element::LowerPm, 2)),
        b'-' | b'Z' => {
            let z_for_utc = rest[0] == b'Z';
            let styles = [
                ("070000", OffsetStyle::HoursMinutesSeconds),
                ("07:00:00", OffsetStyle::HoursColonMinutesColonSeconds),
                ("0700", OffsetStyle::HoursMinutes),
                ("07:00", OffsetStyle::HoursColonMinutes),
                ("07", OffsetStyle::Hours),
            ];
            styles.iter().find(|(text, _)| rest[1..].starts_with(text.as_bytes())).map(|&(text, style)| (offset(z_for_utc, style), 1 + text.len()))
        }
        separator @ (b'.' | b',') if rest.len() >= 2 && (rest[1] == b'0' || rest[1] == b'9') => {
            let run = rest[1..].iter().take_while(|&&b| b == rest[1]).count();
            // A run followed by another digit is literal text (`.0001` is not a fraction).
            if rest.get(1 + run).is_some_and(u8::is_ascii_digit) {
                return None;
            }
            Some((Element::Fraction { separator, digits: run, trimmed: rest[1] == b'9' }, 1 + run))
        }
        _ => None,
    }
}

/// `value` after `literal`, where a space in `literal` matches any run of spaces (Go's
/// `skip`); `None` when it does not match.
fn skip_literal<'v>(value: &'v [u8], literal: &[u8]) -> Option<&'v [u8]> {
    let trim_spaces = |s: &'v [u8]| &s[s.iter().take_while(|&&b| b == b' ').count()..];
    let (mut value, mut literal) = (value, literal);
    while let Some(&expected) = literal.first() {
        if expected == b' ' {
            if value.first().is_some_and(|&b| b != b' ') {
                return None;
            }
            literal = &literal[literal.iter().take_while(|&&b| b == b' ').count()..];
            value = trim_spaces(value);
            continue;
        }
        if value.first() != Some(&expected) {
            return None;
        }
        (value, literal) = (&value[1..], &literal[1..]);
    }
    Some(value)
}

/// Reads `element` at the start of `value` into `fields`; the rest of `value`, or what did
/// not match.
fn parse_element<'v>(element: Element, value: &'v [u8], fraction_follows: bool, fields: &mut Fields) -> Result<&'v [u8], String> {
    let mismatch = |what: &str| format!("{} is not {what}", shown_bytes(value));
    let out_of_range = |what: &str| format!("{what} out of range in {}", shown_bytes(value));
    let in_range = |n: i64, low: i64, high: i64, what: &str| if (low..=high).contains(&n) { Ok(n) } else { Err(out_of_range(what)) };
    let rest = match element {
        Element::LongYear => {
            let digits = value.get(..4).filter(|d| d.iter().all(u8::is_ascii_digit)).ok_or_else(|| mismatch("a four-digit year"))?;
            fields.year = decimal(digits);
            &value[4..]
        }
        Element::Year => {
            let digits = value.get(..2).filter(|d| d.iter().all(u8::is_ascii_digit)).ok_or_else(|| mismatch("a two-digit year"))?;
            let n = decimal(digits);
            fields.year = n + if n >= 69 { 1900 } else { 2000 };
            &value[2..]
        }
        Element::LongMonth | Element::Month => {
            let (index, rest) = lookup_name(value, &LONG_MONTHS, element == Element::Month).ok_or_else(|| mismatch("a month name"))?;
            fields.month = Some(index as i64 + 1);
            rest
        }
        Element::NumMonth | Element::ZeroMonth => {
            let (n, rest) = number(value, element == Element::ZeroMonth).ok_or_else(|| mismatch("a month number"))?;
            fields.month = Some(in_range(n, 1, 12, "month")?);
            rest
        }
        Element::LongWeekday | Element::Weekday => {
            lookup_name(value, &LONG_WEEKDAYS, element == Element::Weekday).ok_or_else(|| mismatch("a weekday name"))?.1
        }
        Element::Day | Element::UnderDay | Element::ZeroDay => {
            let value = if element == Element::UnderDay { value.strip_prefix(b" ").unwrap_or(value) } else { value };
            let (n, rest) = number(value, element == Element::ZeroDay).ok_or_else(|| mismatch("a day of the month"))?;
            // Checked against the month once every field is read.
            fields.day = Some(n);
            rest
        }
        Element::UnderYearDay | Element::ZeroYearDay => {
            let mut value = value;
            if element == Element::UnderYearDay {
                for _ in 0..2 {
                    value = value.strip_prefix(b" ").unwrap_or(value);
                }
            }
            let length = value.iter().take(3).take_while(|b| b.is_ascii_digit()).count();
            if length == 0 || (element == Element::ZeroYearDay && length != 3) {
                return Err(mismatch("a day of the year"));
            }
            fields.year_day = Some(in_range(decimal(&value[..length]), 1, 366, "day of the year")?);
            &value[length..]
        }
        Element::Hour => {
            let (n, rest) = number(value, false).ok_or_else(|| mismatch("an hour"))?;
            fields.hour = in_range(n, 0, 23, "hour")?;
            rest
        }
        Element::Hour12 | Element::ZeroHour12 => {
            let (n, rest) = number(value, element == Element::ZeroHour12).ok_or_else(|| mismatch("an hour"))?;
            fields.hour = in_range(n, 0, 12, "hour")?;
            rest
        }
        Element::Minute | Element::ZeroMinute => {
            let (n, rest) = number(value, element == Element::ZeroMinute).ok_or_else(|| mismatch("a minute"))?;
            fields.minute = in_range(n, 0, 59, "minute")?;
            rest
        }
        Element::Second | Element::ZeroSecond => {
            let (n, rest) = number(value, element == Element::ZeroSecond).ok_or_else(|| mismatch("a second"))?;
            fields.second = in_range(n, 0, 59, "second")?;
            // Go reads a fraction after the seconds even when the layout has none.
            let has_fraction = rest.len() >= 2 && matches!(rest[0], b'.' | b',') && rest[1].is_ascii_digit();
            if has_fraction && !fraction_follows {
                let length = 1 + rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
                fields.nanos = nanos_of(&rest[..length]);
                &rest[length..]
            } else {
                rest
            }
        }
        Element::UpperPm | Element::LowerPm => {
            let marker = value.get(..2).ok_or_else(|| mismatch("AM or PM"))?;
            let (am, pm): (&[u8], &[u8]) = if element == Element::UpperPm { (b"AM", b"PM") } else { (b"am", b"pm") };
            fields.pm = Some(match marker {
                m if m == pm => true,
                m if m == am => false,
                _ => return Err(mismatch(if element == Element::UpperPm { "AM or PM" } else { "am or pm" })),
            });
            &value[2..]
        }
        Element::ZoneName => {
            let length = if value.starts_with(b"UTC") { 3 } else { zone_name_length(value).ok_or_else(|| mismatch("a time zone name"))? };
            // Go dates a zone it does not know (all but the host's, here UTC) at offset 0.
            &value[length..]
        }
        Element::Offset { z_for_utc, style } => {
            if z_for_utc && value.first() == Some(&b'Z') {
                fields.offset_seconds = 0;
                return Ok(&value[1..]);
            }
            let (offset, rest) = zone_offset(value, style).ok_or_else(|| mismatch("a zone offset"))?;
            fields.offset_seconds = offset;
            rest
        }
        Element::Fraction { digits, trimmed: false, .. } => {
            let length = 1 + digits;
            let fraction = value.get(..length).filter(|f| matches!(f[0], b'.' | b',') && f[1..].iter().all(u8::is_ascii_digit));
            fields.nanos = nanos_of(fraction.ok_or_else(|| mismatch(&format!("a fraction of {digits} digits")))?);
            &value[length..]
        }
        Element::Fraction { trimmed: true, .. } => {
            // Optional, and of any length.
            if value.len() < 2 || !matches!(value[0], b'.' | b',') || !value[1].is_ascii_digit() {
                value
            } else {
                let length = 1 + value[1..].iter().take_while(|b| b.is_ascii_digit()).count();
                fields.nanos = nanos_of(&value[..length]);
                &value[length..]
            }
        }
    };
    Ok(rest)
}

impl Fields {
    /// The instant, once every field is read: AM/PM applied, the day of the year turned into
    /// a date, the day checked against its month.
    fn to_ms(&self) -> Result<i64, String> {
        let mut hour = self.hour;
        match self.pm {
            Some(true) if hour < 12 => hour += 12,
            Some(false) if hour == 12 => hour = 0,
            _ => {}
        }
        let (month, day) = match self.year_day {
            Some(year_day) => {
                let days_in_year = if is_leap(self.year) { 366 } else { 365 };
                if year_day > days_in_year {
                    return Err(format!("day of the year {year_day} out of range in {}", self.year));
                }
                let (_, month, day) = civil_from_days(days_from_civil(self.year, 1, 1) + year_day - 1);
                if self.month.is_some_and(|m| m != month) || self.day.is_some_and(|d| d != day) {
                    return Err(format!("day of the year {year_day} does not match the month and day"));
                }
                (month, day)
            }
            None => (self.month.unwrap_or(1), self.day.unwrap_or(1)),
        };
        if day < 1 || day > days_in_month(self.year, month) {
            return Err(format!("day {day} out of range for month {month} of {}", self.year));
        }
        let seconds = days_from_civil(self.year, month, day) * 86_400 + hour * 3600 + self.minute * 60 + self.second - self.offset_seconds;
        let nanos = i128::from(seconds) * 1_000_000_000 + i128::from(self.nanos);
        i64::try_from(nanos / 1_000_000).map_err(|_| "the time is out of range".to_string())
    }
}

/// One or two digits (exactly two when `fixed`), Go's `getnum`.
fn number(value: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    let first = *value.first().filter(|b| b.is_ascii_digit())?;
    match value.get(1).filter(|b| b.is_ascii_digit()) {
        Some(&second) => Some((i64::from(first - b'0') * 10 + i64::from(second - b'0'), &value[2..])),
        None if fixed => None,
        None => Some((i64::from(first - b'0'), &value[1..])),
    }
}

/// The value of ASCII digits (callers pass at most a few).
fn decimal(digits: &[u8]) -> i64 {
    digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0'))
}

/// Nanoseconds of a separator and digits (`.5`, `,123456789123`: digits past the ninth are
/// dropped).
fn nanos_of(fraction: &[u8]) -> i64 {
    let digits = &fraction[1..fraction.len().min(10)];
    decimal(digits) * 10i64.pow(9 - digits.len() as u32)
}

/// The index of the name in `names` (their first three letters when `short`) that `value`
/// starts with, ignoring ASCII case, and the rest.
fn lookup_name<'v>(value: &'v [u8], names: &[&str], short: bool) -> Option<(usize, &'v [u8])> {
    names.iter().enumerate().find_map(|(index, name)| {
        let name = if short { &name.as_bytes()[..3] } else { name.as_bytes() };
        let head = value.get(..name.len())?;
        head.eq_ignore_ascii_case(name).then(|| (index, &value[name.len()..]))
    })
}

/// The length of the zone abbreviation `value` starts with (Go's `parseTimeZone`): `GMT` with
/// an optional hour offset, a signed offset, `ChST`/`MeST`, or three to five capitals (four or
/// five ending in `T`, or `WITA`).
fn zone_name_length(value: &[u8]) -> Option<usize> {
    if value.len() < 3 {
        return None;
    }
    if value.starts_with(b"ChST") || value.starts_with(b"MeST") {
        return Some(4);
    }
    if value.starts_with(b"GMT") {
        return Some(3 + signed_hours_length(&value[3..]).unwrap_or(0));
    }
    if matches!(value[0], b'+' | b'-') {
        return signed_hours_length(value);
    }
    let capitals = value.iter().take(6).take_while(|b| b.is_ascii_uppercase()).count();
    match capitals {
        3 => Some(3),
        4 if value[3] == b'T' || value.starts_with(b"WITA") => Some(4),
        5 if value[4] == b'T' => Some(5),
        _ => None,
    }
}

/// The length of a sign and an hour count of at most 12 (`+3`, `-10`; Go's
/// `parseSignedOffset`).
fn signed_hours_length(value: &[u8]) -> Option<usize> {
    if !matches!(value.first(), Some(b'+' | b'-')) {
        return None;
    }
    let digits = value[1..].iter().take_while(|b| b.is_ascii_digit()).count();
    let hours = value[1..1 + digits].iter().try_fold(0i64, |n, d| n.checked_mul(10)?.checked_add(i64::from(d - b'0')));
    (digits > 0 && hours.is_some_and(|h| h <= 12)).then_some(1 + digits)
}

/// A numeric zone offset in `style` (`+02:00`, `-0530`, …) in seconds east of UTC, and the
/// rest of `value`.
fn zone_offset(value: &[u8], style: OffsetStyle) -> Option<(i64, &[u8])> {
    // (length, where the hours, minutes and seconds digits start, where colons must be)
    let (length, minutes_at, seconds_at, colons): (usize, Option<usize>, Option<usize>, &[usize]) = match style {
        OffsetStyle::Hours => (3, None, None, &[]),
        OffsetStyle::HoursMinutes => (5, Some(3), None, &[]),
        OffsetStyle::HoursColonMinutes => (6, Some(4), None, &[3]),
        OffsetStyle::HoursMinutesSeconds => (7, Some(3), Some(5), &[]),
        OffsetStyle::HoursColonMinutesColonSeconds => (9, Some(4), Some(7), &[3, 6]),
    };
    let text = value.get(..length)?;
    if colons.iter().any(|&at| text[at] != b':') {
        return None;
    }
    let two_digits = |at: Option<usize>| match at {
        None => Some(0),
        Some(at) => number(&text[at..at + 2], true).map(|(n, _)| n),
    };
    let (hours, minutes, seconds) = (two_digits(Some(1))?, two_digits(minutes_at)?, two_digits(seconds_at)?);
    if hours > 24 || minutes > 60 || seconds > 60 {
        return None;
    }
    let offset = hours * 3600 + minutes * 60 + seconds;
    match text[0] {
        b'+' => Some((offset, &value[length..])),
        b'-' => Some((-offset, &value[length..])),
        _ => None,
    }
}

/// Appends `n` zero-padded to `width` digits (Go's `appendInt`: a minus sign before the padding).
fn push_int(out: &mut String, n: i64, width: usize) {
    if n < 0 {
        out.push('-');
    }
    let digits = n.unsigned_abs().to_string();
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(&digits);
}

/// Appends a fraction of a second as Go writes `.000` (`digits` digits) and `.999` (trailing
/// zeros dropped, nothing at all for a whole second).
fn push_fraction(out: &mut String, nanos: i64, separator: u8, digits: usize, trimmed: bool) {
    let all = format!("{nanos:09}");
    let mut shown = &all[..digits.min(9)];
    if trimmed {
        shown = shown.trim_end_matches('0');
        if shown.is_empty() {
            return;
        }
    }
    out.push(char::from(separator));
    out.push_str(shown);
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn shown(value: &str) -> String {
    format!("{:?}", value.chars().take(VALUE_SHOWN_CHARS_MAX).collect::<String>())
}

fn shown_bytes(value: &[u8]) -> String {
    shown(&String::from_utf8_lossy(value))
}

#[cfg(test)]
mod tests;
