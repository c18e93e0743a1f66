//! remote_write 1.0: package `prometheus`, messages from `prompb/types.proto` and
//! `prompb/remote.proto` (field numbers exactly as upstream).

#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    // Tag 2 is reserved upstream.
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
    #[prost(message, repeated, tag = "4")]
    pub histograms: Vec<Histogram>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(double, tag = "2")]
    pub value: f64,
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    #[prost(enumeration = "MetricType", tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    Unknown = 0,
    Counter = 1,
    Gauge = 2,
    Histogram = 3,
    Gaugehistogram = 4,
    Summary = 5,
    Info = 6,
    Stateset = 7,
}

/// A native histogram sample (integer or float flavour).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    #[prost(oneof = "histogram::Count", tags = "1, 2")]
    pub count: Option<histogram::Count>,
    #[prost(double, tag = "3")]
    pub sum: f64,
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    #[prost(oneof = "histogram::ZeroCount", tags = "6, 7")]
    pub zero_count: Option<histogram::ZeroCount>,
    #[prost(message, repeated, tag = "8")]
    pub negative_spans: Vec<BucketSpan>,
    #[prost(sint64, repeated, tag = "9")]
    pub negative_deltas: Vec<i64>,
    #[prost(double, repeated, tag = "10")]
    pub negative_counts: Vec<f64>,
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    #[prost(double, repeated, tag = "13")]
    pub positive_counts: Vec<f64>,
    #[prost(enumeration = "histogram::ResetHint", tag = "14")]
    pub reset_hint: i32,
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
    #[prost(double, repeated, tag = "16")]
    pub custom_values: Vec<f64>,
    /// remote_write 2.0 only (1.0's message has no field 17): when the histogram started
    /// counting, in ms; 0 when not given.
    #[prost(int64, tag = "17")]
    pub start_timestamp: i64,
}

pub mod histogram {
    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub enum Count {
        #[prost(uint64, tag = "1")]
        CountInt(u64),
        #[prost(double, tag = "2")]
        CountFloat(f64),
    }

    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub enum ZeroCount {
        #[prost(uint64, tag = "6")]
        ZeroCountInt(u64),
        #[prost(double, tag = "7")]
        ZeroCountFloat(f64),
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum ResetHint {
        Unknown = 0,
        Yes = 1,
        No = 2,
        Gauge = 3,
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BucketSpan {
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn decodes_hand_built_wire_bytes() {
        // WriteRequest{ timeseries: [ { labels: [ {name:"a", value:"b"} ], samples: [ {value: 1.0, timestamp: 5} ] } ] }
        // Label:      0a 01 'a' 12 01 'b'                             (6 bytes)
        // Sample:     09 <1.0 as f64 LE> 10 05                        (11 bytes)
        // TimeSeries: 0a 06 <label> 12 0b <sample>                    (21 bytes)
        // Request:    0a 15 <timeseries>
        let mut bytes = vec![0x0a, 21, 0x0a, 6, 0x0a, 1, b'a', 0x12, 1, b'b', 0x12, 11, 0x09];
        bytes.extend_from_slice(&1.0f64.to_le_bytes());
        bytes.extend_from_slice(&[0x10, 5]);
        let request = WriteRequest::decode(bytes.as_slice()).unwrap();
        assert_eq!(request.timeseries.len(), 1);
        let ts = &request.timeseries[0];
        assert_eq!(ts.labels, vec![Label { name: "a".into(), value: "b".into() }]);
        assert_eq!(ts.samples, vec![Sample { value: 1.0, timestamp: 5 }]);
        assert_eq!(request.encode_to_vec(), bytes);
    }

    #[test]
    fn round_trip_with_histogram_and_metadata() {
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label { name: "__name__".into(), value: "x".into() }],
                samples: vec![Sample { value: f64::from_bits(0x7ff0_0000_0000_0002), timestamp: -1 }],
                exemplars: vec![Exemplar { labels: vec![], value: 2.0, timestamp: 3 }],
                histograms: vec![Histogram {
                    count: Some(histogram::Count::CountInt(4)),
                    schema: -53,
                    positive_deltas: vec![1, -1],
                    ..Default::default()
                }],
            }],
            metadata: vec![MetricMetadata { r#type: MetricType::Counter as i32, metric_family_name: "x".into(), ..Default::default() }],
        };
        let decoded = WriteRequest::decode(request.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded.timeseries[0].samples[0].value.to_bits(), 0x7ff0_0000_0000_0002);
        assert_eq!(decoded.timeseries[0].histograms, request.timeseries[0].histograms);
        assert_eq!(decoded.metadata, request.metadata);
    }
}
