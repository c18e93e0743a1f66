//! What the push endpoints that parse a whole body into an `influx::Parsed` batch share
//! (InfluxDB line protocol, OpenTSDB's `/api/put`, the Datadog agent's series): the
//! preamble, the store of the parsed batch with `extra_label`s set,
//! and the answer when some of the request was skipped.

use bytes::Bytes;
use http::Request;

use super::params::Params;
use super::{extra_labels, write, Api, ApiError};
use crate::ingest::influx::Parsed;
use crate::ingest::IngestRules;

/// A push request's query parameters, the ingest rules and its `extra_label`s.
pub struct Preamble {
    pub params: Params,
    pub rules: IngestRules,
    pub extra: Vec<(String, String)>,
}

/// Refuses the request while a shard's queue is full (429, before its body is decoded, as
/// remote_write is), and reads its parameters, the ingest rules and its `extra_label`s.
pub fn preamble(api: &Api, request: &Request<Bytes>) -> Result<Preamble, ApiError> {
    if let Some(shard) = api.router.full_shard() {
        return Err(crate::shard::SubmitError::QueueFull { shard }.into());
    }
    let params = Params::from_request(request.uri().query(), None).map_err(ApiError::bad_data)?;
    let rules = api.config.storage.ingest_rules();
    let extra = extra_labels::from_params(&params, &rules.label_limits)?;
    Ok(Preamble { params, rules, extra })
}

/// Stores `parsed` (nothing when it is empty) with `extra` labels set.
pub async fn store(api: &Api, parsed: Parsed, extra: &[(String, String)], rules: &IngestRules) -> Result<(), ApiError> {
    if parsed.is_empty() {
        return Ok(());
    }
    let batch = extra_labels::apply_to_batch(parsed.into_batch(), extra, &rules.label_limits)?;
    write::append_counted(api, batch).await?;
    Ok(())
}

/// Counts the bytes a push's parsed batch takes (`push_tagged`'s return) and refuses the
/// request with a 413 past `influx::PARSED_BYTES_MAX`: each sample may copy its series'
/// labels again (a repeated timestamp starts a new series), so a small body of long
/// labels and many points could otherwise ask for terabytes.
#[derive(Debug, Default)]
pub struct ParsedBytes(usize);

impl ParsedBytes {
    pub fn add(&mut self, bytes: usize) -> Result<(), ApiError> {
        self.0 = self.0.saturating_add(bytes);
        if self.0 > crate::ingest::influx::PARSED_BYTES_MAX {
            return Err(ApiError::payload_too_large(format!(
                "the request's series would take more than {} bytes: send it in smaller requests",
                crate::ingest::influx::PARSED_BYTES_MAX
            )));
        }
        Ok(())
    }
}

/// The parts of a push that were skipped (bad points), while the rest was stored:
/// VictoriaMetrics stores the good part of such a request, and so does Metricstor, with a 400
/// that names the first problem and what was stored (`answer`).
#[derive(Debug, Default)]
pub struct Skipped {
    count: usize,
    first: Option<String>,
}

impl Skipped {
    pub fn add(&mut self, problem: String) {
        self.add_many(1, problem);
    }

    /// `count` parts skipped for one `problem`.
    pub fn add_many(&mut self, count: usize, problem: String) {
        self.count += count;
        self.first.get_or_insert(problem);
    }

    /// Nothing skipped: `Ok`. Otherwise the 400 naming the first problem, how many `what`s
    /// (a singular noun) were skipped and how many samples were stored.
    pub fn answer(self, what: &str, samples_stored: u64) -> Result<(), ApiError> {
        match self.first {
            None => Ok(()),
            Some(first) => Err(ApiError::bad_data(format!(
                "{first}; {} {what}{} skipped, the request's others stored ({samples_stored} samples)",
                self.count,
                if self.count == 1 { "" } else { "s" }
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_bytes_past_the_bound_are_a_413() {
        let mut bytes = ParsedBytes::default();
        assert!(bytes.add(crate::ingest::influx::PARSED_BYTES_MAX).is_ok(), "up to the bound");
        let refused = bytes.add(1).expect_err("past the bound");
        assert_eq!(refused.status, http::StatusCode::PAYLOAD_TOO_LARGE);
        assert!(refused.message.contains("smaller requests"), "{}", refused.message);
    }

    #[test]
    fn skipped_parts_name_the_first_problem_and_what_was_stored() {
        assert!(Skipped::default().answer("point", 3).is_ok());
        let mut skipped = Skipped::default();
        skipped.add("first".into());
        skipped.add_many(2, "second".into());
        let error = skipped.answer("point", 5).expect_err("a 400");
        assert_eq!(error.message, "first; 3 points skipped, the request's others stored (5 samples)");
    }
}
