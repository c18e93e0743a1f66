//! remote_write 2.0: prost decodes the `Request`; its symbol table is copied once into the
//! batch's text and label references become spans of it.

use prost::Message;
use proto::remote_write_v2 as v2;
use tsdb::{Sample, SeriesBatch, TextSpan, METRIC_NAME_LABEL};

use super::{push_valid_series, type_name, DecodeError, Decoded, MetricMetadata, SeriesScratch};

pub(super) fn decode(raw: &[u8], reject_non_finite: bool) -> Result<Decoded, DecodeError> {
    let request = v2::Request::decode(raw).map_err(|e| DecodeError::Protobuf(e.to_string()))?;
    let symbols = &request.symbols;
    if symbols.first().is_some_and(|s| !s.is_empty()) {
        return Err(DecodeError::Protobuf("symbols[0] must be the empty string".into()));
    }
    // The symbol table becomes the batch's text, each symbol copied once.
    let mut text = Vec::with_capacity(symbols.iter().map(String::len).sum());
    let mut symbol_spans = Vec::with_capacity(symbols.len());
    for s in symbols {
        let start = text.len() as u32;
        text.extend_from_slice(s.as_bytes());
        symbol_spans.push(TextSpan { start, end: text.len() as u32 });
    }
    let mut out = Decoded::default();
    let mut scratch = SeriesScratch::default();
    let series = SeriesBatch::build(text, |batch| {
        for (index, ts) in request.timeseries.iter().enumerate() {
            scratch.clear();
            if ts.labels_refs.len() % 2 != 0 {
                return Err(DecodeError::InvalidSeries {
                    series: format!("#{index}"),
                    problem: format!("labels_refs has odd length {}", ts.labels_refs.len()),
                });
            }
            let span = |r: u32| {
                symbol_spans.get(r as usize).copied().ok_or_else(|| DecodeError::InvalidSeries {
                    series: format!("#{index}"),
                    problem: format!("label reference {r} is outside the symbol table ({} symbols)", symbols.len()),
                })
            };
            for pair in ts.labels_refs.chunks_exact(2) {
                scratch.labels.push((span(pair[0])?, span(pair[1])?));
            }
            if let Some(m) = &ts.metadata {
                let pairs = ts.labels_refs.chunks_exact(2).map(|p| (symbols[p[0] as usize].as_str(), symbols[p[1] as usize].as_str()));
                let family = pairs.filter(|(n, v)| *n == METRIC_NAME_LABEL && !v.is_empty()).map(|(_, v)| v).next();
                let symbol = |r: u32| symbols.get(r as usize).cloned().unwrap_or_default();
                // A series without a name fails validation below; its metadata goes with it.
                if let Some(family) = family {
                    if m.r#type != 0 || m.help_ref != 0 || m.unit_ref != 0 {
                        out.metadata.push(MetricMetadata { family: family.to_string(), kind: type_name(m.r#type).into(), help: symbol(m.help_ref), unit: symbol(m.unit_ref) });
                    }
                }
            }
            scratch.samples.extend(ts.samples.iter().map(|s| Sample { timestamp_ms: s.timestamp, value: s.value }));
            out.histograms_dropped += ts.histograms.len() as u64;
            out.exemplars_dropped += ts.exemplars.len() as u64;
            push_valid_series(batch, &mut scratch, reject_non_finite, &mut out.samples)?;
        }
        Ok(())
    })?;
    out.series = series;
    Ok(out)
}


#[cfg(test)]
mod tests {
    use super::super::{decode_request, Protocol};
    use super::*;

    #[test]
    fn v2_resolves_symbols_and_checks_refs() {
        let request = v2::Request {
            symbols: vec!["".into(), "__name__".into(), "up".into(), "job".into(), "x".into()],
            timeseries: vec![v2::TimeSeries {
                labels_refs: vec![1, 2, 3, 4],
                samples: vec![v2::Sample { value: 2.5, timestamp: 10, ..Default::default() }],
                ..Default::default()
            }],
        };
        let body = snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).unwrap();
        let (protocol, decoded) =
            decode_request(Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"), None, &body, false).unwrap();
        assert_eq!(protocol, Protocol::V2);
        assert_eq!(decoded.series.get(0).to_labels().get("job"), Some("x"));
        let mut bad = request.clone();
        bad.timeseries[0].labels_refs = vec![1, 9];
        let body = snap::raw::Encoder::new().compress_vec(&bad.encode_to_vec()).unwrap();
        let err = decode_request(Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"), None, &body, false).unwrap_err();
        assert!(err.to_string().contains("outside the symbol table"), "{err}");
    }

}
