//! VictoriaMetrics' marshalled metric name: the metric name, then label name and value
//! pairs, each field ended by byte 1, with bytes 0, 1 and 2 inside a field escaped as byte 0
//! followed by the digit `0`, `1` or `2`.

/// Ends every field.
const FIELD_END: u8 = 1;
/// Starts an escape inside a field.
const ESCAPE: u8 = 0;

/// A decoded name: every field's unescaped bytes in `text`, `fields[0]` the metric name and
/// then name, value, name, value…
#[derive(Debug, Default)]
pub struct MetricName {
    pub text: Vec<u8>,
    pub fields: Vec<(usize, usize)>,
}

impl MetricName {
    /// The metric name's bytes (maybe empty).
    pub fn metric(&self) -> &[u8] {
        self.field(0)
    }

    /// The (name, value) byte pairs of the other labels, in the order they came.
    pub fn labels(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        (1..self.fields.len()).step_by(2).map(|at| (self.field(at), self.field(at + 1)))
    }

    fn field(&self, index: usize) -> &[u8] {
        let (start, end) = self.fields[index];
        &self.text[start..end]
    }

    /// Decodes `raw` into `self`, replacing what it held; the problem otherwise.
    pub fn decode(&mut self, raw: &[u8]) -> Result<(), String> {
        self.text.clear();
        self.fields.clear();
        let mut at = 0;
        while at < raw.len() || self.fields.is_empty() {
            let what = match self.fields.len() {
                0 => "the metric name",
                n if n % 2 == 1 => "a label name",
                _ => "a label value",
            };
            let Some(length) = memchr::memchr(FIELD_END, &raw[at..]) else {
                return Err(format!("{what} starting at byte {at} has no end (byte 1)"));
            };
            let start = self.text.len();
            unescape_into(&mut self.text, &raw[at..at + length]).map_err(|problem| format!("{what} starting at byte {at}: {problem}"))?;
            self.fields.push((start, self.text.len()));
            at += length + 1;
        }
        if self.fields.len().is_multiple_of(2) {
            return Err(format!("the label name at byte {} has no value", raw.len()));
        }
        Ok(())
    }
}

fn unescape_into(out: &mut Vec<u8>, mut field: &[u8]) -> Result<(), String> {
    while let Some(at) = memchr::memchr(ESCAPE, field) {
        out.extend_from_slice(&field[..at]);
        let escaped = match field.get(at + 1) {
            Some(b'0') => 0,
            Some(b'1') => 1,
            Some(b'2') => 2,
            Some(other) => return Err(format!("an unknown escape (byte 0, then byte {other})")),
            None => return Err("an escape at its end".to_string()),
        };
        out.push(escaped);
        field = &field[at + 2..];
    }
    out.extend_from_slice(field);
    Ok(())
}

#[cfg(test)]
pub(super) mod encode {
    //! The writing side, for tests.

    /// `metric` and `labels` marshalled as VictoriaMetrics marshals a metric name.
    pub fn metric_name(metric: &[u8], labels: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for field in std::iter::once(metric).chain(labels.iter().flat_map(|(n, v)| [*n, *v])) {
            for &byte in field {
                match byte {
                    0..=2 => out.extend_from_slice(&[0, b'0' + byte]),
                    other => out.push(other),
                }
            }
            out.push(1);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The metric name and the (name, value) pairs.
    type Decoded = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

    fn decoded(raw: &[u8]) -> Result<Decoded, String> {
        let mut name = MetricName::default();
        name.decode(raw)?;
        Ok((name.metric().to_vec(), name.labels().map(|(n, v)| (n.to_vec(), v.to_vec())).collect()))
    }

    #[test]
    fn fields_round_trip_with_escapes() {
        let raw = encode::metric_name(b"up", &[(b"job", b"a\x00b\x01c\x02"), (b"", b"")]);
        assert_eq!(raw, b"up\x01job\x01a\x000b\x001c\x002\x01\x01\x01");
        let (metric, labels) = decoded(&raw).expect("valid");
        assert_eq!(metric, b"up");
        assert_eq!(labels, vec![(b"job".to_vec(), b"a\x00b\x01c\x02".to_vec()), (Vec::new(), Vec::new())]);
        assert_eq!(decoded(b"\x01").expect("an empty name"), (Vec::new(), Vec::new()));
    }

    #[test]
    fn malformed_names_say_what_and_where() {
        for (raw, expected) in [
            (&b""[..], "the metric name starting at byte 0 has no end (byte 1)"),
            (b"up", "the metric name starting at byte 0 has no end (byte 1)"),
            (b"up\x01job", "a label name starting at byte 3 has no end (byte 1)"),
            (b"up\x01job\x01", "the label name at byte 7 has no value"),
            (b"up\x01job\x01x\x009\x01", "a label value starting at byte 7: an unknown escape (byte 0, then byte 57)"),
            (b"u\x00\x01", "the metric name starting at byte 0: an escape at its end"),
        ] {
            let error = decoded(raw).expect_err(&format!("{raw:?}"));
            assert_eq!(error, expected, "{raw:?}");
        }
    }
}
