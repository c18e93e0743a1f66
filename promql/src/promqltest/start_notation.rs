//! The start-time lines of test scripts (`metric{labels}@st <offsets>`, before the series line
//! they belong to): per step an offset from that step's sample time to its start, as Prometheus'
//! test harness reads them: `_` and `_xN` (no start), `<dur>`, `<dur>xN` (N+1 times),
//! `<dur>+<dur>xN` and `<dur>-<dur>xN` (N+1 offsets changing by the second duration). A
//! duration is a sign, digits and at most one unit (`-59999ms`, `1m`, `0`).

/// The offsets of a start-time line, one per step (`None`: that step's sample has no start).
pub fn parse_start_offsets(text: &str) -> Result<Vec<Option<i64>>, String> {
    let mut out = Vec::new();
    for item in text.split_whitespace() {
        expand_item(item, &mut out).map_err(|why| format!("invalid start time offset {item:?}: {why}"))?;
    }
    Ok(out)
}

fn expand_item(item: &str, out: &mut Vec<Option<i64>>) -> Result<(), String> {
    if item == "_" {
        out.push(None);
        return Ok(());
    }
    if let Some(count) = item.strip_prefix("_x") {
        let n = repeat_count(count)?;
        if n == 0 {
            return Err("a gap repeats at least once".into());
        }
        out.extend(std::iter::repeat_n(None, n));
        return Ok(());
    }
    let (base, rest) = duration_prefix(item)?;
    if rest.is_empty() {
        out.push(Some(base));
        return Ok(());
    }
    if let Some(count) = rest.strip_prefix('x') {
        out.extend(std::iter::repeat_n(Some(base), repeat_count(count)? + 1));
        return Ok(());
    }
    let negative = match rest.as_bytes()[0] {
        b'+' => false,
        b'-' => true,
        other => return Err(format!("unexpected {:?} after a duration", char::from(other))),
    };
    let (delta, rest) = duration_prefix(&rest[1..])?;
    let delta = if negative { -delta } else { delta };
    let count = rest.strip_prefix('x').ok_or("expected x<count> after the step")?;
    let mut offset = base;
    for _ in 0..=repeat_count(count)? {
        out.push(Some(offset));
        offset += delta;
    }
    Ok(())
}

fn repeat_count(text: &str) -> Result<usize, String> {
    text.parse::<usize>().map_err(|_| format!("bad repeat count {text:?}"))
}

/// A signed duration at the start of `text` in milliseconds, and what follows it.
fn duration_prefix(text: &str) -> Result<(i64, &str), String> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let digits_end = unsigned.find(|c: char| !c.is_ascii_digit()).unwrap_or(unsigned.len());
    if digits_end == 0 {
        return Err(format!("expected digits in {text:?}"));
    }
    // The unit: letters up to `x`, which separates the repeat count.
    let unit_end = digits_end + unsigned[digits_end..].find(|c: char| !c.is_ascii_alphabetic() || c == 'x').unwrap_or(unsigned.len() - digits_end);
    let amount: i64 = unsigned[..digits_end].parse().map_err(|_| format!("duration out of range in {text:?}"))?;
    let unit_ms: i64 = match &unsigned[digits_end..unit_end] {
        "" if amount == 0 => 0,
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        "y" => 31_536_000_000,
        unit => return Err(format!("unknown duration unit {unit:?}")),
    };
    let ms = amount.checked_mul(unit_ms).ok_or_else(|| format!("duration out of range in {text:?}"))?;
    Ok((if negative { -ms } else { ms }, &unsigned[unit_end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_expand_like_prometheus_reads_them() {
        let cases: &[(&str, &[Option<i64>])] = &[
            ("_ _ -30s-1mx2", &[None, None, Some(-30_000), Some(-90_000), Some(-150_000)]),
            ("-59999msx2", &[Some(-59_999), Some(-59_999), Some(-59_999)]),
            ("0-1mx1 1ms +1m -0ms", &[Some(0), Some(-60_000), Some(1), Some(60_000), Some(0)]),
            ("_x2 -3s", &[None, None, Some(-3_000)]),
            ("1h+1sx1", &[Some(3_600_000), Some(3_601_000)]),
        ];
        for (text, want) in cases {
            assert_eq!(parse_start_offsets(text).as_deref(), Ok(*want), "{text}");
        }
        for bad in ["1", "1m1s", "x3", "_x0", "1m*1mx2", "1m+1m", "5q"] {
            assert!(parse_start_offsets(bad).is_err(), "{bad}");
        }
    }
}
