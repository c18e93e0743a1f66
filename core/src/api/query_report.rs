//! What a query answer tells about its own evaluation beyond Prometheus' envelope, as
//! VictoriaMetrics answers: the top-level `"stats"` (`seriesFetched`, a string for
//! vmalert's sake, and `executionTimeMsec`) whenever the query was evaluated here, and with
//! `trace=1` the `"trace"` vmui shows: a tree of spans, each a message and how long it took
//! (`duration_msec`), for the parse, the wait for a query slot, the fetch from the shards, the
//! evaluation, the range cache's part and the writing of the answer. Spans are recorded as the
//! query runs on its executor (one request, one thread: a `RefCell`).

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use super::json;
use super::params::Params;

/// One span: what happened, how long it took, and the spans inside it.
#[derive(Debug, Clone, PartialEq)]
struct Span {
    message: String,
    duration: Duration,
    children: Vec<Span>,
}

/// A query's report, filled as it runs (see the module documentation).
#[derive(Debug)]
pub(super) struct QueryReport {
    /// When the request began to be handled: the root span's and `executionTimeMsec`'s start.
    started: Instant,
    /// `trace=1`: spans are recorded.
    tracing: bool,
    spans: RefCell<Vec<Span>>,
    /// Series the shards returned to this query's evaluations; `None` when none ran here
    /// (the answer came from the range cache or an identical query evaluated meanwhile).
    series_fetched: Cell<Option<usize>>,
}

impl QueryReport {
    /// A report for a request, tracing when it says `trace=1` (or `true`), as VictoriaMetrics
    /// reads the parameter.
    pub fn for_request(params: &Params) -> QueryReport {
        QueryReport::new(matches!(params.get("trace"), Some("1" | "true")))
    }

    pub fn new(tracing: bool) -> QueryReport {
        QueryReport { started: Instant::now(), tracing, spans: RefCell::new(Vec::new()), series_fetched: Cell::new(None) }
    }

    /// Records a span that took `duration`; `message` is called only when tracing.
    pub fn span(&self, duration: Duration, message: impl FnOnce() -> String) {
        if self.tracing {
            self.spans.borrow_mut().push(Span { message: message(), duration, children: Vec::new() });
        }
    }

    /// Counts `series` fetched from the shards by an evaluation of this query.
    pub fn add_series_fetched(&self, series: usize) {
        self.series_fetched.set(Some(self.series_fetched.get().unwrap_or(0) + series));
    }

    /// Appends this report's top-level keys to an answer's envelope (`envelope` ends with its
    /// closing brace): `"stats"` when the query was evaluated here, and with tracing the
    /// `"trace"` whose root is `root_message`, with the spans recorded inside it and a last
    /// one for `writing` (how long writing the answer took, and what it held).
    pub fn finish_envelope(&self, mut envelope: String, root_message: impl FnOnce() -> String, writing: (Duration, impl FnOnce() -> String)) -> String {
        let Some(closing) = envelope.rfind('}') else {
            return envelope;
        };
        envelope.truncate(closing);
        if let Some(series) = self.series_fetched.get() {
            let elapsed_ms = self.started.elapsed().as_millis();
            envelope.push_str(&format!(",\"stats\":{{\"seriesFetched\":\"{series}\",\"executionTimeMsec\":{elapsed_ms}}}"));
        }
        if self.tracing {
            let (writing_took, writing_message) = writing;
            self.span(writing_took, writing_message);
            let root = Span { message: root_message(), duration: self.started.elapsed(), children: self.spans.take() };
            envelope.push_str(",\"trace\":");
            push_span(&mut envelope, &root);
        }
        envelope.push('}');
        envelope
    }
}

/// `span` as VictoriaMetrics writes one: `{"duration_msec":…,"message":…,"children":[…]}`,
/// the children left out when there are none.
fn push_span(out: &mut String, span: &Span) {
    out.push_str(&format!("{{\"duration_msec\":{:.3},\"message\":", span.duration.as_secs_f64() * 1000.0));
    json::push_json_string(out, &span.message);
    if !span.children.is_empty() {
        out.push_str(",\"children\":[");
        for (i, child) in span.children.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_span(out, child);
        }
        out.push(']');
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_gets_stats_only_after_an_evaluation_and_a_trace_only_when_asked() {
        let envelope = || String::from("{\"status\":\"success\",\"data\":{}}");
        let quiet = QueryReport::new(false);
        quiet.span(Duration::from_millis(5), || unreachable!("no message is written without tracing"));
        assert_eq!(quiet.finish_envelope(envelope(), || unreachable!("no root without tracing"), (Duration::ZERO, String::new)), envelope());

        quiet.add_series_fetched(2);
        quiet.add_series_fetched(3);
        let answer: serde_json::Value = serde_json::from_str(&quiet.finish_envelope(envelope(), String::new, (Duration::ZERO, String::new))).expect("JSON");
        assert_eq!(answer["stats"]["seriesFetched"], "5", "{answer}");
        assert!(answer["stats"]["executionTimeMsec"].is_u64(), "{answer}");
        assert!(answer.get("trace").is_none(), "{answer}");

        let traced = QueryReport::new(true);
        traced.span(Duration::from_micros(1500), || "parse".into());
        let text = traced.finish_envelope(envelope(), || "root \"q\"".into(), (Duration::from_micros(250), || "write".into()));
        let answer: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert!(answer.get("stats").is_none(), "nothing was evaluated: {answer}");
        let trace = &answer["trace"];
        assert_eq!(trace["message"], "root \"q\"");
        assert_eq!(trace["children"][0], serde_json::json!({"duration_msec": 1.5, "message": "parse"}));
        assert_eq!(trace["children"][1], serde_json::json!({"duration_msec": 0.25, "message": "write"}));
        assert!(trace["duration_msec"].as_f64().is_some_and(|d| d >= 0.0), "{trace}");
    }

    #[test]
    fn trace_is_read_as_victoriametrics_reads_it() {
        for (query, tracing) in [("trace=1", true), ("trace=true", true), ("trace=0", false), ("", false)] {
            let params = Params::from_request(Some(query), None).expect("params");
            assert_eq!(QueryReport::for_request(&params).tracing, tracing, "{query}");
        }
    }
}
