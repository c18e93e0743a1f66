//! Pre-encoding of remote_write bodies (protobuf + snappy block format), 1.0 or 2.0, so the
//! generator does no encoding work while the clock runs.

use std::collections::HashMap;

use prost::Message;
use proto::{remote_write_v1 as v1, remote_write_v2 as v2};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    V1,
    V2,
}

/// One request's worth: series labels with one (timestamp, value) each.
pub struct Batch<'a> {
    pub series: Vec<(&'a [(String, String)], i64, f64)>,
}

pub fn encode(batch: &Batch<'_>, protocol: Protocol) -> Vec<u8> {
    let raw = match protocol {
        Protocol::V1 => v1::WriteRequest {
            timeseries: batch
                .series
                .iter()
                .map(|(labels, t, v)| v1::TimeSeries {
                    labels: labels.iter().map(|(n, val)| v1::Label { name: n.clone(), value: val.clone() }).collect(),
                    samples: vec![v1::Sample { value: *v, timestamp: *t }],
                    ..Default::default()
                })
                .collect(),
            metadata: Vec::new(),
        }
        .encode_to_vec(),
        Protocol::V2 => {
            let mut symbols: Vec<String> = vec![String::new()];
            let mut index: HashMap<String, u32> = HashMap::new();
            let mut symbol = |s: &str, symbols: &mut Vec<String>| -> u32 {
                *index.entry(s.to_string()).or_insert_with(|| {
                    symbols.push(s.to_string());
                    (symbols.len() - 1) as u32
                })
            };
            let mut timeseries = Vec::with_capacity(batch.series.len());
            for (labels, t, v) in &batch.series {
                let mut refs = Vec::with_capacity(labels.len() * 2);
                for (n, val) in labels.iter() {
                    refs.push(symbol(n, &mut symbols));
                    refs.push(symbol(val, &mut symbols));
                }
                timeseries.push(v2::TimeSeries { labels_refs: refs, samples: vec![v2::Sample { value: *v, timestamp: *t }], ..Default::default() });
            }
            v2::Request { symbols, timeseries }.encode_to_vec()
        }
    };
    snap::raw::Encoder::new().compress_vec(&raw).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_protocols_decode_back() {
        let labels = vec![("__name__".to_string(), "up".to_string()), ("job".to_string(), "a".to_string())];
        let batch = Batch { series: vec![(labels.as_slice(), 5, 1.5), (labels.as_slice(), 6, 2.5)] };
        let raw = snap::raw::Decoder::new().decompress_vec(&encode(&batch, Protocol::V1)).unwrap();
        let r = v1::WriteRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(r.timeseries.len(), 2);
        assert_eq!(r.timeseries[1].samples[0].timestamp, 6);
        let raw = snap::raw::Decoder::new().decompress_vec(&encode(&batch, Protocol::V2)).unwrap();
        let r = v2::Request::decode(raw.as_slice()).unwrap();
        assert_eq!(r.symbols, vec!["", "__name__", "up", "job", "a"]);
        assert_eq!(r.timeseries[0].labels_refs, vec![1, 2, 3, 4]);
        assert_eq!(r.timeseries[1].samples[0].value, 2.5);
    }
}
