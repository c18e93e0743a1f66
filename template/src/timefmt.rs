//! Go's time formatting for UTC instants (`Time.Format` layouts such as "2006-01-02 15:04:05",
//! `Time.String`) and `Duration.String` ("1h0m0s"), written here to avoid a date dependency.

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const SECONDS_PER_DAY: i64 = 86_400;
const MONTH_NAMES: [&str; 12] = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAY_NAMES: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// The calendar fields of a UTC instant.
pub struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanosecond: u32,
    /// 0 = Sunday
    pub weekday: u32,
    /// 1..=366
    pub year_day: u32,
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's civil-from-days.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    let year = year_of_era + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

pub fn civil(nanos: i64) -> Civil {
    let seconds = nanos.div_euclid(NANOS_PER_SECOND);
    let nanosecond = nanos.rem_euclid(NANOS_PER_SECOND) as u32;
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let cumulative = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let year_day = cumulative[month as usize - 1] + day + if month > 2 && is_leap(year) { 1 } else { 0 };
    Civil {
        year,
        month,
        day,
        hour: (second_of_day / 3600) as u32,
        minute: (second_of_day / 60 % 60) as u32,
        second: (second_of_day % 60) as u32,
        nanosecond,
        weekday: (days + 4).rem_euclid(7) as u32,
        year_day,
    }
}

/// Go's `Time.String()` for a UTC time: "2006-01-02 15:04:05.999999999 +0000 UTC".
pub fn format_time_default(nanos: i64) -> String {
    format_time(nanos, "2006-01-02 15:04:05.999999999 -0700 MST")
}

/// The layout elements Go recognises, longest first where prefixes overlap.
const LAYOUT_ELEMENTS: [&str; 28] = ["January", "Jan", "Monday", "Mon", "MST", "2006", "002", "01", "02", "03", "04", "05", "06", "15", "1", "_2", "2", "3", "4", "5", "PM", "pm", "-07:00", "-0700", "-07", "Z07:00", "Z0700", "Z07"];

/// Go's `Time.Format` for a UTC instant.
pub fn format_time(nanos: i64, layout: &str) -> String {
    let time = civil(nanos);
    let mut out = String::new();
    let mut rest = layout;
    while !rest.is_empty() {
        if let Some(length) = fraction_element(rest) {
            out.push_str(&format_fraction(&rest[..length], time.nanosecond));
            rest = &rest[length..];
            continue;
        }
        let element = LAYOUT_ELEMENTS.iter().find(|element| rest.starts_with(**element));
        match element {
            Some(element) => {
                out.push_str(&format_element(element, &time));
                rest = &rest[element.len()..];
            }
            None => {
                let c = rest.chars().next().unwrap_or(' ');
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// A `.000`/`.999` (or `,`) fractional-seconds element's length at the start of `rest`.
fn fraction_element(rest: &str) -> Option<usize> {
    let bytes = rest.as_bytes();
    if bytes.len() < 2 || !(bytes[0] == b'.' || bytes[0] == b',') || !(bytes[1] == b'0' || bytes[1] == b'9') {
        return None;
    }
    let digit = bytes[1];
    let mut length = 1;
    while length < bytes.len() && bytes[length] == digit {
        length += 1;
    }
    if length < bytes.len() && bytes[length].is_ascii_digit() {
        return None;
    }
    Some(length)
}

fn format_fraction(element: &str, nanosecond: u32) -> String {
    let digits = (element.len() - 1).min(9);
    let all = format!("{nanosecond:09}");
    let shown = &all[..digits];
    if element.as_bytes()[1] == b'0' {
        return format!("{}{shown}", &element[..1]);
    }
    let trimmed = shown.trim_end_matches('0');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{}{trimmed}", &element[..1])
    }
}

fn format_element(element: &str, time: &Civil) -> String {
    let hour12 = if time.hour.is_multiple_of(12) { 12 } else { time.hour % 12 };
    match element {
        "January" => MONTH_NAMES[time.month as usize - 1].to_string(),
        "Jan" => MONTH_NAMES[time.month as usize - 1][..3].to_string(),
        "Monday" => DAY_NAMES[time.weekday as usize].to_string(),
        "Mon" => DAY_NAMES[time.weekday as usize][..3].to_string(),
        "MST" => "UTC".to_string(),
        "2006" => format!("{:04}", time.year),
        "06" => format!("{:02}", time.year.rem_euclid(100)),
        "002" => format!("{:03}", time.year_day),
        "01" => format!("{:02}", time.month),
        "1" => time.month.to_string(),
        "02" => format!("{:02}", time.day),
        "2" => time.day.to_string(),
        "_2" => format!("{:>2}", time.day),
        "15" => format!("{:02}", time.hour),
        "03" => format!("{hour12:02}"),
        "3" => hour12.to_string(),
        "04" => format!("{:02}", time.minute),
        "4" => time.minute.to_string(),
        "05" => format!("{:02}", time.second),
        "5" => time.second.to_string(),
        "PM" => if time.hour >= 12 { "PM" } else { "AM" }.to_string(),
        "pm" => if time.hour >= 12 { "pm" } else { "am" }.to_string(),
        "-07:00" => "+00:00".to_string(),
        "-0700" => "+0000".to_string(),
        "-07" => "+00".to_string(),
        _ => "Z".to_string(),
    }
}

/// Go's `Duration.String()`: "1h2m3.5s", "1.5ms", "0s".
pub fn format_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let magnitude = nanos.unsigned_abs();
    if magnitude < NANOS_PER_SECOND as u64 {
        let (unit, scale) = if magnitude < 1_000 {
            ("ns", 1)
        } else if magnitude < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", fixed_fraction(magnitude, scale));
    }
    let total_seconds = magnitude / NANOS_PER_SECOND as u64;
    let hours = total_seconds / 3600;
    let minutes = total_seconds / 60 % 60;
    let seconds_text = fixed_fraction(magnitude % (60 * NANOS_PER_SECOND as u64), NANOS_PER_SECOND as u64);
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{seconds_text}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{seconds_text}s")
    } else {
        format!("{sign}{seconds_text}s")
    }
}

/// `value / scale` with the fraction's trailing zeros dropped.
fn fixed_fraction(value: u64, scale: u64) -> String {
    let whole = value / scale;
    let fraction = value % scale;
    if fraction == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}
