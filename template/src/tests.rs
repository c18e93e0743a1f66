//! Tests: the cases of Prometheus' template_test.go (inputs and expected outputs) and Go
//! text/template behaviour (scoping, trim markers, else-if, range order, printf, errors).

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::value::Value;
use crate::{alert_template, Data, Expansion, QueriedSample, QueryAnswers, Template};

const EXTERNAL_URL: &str = "http://testhost:9090/path/prefix";
/// Prometheus' test evaluation time, 1353755652000 ms.
const NOW_SECONDS: f64 = 1353755652.0;

fn run(text: &str, dot: Value, answers: &QueryAnswers) -> Result<Expansion, String> {
    let template = Template::parse("test", text)?;
    template.expand_dot(dot, EXTERNAL_URL, answers, NOW_SECONDS)
}

fn expand_with(text: &str, dot: Value) -> String {
    match run(text, dot, &QueryAnswers::new()) {
        Ok(Expansion::Text(text)) => text,
        other => panic!("{text:?} expanded to {other:?}"),
    }
}

fn expand(text: &str) -> String {
    expand_with(text, Value::Nil)
}

fn error_with(text: &str, dot: Value, answers: &QueryAnswers) -> String {
    match run(text, dot, answers) {
        Err(message) => message,
        other => panic!("{text:?} should fail, got {other:?}"),
    }
}

fn error(text: &str) -> String {
    error_with(text, Value::Nil, &QueryAnswers::new())
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn answers(query: &str, samples: &[(&[(&str, &str)], f64)]) -> QueryAnswers {
    let samples = samples.iter().map(|(pairs, value)| QueriedSample { labels: labels(pairs), value: *value }).collect();
    QueryAnswers::from([(query.to_string(), Ok(samples))])
}

fn expand_answered(text: &str, answers: &QueryAnswers) -> String {
    match run(text, Value::Nil, answers) {
        Ok(Expansion::Text(text)) => text,
        other => panic!("{text:?} expanded to {other:?}"),
    }
}

fn floats(values: &[f64]) -> Value {
    Value::List(Rc::new(values.iter().map(|v| Value::Float(*v)).collect()))
}

fn ints(values: &[i64]) -> Value {
    Value::List(Rc::new(values.iter().map(|v| Value::Int(*v)).collect()))
}

fn strings(values: &[&str]) -> Value {
    Value::List(Rc::new(values.iter().map(|v| Value::Str(v.to_string())).collect()))
}

#[test]
fn plain_text_and_constants() {
    assert_eq!(expand("plain text"), "plain text");
    assert_eq!(expand("{{ 1 }}"), "1");
    assert_eq!(expand("{{ \"<b>\" }}"), "<b>");
    assert_eq!(expand("{{ 0.5 }} {{ 1e6 }} {{ 0x1F }} {{ 'a' }} {{ true }} {{ -2 }}"), "0.5 1e+06 31 97 true -2");
    assert_eq!(expand(r#"{{ "a\tb\u00e9" }}{{ `raw\n` }}"#), "a\tbé raw\\n".replace(' ', ""));
}

#[test]
fn unrecognized_character_is_a_parse_error() {
    assert_eq!(error("{{\u{a0}}}"), "error parsing template test: template: test:1: unrecognized character in action: U+00A0");
}

#[test]
fn unclosed_action_is_a_parse_error() {
    assert_eq!(error("{{"), "error parsing template test: template: test:1: unclosed action");
}

#[test]
fn unknown_function_and_variable_are_parse_errors() {
    assert_eq!(error("{{ foo }}"), "error parsing template test: template: test:1: function \"foo\" not defined");
    assert_eq!(error("a\n{{ $x }}"), "error parsing template test: template: test:2: undefined variable \"$x\"");
    assert_eq!(error("{{ if 1 }}"), "error parsing template test: template: test:1: unexpected EOF");
    assert_eq!(error("{{ end }}"), "error parsing template test: template: test:1: unexpected {{end}}");
    assert_eq!(error("{{ break }}"), "error parsing template test: template: test:1: {{break}} outside {{range}}");
}

#[test]
fn define_and_template_with_args() {
    assert_eq!(expand("{{define \"x\"}}{{.arg0}} {{.arg1}}{{end}}{{template \"x\" (args 1 \"2\")}}"), "1 2");
    assert_eq!(expand("{{block \"b\" 3}}[{{.}}]{{end}}"), "[3]");
    assert_eq!(error("{{template \"nope\"}}"), "error executing template test: template: test:1:11: executing \"test\" at <{{template \"nope\"}}>: template \"nope\" not defined");
}

#[test]
fn query_first_value_label_strvalue() {
    assert_eq!(expand_answered("{{ query \"1.5\" | first | value }}", &answers("1.5", &[(&[], 1.5)])), "1.5");
    let metric = answers("metric{instance='a'}", &[(&[("__name__", "metric"), ("instance", "a")], 11.0)]);
    assert_eq!(expand_answered("{{ query \"metric{instance='a'}\" | first | value }}", &metric), "11");
    assert_eq!(expand_answered("{{ query \"metric{instance='a'}\" | first | label \"instance\" }}", &metric), "a");
    assert_eq!(expand_answered("{{ query \"metric{instance='a'}\" | first | label \"foo\" }}", &metric), "");
    let with_value = answers("metric{__value__='a'}", &[(&[("__name__", "metric"), ("__value__", "a")], 11.0)]);
    assert_eq!(expand_answered("{{ query \"metric{__value__='a'}\" | first | strvalue }}", &with_value), "a");
    let plain = answers("metric", &[(&[("__name__", "metric"), ("instance", "a")], 11.0)]);
    assert_eq!(expand_answered("{{ $x := query \"metric\" | first }}{{ $x.Labels.foo }}", &plain), "");
}

#[test]
fn range_over_query_sorted_by_label() {
    let both = answers("metric", &[(&[("__name__", "metric"), ("instance", "b")], 21.0), (&[("__name__", "metric"), ("instance", "a")], 11.0)]);
    assert_eq!(expand_answered("{{ range query \"metric\" | sortByLabel \"instance\" }}{{.Labels.instance}}:{{.Value}}: {{end}}", &both), "a:11: b:21: ");
}

#[test]
fn query_without_answer_asks_for_it_then_completes() {
    let template = alert_template("__alert_X", "{{ with query \"up == 0\" }}{{ . | len }} down{{ end }} of {{ $labels.job }}").unwrap();
    let job = labels(&[("job", "node")]);
    let none = BTreeMap::new();
    let data = Data { labels: &job, external_labels: &none, external_url: EXTERNAL_URL, value: 1.0 };
    assert_eq!(template.expand(&data, &QueryAnswers::new()), Ok(Expansion::NeedsQuery("up == 0".to_string())));
    let answered = answers("up == 0", &[(&[("instance", "a")], 0.0), (&[("instance", "b")], 0.0)]);
    assert_eq!(template.expand(&data, &answered), Ok(Expansion::Text("2 down of node".to_string())));
}

#[test]
fn query_error_fails_the_expansion() {
    let failing = QueryAnswers::from([("bad(".to_string(), Err("parse error: unexpected end of input".to_string()))]);
    assert_eq!(error_with("{{ query \"bad(\" }}", Value::Nil, &failing), "error executing template test: template: test:1:3: executing \"test\" at <query \"bad(\">: error calling query: parse error: unexpected end of input");
}

#[test]
fn errors_name_position_and_node() {
    let empty = answers("missing", &[]);
    assert_eq!(error_with("{{ query \"missing\" | first }}", Value::Nil, &empty), "error executing template test: template: test:1:21: executing \"test\" at <first>: error calling first: first() called on vector with no elements");
    assert_eq!(error_with("{{ (query \"missing\").banana }}", Value::Nil, &empty), "error executing template test: template: test:1:10: executing \"test\" at <\"missing\">: can't evaluate field banana in type template.queryResult");
    assert_eq!(error(r#"{{ humanize "one" }}"#), r#"error executing template test: template: test:1:3: executing "test" at <humanize "one">: error calling humanize: strconv.ParseFloat: parsing "one": invalid syntax"#);
    assert_eq!(error(r#"{{ humanize1024 "one" }}"#), r#"error executing template test: template: test:1:3: executing "test" at <humanize1024 "one">: error calling humanize1024: strconv.ParseFloat: parsing "one": invalid syntax"#);
    assert_eq!(error(r#"{{ humanizeDuration "one" }}"#), r#"error executing template test: template: test:1:3: executing "test" at <humanizeDuration "one">: error calling humanizeDuration: strconv.ParseFloat: parsing "one": invalid syntax"#);
    assert_eq!(error(r#"{{ "one" | humanizePercentage }}"#), r#"error executing template test: template: test:1:11: executing "test" at <humanizePercentage>: error calling humanizePercentage: strconv.ParseFloat: parsing "one": invalid syntax"#);
    assert_eq!(error("{{ humanize 1 2 }}"), "error executing template test: template: test:1:3: executing \"test\" at <humanize>: wrong number of args for humanize: want 1 got 2");
}

#[test]
fn missing_values() {
    assert_eq!(expand("{{ .Foo }}"), "<no value>");
    assert_eq!(expand("{{ (args 1).arg7 }}"), "<no value>");
    assert_eq!(expand("{{ index (args 1) \"arg7\" }}"), "<no value>");
}

#[test]
fn stripping_ports_and_domains() {
    let cases = [
        ("foo.example.com", "foo.example.com", "foo"),
        ("foo.example.com:12345", "foo.example.com", "foo:12345"),
        ("192.0.2.1", "192.0.2.1", "192.0.2.1"),
        ("192.0.2.1:12345", "192.0.2.1", "192.0.2.1:12345"),
        ("2001:0DB8::1", "2001:0DB8::1", "2001:0DB8::1"),
        ("[2001:0DB8::1]:12345", "2001:0DB8::1", "[2001:0DB8::1]:12345"),
        ("[2001:0DB8::1]::12345", "[2001:0DB8::1]::12345", "[2001:0DB8::1]::12345"),
    ];
    for (input, without_port, without_domain) in cases {
        assert_eq!(expand(&format!("{{{{ {input:?} | stripPort }}}}")), without_port, "stripPort {input}");
        assert_eq!(expand(&format!("{{{{ {input:?} | stripDomain }}}}")), without_domain, "stripDomain {input}");
    }
}

#[test]
fn regex_functions() {
    assert_eq!(expand("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}"), "xa");
    assert_eq!(expand("{{ reReplaceAll \"(?P<host>[^:]+):.*\" \"${host}!\" \"h1:9100\" }}"), "h1!");
    assert_eq!(expand("{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}"), "true false");
}

#[test]
fn humanize_numbers() {
    assert_eq!(expand_with("{{ range . }}{{ humanize . }}:{{ end }}", floats(&[0.0, 1.0, 1234567.0, 0.12])), "0:1:1.235M:120m:");
    assert_eq!(expand_with("{{ range . }}{{ humanize . }}:{{ end }}", strings(&["0.0", "1.0", "1234567.0", ".12"])), "0:1:1.235M:120m:");
    assert_eq!(expand_with("{{ range . }}{{ humanize . }}:{{ end }}", ints(&[0, -1, 1, 1234567, i64::MAX])), "0:-1:1:1.235M:9.223E:");
    assert_eq!(expand_with("{{ range . }}{{ humanize1024 . }}:{{ end }}", floats(&[0.0, 1.0, 1048576.0, 0.12])), "0:1:1Mi:0.12:");
    assert_eq!(expand_with("{{ range . }}{{ humanize1024 . }}:{{ end }}", strings(&["0.0", "1.0", "1048576.0", ".12"])), "0:1:1Mi:0.12:");
    assert_eq!(expand_with("{{ range . }}{{ humanize1024 . }}:{{ end }}", ints(&[0, -1, 1, 1234567, i64::MAX])), "0:-1:1:1.177Mi:8Ei:");
    assert_eq!(expand("{{ humanize 1234 }} {{ humanize \"1234\" }} {{ humanize 0.000012 }}"), "1.234k 1.234k 12u");
}

#[test]
fn humanize_durations() {
    let seconds = floats(&[0.0, 1.0, 60.0, 3600.0, 86400.0, 86400.0 + 3600.0, -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0), 899.99]);
    assert_eq!(expand_with("{{ range . }}{{ humanizeDuration . }}:{{ end }}", seconds), "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:");
    assert_eq!(expand_with("{{ range . }}{{ humanizeDuration . }}:{{ end }}", strings(&["0", "1", "60", "3600", "86400"])), "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:");
    let fractions = floats(&[0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345]);
    assert_eq!(expand_with("{{ range . }}{{ humanizeDuration . }}:{{ end }}", fractions), "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:");
    assert_eq!(expand_with("{{ range . }}{{ humanizeDuration . }}:{{ end }}", strings(&[".1", ".0001", ".12345", "60.1", "60.5", "1.2345", "12.345"])), "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:");
    assert_eq!(expand_with("{{ range . }}{{ humanizeDuration . }}:{{ end }}", ints(&[0, -1, 1, 1234567])), "0s:-1s:1s:14d 6h 56m 7s:");
}

#[test]
fn humanize_infinities_and_nan() {
    let text = "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}";
    let expected = "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:";
    assert_eq!(expand_with(text, floats(&[f64::INFINITY, f64::NEG_INFINITY, f64::NAN])), expected);
    assert_eq!(expand_with(text, strings(&["+Inf", "-Inf", "NaN"])), expected);
}

#[test]
fn humanize_percentages() {
    assert_eq!(expand("{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}"), "-22.22%:0%:12.35%:123.5%");
    assert_eq!(expand_with("{{ range . }}{{ humanizePercentage . }}:{{ end }}", ints(&[0, -1, 1, 1234567, i64::MAX])), "0%:-100%:100%:1.235e+08%:9.223e+20%:");
    assert_eq!(expand(r#"{{ "-0.22222" | humanizePercentage }}:{{ "0.0" | humanizePercentage }}:{{ "0.1234567" | humanizePercentage }}:{{ "1.23456" | humanizePercentage }}"#), "-22.22%:0%:12.35%:123.5%");
}

#[test]
fn humanize_timestamps() {
    assert_eq!(
        expand_with("{{ range . }}{{ humanizeTimestamp . }}:{{ end }}", ints(&[0, -1, 1, 1234567, 9223372036])),
        "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:"
    );
    assert_eq!(
        error_with("{{ range . }}{{ humanizeTimestamp . }}:{{ end }}", ints(&[i64::MIN, i64::MAX]), &QueryAnswers::new()),
        "error executing template test: template: test:1:16: executing \"test\" at <humanizeTimestamp .>: error calling humanizeTimestamp: -9.223372036854776e+18 cannot be represented as a nanoseconds timestamp since it overflows int64"
    );
    assert_eq!(expand("{{ 1435065584.128 | humanizeTimestamp }}"), "2015-06-23 13:19:44.128 +0000 UTC");
    assert_eq!(expand(r#"{{ "1435065584.128" | humanizeTimestamp }}"#), "2015-06-23 13:19:44.128 +0000 UTC");
}

#[test]
fn times_and_durations() {
    assert_eq!(expand(r#"{{ (1435065584.128 | toTime).Format "2006" }}"#), "2015");
    assert_eq!(expand(r#"{{ ("1435065584.128" | toTime).Format "2006" }}"#), "2015");
    assert_eq!(expand("{{ (1800 | toDuration).String }}"), "30m0s");
    assert_eq!(expand(r#"{{ ("1800" | toDuration).String }}"#), "30m0s");
    assert_eq!(expand("{{ now }}"), "1.353755652e+09");
    assert_eq!(expand(r#"{{ (now | toTime).Format "Mon Jan 2 15:04:05 2006" }}"#), "Sat Nov 24 11:14:12 2012");
    assert_eq!(expand(r#"{{ ("-30m" | parseDuration | toDuration | (now | toTime).Add).UnixMilli }}"#), "1353753852000");
    assert_eq!(expand(r#"{{ printf "%0.2f" (parseDuration "1h2m10ms") }}"#), "3720.01");
    assert_eq!(expand(r#"{{ printf "%0.2f" (parseDuration "-1h2m10ms") }}"#), "-3720.01");
    assert_eq!(expand(r#"{{ (1435065584.128 | toTime).Format "2006-01-02T15:04:05.000Z07:00 Monday January _2 3PM" }}"#), "2015-06-23T13:19:44.128Z Tuesday June 23 1PM");
    assert_eq!(expand("{{ 1.5 | toDuration }} {{ 0.0015 | toDuration }} {{ 5400 | toDuration }}"), "1.5s 1.5ms 1h30m0s");
}

#[test]
fn string_functions_and_links() {
    assert_eq!(expand("{{ \"aa bb CC\" | title }}"), "Aa Bb CC");
    assert_eq!(expand("{{ \"aa bb CC\" | toUpper }}"), "AA BB CC");
    assert_eq!(expand("{{ \"aA bB CC\" | toLower }}"), "aa bb cc");
    assert_eq!(expand("{{ graphLink \"up\" }}"), "/graph?g0.expr=up&g0.tab=0");
    assert_eq!(expand("{{ tableLink \"up\" }}"), "/graph?g0.expr=up&g0.tab=1");
    assert_eq!(expand("{{ graphLink \"rate(x[5m]) > 1\" }}"), "/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+1&g0.tab=0");
    assert_eq!(expand("{{ pathPrefix }}"), "/path/prefix");
    assert_eq!(expand("{{ externalURL }}"), "http://testhost:9090/path/prefix");
    assert_eq!(expand("{{ \"<b>\" | safeHtml }}"), "<b>");
}

#[test]
fn alert_variables() {
    let alert_labels = labels(&[("instance", "host:9100"), ("job", "node")]);
    let external = labels(&[("cluster", "eu1")]);
    let data = Data { labels: &alert_labels, external_labels: &external, external_url: "http://prom:9090", value: 0.25 };
    let template = alert_template("__alert_HighLoad", "{{ $labels.instance }} of {{ .Labels.job }} in {{ $externalLabels.cluster }}: {{ $value }} ({{ $value | humanizePercentage }}) {{ $externalURL }} {{ $labels.missing }}|").unwrap();
    assert_eq!(template.expand(&data, &QueryAnswers::new()), Ok(Expansion::Text("host:9100 of node in eu1: 0.25 (25%) http://prom:9090 |".to_string())));
    let bad = alert_template("__alert_X", "{{ .Nope }}").unwrap();
    let message = bad.expand(&data, &QueryAnswers::new()).unwrap_err();
    assert!(message.starts_with("error executing template __alert_X: template: __alert_X:1:115: executing \"__alert_X\" at <.Nope>: can't evaluate field Nope in type struct {"), "{message}");
}

#[test]
fn conditionals_and_else_chains() {
    let text = "{{ if eq . 1 }}one{{ else if eq . 2 }}two{{ else }}many{{ end }}";
    assert_eq!(expand_with(text, Value::Int(1)), "one");
    assert_eq!(expand_with(text, Value::Int(2)), "two");
    assert_eq!(expand_with(text, Value::Int(7)), "many");
    assert_eq!(expand("{{ with \"\" }}x{{ else with \"y\" }}{{ . }}{{ end }}"), "y");
    assert_eq!(expand("{{ with $x := \"v\" }}{{ $x }}{{ . }}{{ else }}no{{ end }}"), "vv");
    assert_eq!(expand("{{ if and 1 0 }}a{{ else }}b{{ end }}{{ or 0 \"\" 3 }}{{ not 0 }}"), "b3true");
    assert_eq!(expand("{{ if gt 2.5 1.0 }}big{{ end }}{{ if lt \"a\" \"b\" }}<{{ end }}{{ eq \"x\" \"y\" \"x\" }}{{ ne 1 2 }}"), "big<truetrue");
    assert_eq!(error("{{ gt 1 2.0 }}"), "error executing template test: template: test:1:3: executing \"test\" at <gt 1 2.0>: error calling gt: incompatible types for comparison");
}

#[test]
fn ranges_sorted_maps_else_break_continue() {
    let mut map = BTreeMap::new();
    for (k, v) in [("b", "2"), ("c", "3"), ("a", "1")] {
        map.insert(k.to_string(), v.to_string());
    }
    let dot = Value::StrMap(Rc::new(map));
    assert_eq!(expand_with("{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}", dot.clone()), "a=1;b=2;c=3;");
    assert_eq!(expand_with("{{ range $v := . }}{{ $v }}{{ end }}", dot.clone()), "123");
    assert_eq!(expand_with("{{ range . }}{{ if eq . \"2\" }}{{ continue }}{{ end }}{{ if eq . \"3\" }}{{ break }}{{ end }}{{ . }}{{ end }}", dot), "1");
    assert_eq!(expand_with("{{ range . }}x{{ else }}empty{{ end }}", ints(&[])), "empty");
    assert_eq!(error("{{ range $i, $e := 3 }}{{ $i }}{{ end }}"), "error executing template test: template: test:1:19: executing \"test\" at <3>: can't use 3 to iterate over more than one variable");
    assert_eq!(expand("{{ range 3 }}{{ . }}{{ end }}"), "012");
}

#[test]
fn variable_scoping_and_assignment() {
    assert_eq!(expand("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}"), "2");
    assert_eq!(error("{{ if true }}{{ $y := 3 }}{{ end }}{{ $y }}"), "error parsing template test: template: test:1: undefined variable \"$y\"");
    assert_eq!(expand_with("{{ range . }}{{ $ }}{{ end }}", ints(&[1, 2])), "[1 2][1 2]");
    assert_eq!(expand("{{ $x := args 5 }}{{ $x.arg0 }}"), "5");
}

#[test]
fn trim_markers_and_comments() {
    assert_eq!(expand("a  {{- 1 -}}  b"), "a1b");
    assert_eq!(expand("a\n  {{- /* note */ -}}\n  b"), "ab");
    assert_eq!(expand("a {{/* note */}} b"), "a  b");
    assert_eq!(expand("{{ -1 }}"), "-1");
    assert_eq!(expand("a {{-3}} b"), "a -3 b");
    assert_eq!(expand("a {{3 -}}\n\t b"), "a 3b");
}

#[test]
fn pipelines_and_parentheses() {
    assert_eq!(expand("{{ \"x\" | printf \"%s-%s\" \"a\" }}"), "a-x");
    assert_eq!(expand("{{ (printf \"%d\" 3) | len }}"), "1");
    assert_eq!(expand("{{ print 1 2 \"a\" 3 }}|{{ println 1 \"a\" }}"), "1 2a3|1 a\n");
    assert_eq!(expand("{{ index (args \"a\" \"b\") \"arg1\" }}{{ slice \"abcdef\" 1 3 }}{{ len \"héllo\" }}"), "bbc6");
}

#[test]
fn printf_verbs() {
    let cases = [
        (r#"{{ printf "%s|%q|%v" "a" "b\n" "c" }}"#, "a|\"b\\n\"|c"),
        (r#"{{ printf "%d|%5d|%-5d|%05d|%x|%X|%+d" 42 42 42 -42 255 255 7 }}"#, "42|   42|42   |-0042|ff|FF|+7"),
        (r#"{{ printf "%f|%.2f|%8.3f|%e|%g|%.3g|%v" 3.14159 3.14159 3.14159 1234.5678 0.000012345 1234.5678 100000000.0 }}"#, "3.141590|3.14|   3.142|1.234568e+03|1.2345e-05|1.23e+03|1e+08"),
        (r#"{{ printf "%d %s" "x" }}"#, "%!d(string=x) %!s(MISSING)"),
        (r#"{{ printf "%.1f%%" 99.95 }}"#, "100.0%"),
        (r#"{{ printf "%x" "hi" }}|{{ printf "%t" true }}|{{ printf "%v" (args 1) }}"#, "6869|true|map[arg0:1]"),
        (r#"{{ printf "%#x|%T|%T|%s" 255 1.5 "s" nil }}"#, "0xff|float64|string|%!s(<nil>)"),
    ];
    for (text, expected) in cases {
        assert_eq!(expand(text), expected, "{text}");
    }
}

#[test]
fn float_printing_matches_go() {
    let cases = [(1.0, "1"), (0.5, "0.5"), (1e6, "1e+06"), (123456.0, "123456"), (1e-5, "1e-05"), (0.0001, "0.0001"), (f64::INFINITY, "+Inf"), (f64::NEG_INFINITY, "-Inf"), (f64::NAN, "NaN"), (-2.5, "-2.5"), (1e21, "1e+21")];
    for (value, expected) in cases {
        assert_eq!(expand_with("{{ . }}", Value::Float(value)), expected, "{value}");
    }
}

#[test]
fn escaping_functions() {
    assert_eq!(expand("{{ html \"<a href='x'>&\\\"\" }}"), "&lt;a href=&#39;x&#39;&gt;&amp;&#34;");
    assert_eq!(expand("{{ js \"it's <b>\" }}"), "it\\'s \\u003Cb\\u003E");
    assert_eq!(expand("{{ urlquery \"a b&c=d/é\" }}"), "a+b%26c%3Dd%2F%C3%A9");
}

#[test]
fn realistic_alert_annotations() {
    let alert_labels = labels(&[("instance", "db1.example.com:9100"), ("job", "node"), ("severity", "page")]);
    let none = BTreeMap::new();
    let data = Data { labels: &alert_labels, external_labels: &none, external_url: "http://prom:9090", value: 93.456 };
    let cases = [
        ("{{ $labels.instance }} of job {{ $labels.job }} has been down for more than 5 minutes.", "db1.example.com:9100 of job node has been down for more than 5 minutes."),
        ("Disk {{ printf \"%.2f\" $value }}% full", "Disk 93.46% full"),
        ("{{ if gt $value 90.0 }}critical{{ else if gt $value 80.0 }}warning{{ else }}ok{{ end }}", "critical"),
        ("{{ $labels.instance | stripPort | stripDomain }}", "db1"),
        ("{{ reReplaceAll \":[0-9]+\" \"\" $labels.instance }}", "db1.example.com"),
        ("{{- /* header */ -}}\n  {{ .Value | humanize }}B\n", "93.46B\n"),
        ("{{ range $k, $v := $labels }}{{ $k }}={{ $v }} {{ end }}", "instance=db1.example.com:9100 job=node severity=page "),
        ("{{ $labels.severity | toUpper }}: {{ $externalURL }}{{ graphLink \"up == 0\" }}", "PAGE: http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=0"),
        ("{{ define \"who\" }}{{ .job }}/{{ .instance }}{{ end }}{{ template \"who\" $labels }}", "node/db1.example.com:9100"),
    ];
    for (text, expected) in cases {
        let template = alert_template("__alert_Test", text).unwrap();
        assert_eq!(template.expand_at(&data, &QueryAnswers::new(), NOW_SECONDS), Ok(Expansion::Text(expected.to_string())), "{text}");
    }
    let with_query = alert_template("__alert_Test", "{{ with query \"node_load1\" }}{{ . | first | value | humanize }}{{ else }}no data{{ end }}").unwrap();
    let load = answers("node_load1", &[(&[("instance", "a")], 1234.5)]);
    assert_eq!(with_query.expand_at(&data, &load, NOW_SECONDS), Ok(Expansion::Text("1.234k".to_string())));
    let empty = answers("node_load1", &[]);
    assert_eq!(with_query.expand_at(&data, &empty, NOW_SECONDS), Ok(Expansion::Text("no data".to_string())));
}

#[test]
fn two_queries_are_asked_for_in_order() {
    let template = Template::parse("t", "{{ query \"a\" | len }}{{ query \"b\" | len }}").unwrap();
    let mut known = QueryAnswers::new();
    let none = BTreeMap::new();
    let data = Data { labels: &none, external_labels: &none, external_url: "", value: 0.0 };
    assert_eq!(template.expand(&data, &known), Ok(Expansion::NeedsQuery("a".to_string())));
    known.insert("a".to_string(), Ok(vec![]));
    assert_eq!(template.expand(&data, &known), Ok(Expansion::NeedsQuery("b".to_string())));
    known.insert("b".to_string(), Ok(vec![QueriedSample { labels: none.clone(), value: 1.0 }]));
    assert_eq!(template.expand(&data, &known), Ok(Expansion::Text("01".to_string())));
}

#[test]
fn redefinition_is_rejected_and_templates_are_shareable() {
    assert_eq!(error("{{define \"x\"}}a{{end}}{{define \"x\"}}b{{end}}"), "error parsing template test: template: test:1: template: multiple definition of template \"x\"");
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Template>();
}

#[test]
fn limits_are_enforced() {
    let message = error("{{ define \"r\" }}{{ template \"r\" }}{{ end }}{{ template \"r\" }}");
    assert!(message.contains("exceeded maximum template depth (100)"), "{message}");
    let deep = format!("{{{{ {}1{} }}}}", "(".repeat(200), ")".repeat(200));
    assert_eq!(error(&deep), "error parsing template test: template: test:1: template nesting exceeds 100 levels");
    assert_eq!(expand(&format!("{{{{ {}1{} }}}}", "(".repeat(50), ")".repeat(50))), "1");
    let message = error("{{ range 2000000 }}{{ end }}");
    assert!(message.contains("range exceeded 1000000 iterations"), "{message}");
}

/// Deterministic mutations of valid templates: parsing and expanding must return, never panic.
#[test]
fn mangled_templates_never_panic() {
    let seeds = [
        "{{ if eq . 1 }}a{{ else if gt . 2 }}b{{ else }}c{{ end }}",
        "{{ range $i, $v := . }}{{ $i }}:{{ $v | printf \"%5.2f|%q\" }}{{ break }}{{ end }}",
        "{{- define \"x\" -}}{{ .arg0 }}{{ end }}{{ template \"x\" (args 1 `raw` 'c' 0x1F 1e3) }}",
        "{{ with $x := query \"up\" }}{{ ($x | first).Labels.job }}{{ end }}{{/* c */}}",
        "{{ (now | toTime).Format \"2006-01-02 .000 Z07:00\" }}{{ humanizeDuration \"1.5\" }}{{ slice \"héllo\" 1 3 }}",
    ];
    let alphabet: Vec<char> = "{}()|.$:=\"'`-+ \n\t,0123456789abcdexyz/*éüA\\".chars().collect();
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut random = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    let answered = answers("up", &[(&[("job", "j")], 1.0)]);
    for round in 0..4000 {
        let mut text: Vec<char> = seeds[round % seeds.len()].chars().collect();
        for _ in 0..1 + random(4) {
            let at = random(text.len() + 1);
            match random(3) {
                0 if at < text.len() => {
                    text.remove(at);
                }
                1 => text.insert(at, alphabet[random(alphabet.len())]),
                _ if at < text.len() => text[at] = alphabet[random(alphabet.len())],
                _ => {}
            }
        }
        let text: String = text.into_iter().collect();
        let _ = run(&text, ints(&[1, 2, 3]), &answered);
    }
}

#[test]
fn prometheus_function_names_are_its_template_functions() {
    let names: Vec<&str> = crate::prometheus_function_names().collect();
    assert_eq!(names.len(), 29, "{names:?}");
    assert_eq!((names.first(), names.last()), (Some(&"query"), Some(&"urlQueryEscape")));
    assert!(!names.contains(&"printf"), "Go's builtins are not Prometheus' functions");
}

#[test]
fn huge_printf_widths_and_precisions_do_not_overflow_or_allocate() {
    let data_labels = std::collections::BTreeMap::new();
    let data = crate::Data { labels: &data_labels, external_labels: &data_labels, external_url: "", value: 1.0 };
    for text in ["{{ printf \"%99999999999999999999999d\" 1 }}", "{{ printf \"%.99999999999999999999f\" 1.5 }}", "{{ printf \"%*d\" 99999999999 1 }}"] {
        let template = crate::Template::parse("t", text).expect("parses");
        match template.expand(&data, &crate::QueryAnswers::new()) {
            Ok(crate::Expansion::Text(out)) => assert!(out.len() < 100, "{text}: {} bytes", out.len()),
            other => panic!("{text}: {}", other.is_err()),
        }
    }
}
