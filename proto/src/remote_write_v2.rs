//! remote_write 2.0: package `io.prometheus.write.v2` (`prompb/io/prometheus/write/v2/types.proto`).
//! Strings live once in `Request.symbols` (which starts with ""); series refer to them by index.

pub use crate::remote_write_v1::{histogram, BucketSpan, Histogram};

#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    // Tags 1-3 are reserved upstream so a 1.0 body decodes as an empty 2.0 request.
    #[prost(string, repeated, tag = "4")]
    pub symbols: Vec<String>,
    #[prost(message, repeated, tag = "5")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    pub histograms: Vec<Histogram>,
    #[prost(message, repeated, tag = "4")]
    pub exemplars: Vec<Exemplar>,
    #[prost(message, optional, tag = "5")]
    pub metadata: Option<Metadata>,
    /// The series-wide start timestamp (ms) of the protocol as Prometheus sent it until
    /// November 2025 (`created_timestamp`); the protocol now reserves field 6 and gives
    /// `Sample.start_timestamp` and `Histogram.start_timestamp` instead.
    #[prost(int64, tag = "6")]
    pub created_timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
    /// When the sample's counter started counting, in ms; 0 when not given.
    #[prost(int64, tag = "3")]
    pub start_timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    #[prost(double, tag = "2")]
    pub value: f64,
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Metadata {
    #[prost(enumeration = "MetricType", tag = "1")]
    pub r#type: i32,
    #[prost(uint32, tag = "3")]
    pub help_ref: u32,
    #[prost(uint32, tag = "4")]
    pub unit_ref: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    Unspecified = 0,
    Counter = 1,
    Gauge = 2,
    Histogram = 3,
    Gaugehistogram = 4,
    Summary = 5,
    Info = 6,
    Stateset = 7,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn decodes_hand_built_wire_bytes() {
        // Request{ symbols: ["", "a"], timeseries: [ { labels_refs: [1, 1], samples: [ {value: 2.0, timestamp: 7} ] } ] }
        // symbols:    22 00, 22 01 'a'                                 (tag 4, wire type 2)
        // TimeSeries: 0a 02 01 01 (packed refs) 12 0b <sample>         (17 bytes)
        // Sample:     09 <2.0 LE> 10 07
        let mut bytes = vec![0x22, 0, 0x22, 1, b'a', 0x2a, 17, 0x0a, 2, 1, 1, 0x12, 11, 0x09];
        bytes.extend_from_slice(&2.0f64.to_le_bytes());
        bytes.extend_from_slice(&[0x10, 7]);
        let request = Request::decode(bytes.as_slice()).unwrap();
        assert_eq!(request.symbols, vec!["".to_string(), "a".to_string()]);
        assert_eq!(request.timeseries[0].labels_refs, vec![1, 1]);
        assert_eq!(request.timeseries[0].samples, vec![Sample { value: 2.0, timestamp: 7, start_timestamp: 0 }]);
        assert_eq!(request.encode_to_vec(), bytes);
    }

    #[test]
    fn a_v1_body_decodes_as_an_empty_v2_request() {
        let v1 = crate::remote_write_v1::WriteRequest {
            timeseries: vec![crate::remote_write_v1::TimeSeries::default()],
            metadata: vec![],
        };
        let decoded = Request::decode(v1.encode_to_vec().as_slice()).unwrap();
        assert!(decoded.symbols.is_empty() && decoded.timeseries.is_empty());
    }
}
