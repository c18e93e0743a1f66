//! Tests of the Go time layouts: every element read and written, and what is refused.

use super::*;

fn parse(layout: &str, value: &str) -> Result<i64, String> {
    GoTimeLayout::new(layout).parse_ms(value)
}

fn format(layout: &str, timestamp_ms: i64) -> String {
    let mut out = String::new();
    GoTimeLayout::new(layout).format_ms(&mut out, timestamp_ms);
    out
}

#[test]
fn rfc3339_parses_as_go_does() {
    // (value, milliseconds): VictoriaMetrics' own cases, fractions Go reads after the
    // seconds, offsets, and nanoseconds truncated toward zero.
    let cases = [
        ("2006-01-02T15:04:05Z", 1_136_214_245_000),
        ("2020-03-11T18:23:46Z", 1_583_951_026_000),
        ("2020-01-02T15:04:05.123456789+02:00", 1_577_970_245_123),
        ("2020-01-02T15:04:07.5Z", 1_577_977_447_500),
        ("2020-01-02T15:04:07,25Z", 1_577_977_447_250),
        ("1969-12-31T23:59:59.9995Z", 0),
        ("2020-02-29T00:00:00-00:30", 1_582_936_200_000),
    ];
    for (value, expected) in cases {
        assert_eq!(parse(RFC3339, value), Ok(expected), "{value}");
    }
    for (value, problem) in [
        ("2020-01-02T15:04:06", "\"\" is not a zone offset"),
        ("2020-13-02T15:04:06Z", "month out of range"),
        ("2021-02-29T00:00:00Z", "day 29 out of range for month 2 of 2021"),
        ("2020-01-02T24:00:00Z", "hour out of range"),
        ("2020-01-02 15:04:05Z", "does not match \"T\""),
        ("2020-01-02T15:04:05Zjunk", "extra text \"junk\""),
        ("20-01-02T15:04:05Z", "is not a four-digit year"),
    ] {
        let error = parse(RFC3339, value).expect_err(value);
        assert!(error.contains(problem) && error.contains(RFC3339), "{value}: {error}");
    }
}

#[test]
fn custom_layouts_parse_every_element() {
    let cases = [
        // VictoriaMetrics' own cases.
        ("Mon, 02 Jan 2006 15:04:05 MST", "Mon, 29 Oct 2018 07:50:37 GMT", 1_540_799_437_000),
        ("2006-01-02 15:04:05.999Z", "2015-08-10 20:04:40.123Z", 1_439_237_080_123),
        ("2006-01-02 15:04:05.999Z", "2015-08-10 00:00:01.000Z", 1_439_164_801_000),
        // Names in any case, 12-hour clocks, short years, spaces matching runs of spaces.
        ("January _2 06 3:04:05 PM", "AUGUST  9 15 8:04:40 PM", 1_439_150_680_000),
        ("Jan 2 2006 03:04 pm", "aug 9 2015 12:30 am", 1_439_080_200_000),
        ("02/01/2006 15:04", "10/08/2015 20:04", 1_439_237_040_000),
        ("1/2/06", "8/10/15", 1_439_164_800_000),
        ("2006-002", "2020-032", 1_580_515_200_000),
        ("2006 __2", "2020  60", 1_582_934_400_000),
        ("20060102150405", "20150810200440", 1_439_237_080_000),
        ("2006-01-02T15:04:05.000-0700", "2015-08-10T20:04:40.123+0130", 1_439_231_680_123),
        ("2006-01-02 15:04:05 -07", "2015-08-10 20:04:40 -02", 1_439_244_280_000),
        ("2006-01-02 15:04:05 Z070000", "2015-08-10 20:04:40 Z", 1_439_237_080_000),
        ("2006-01-02 15:04 MST", "2020-01-02 15:04 CET", 1_577_977_440_000),
        ("2006-01-02 15:04 MST", "2020-01-02 15:04 GMT+3", 1_577_977_440_000),
        ("_2006", "_2015", 1_420_070_400_000),
        ("2006.0001", "2015.0001", 1_420_070_400_000),
        ("Monday 2006-01-02", "tuesday 2015-08-11", 1_439_251_200_000),
    ];
    for (layout, value, expected) in cases {
        assert_eq!(parse(layout, value), Ok(expected), "{layout} <- {value}");
    }
    for (layout, value, problem) in [
        ("2006-01-02", "2015-8-10", "is not a month number"),
        ("2006-002", "2020-367", "day of the year out of range"),
        ("2006-002 01", "2020-032 03", "does not match the month"),
        ("2006 .000", "2015 .12", "is not a fraction of 3 digits"),
        ("2006 PM", "2015 XM", "is not AM or PM"),
        ("2006 MST", "2015 Utc", "is not a time zone name"),
        ("2006 -07:00", "2015 +0100", "is not a zone offset"),
        ("2006 Jan", "2015 Jen", "is not a month name"),
    ] {
        let error = parse(layout, value).expect_err(value);
        assert!(error.contains(problem), "{layout} <- {value}: {error}");
    }
    assert!(GoTimeLayout::new("2006-01-02").has_year() && GoTimeLayout::new("06").has_year());
    assert!(!GoTimeLayout::new("15:04:05").has_year() && !GoTimeLayout::new("foobar").has_year());
}

#[test]
fn layouts_format_as_go_does_in_utc() {
    let t = 1_577_977_447_500; // 2020-01-02T15:04:07.5Z, a Thursday
    let cases = [
        (RFC3339, "2020-01-02T15:04:07Z"),
        ("2006-01-02 15:04:05.000", "2020-01-02 15:04:07.500"),
        ("2006-01-02 15:04:05.999999", "2020-01-02 15:04:07.5"),
        ("Jan _2 \"06 15:04:05.999 MST -07:00 Z07 Mon PM", "Jan  2 \"20 15:04:07.5 UTC +00:00 Z Thu PM"),
        ("January 2, 2006 3:4:5 pm Monday", "January 2, 2020 3:4:7 pm Thursday"),
        ("002 __2 1/2/06 -0700 -07 -070000 -07:00:00", "002   2 1/2/20 +0000 +00 +000000 +00:00:00"),
        ("15:04:05,000", "15:04:07,500"),
    ];
    for (layout, expected) in cases {
        assert_eq!(format(layout, t), expected, "{layout}");
    }
    assert_eq!(format("2006-01-02T15:04:05.999Z07:00", 1_577_977_447_000), "2020-01-02T15:04:07Z");
    assert_eq!(format(RFC3339, -1), "1969-12-31T23:59:59Z");
    assert_eq!(format("03:04 PM", 0), "12:00 AM");
}

#[test]
fn formatted_times_parse_back() {
    let layouts = [RFC3339, "2006-01-02 15:04:05.000", "Mon Jan _2 15:04:05.000 2006", "02/01/06 03:04:05.999 PM", "2006-002 15:04:05.000000 -07:00"];
    for layout in layouts {
        // Two-digit years read as 1969 to 2068.
        for t in [0, 1, 951_782_400_123, 1_439_237_080_123, 3_000_000_000_999, -86_400_001] {
            let mut text = String::new();
            GoTimeLayout::new(layout).format_ms(&mut text, t);
            // RFC 3339 as Go writes it has whole seconds.
            let expected = if layout == RFC3339 { t - t.rem_euclid(1000) } else { t };
            assert_eq!(parse(layout, &text), Ok(expected), "{layout}: {text}");
        }
    }
}
