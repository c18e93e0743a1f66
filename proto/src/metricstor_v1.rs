//! Metricstor's gRPC messages (package `metricstor.v1`), matching `proto/metricstor/v1/query.proto`,
//! and the standard gRPC health check messages (package `grpc.health.v1`).

#[derive(Clone, PartialEq, prost::Message)]
pub struct InstantQueryRequest {
    #[prost(string, tag = "1")]
    pub query: String,
    #[prost(int64, tag = "2")]
    pub time_ms: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RangeQueryRequest {
    #[prost(string, tag = "1")]
    pub query: String,
    #[prost(int64, tag = "2")]
    pub start_ms: i64,
    #[prost(int64, tag = "3")]
    pub end_ms: i64,
    #[prost(int64, tag = "4")]
    pub step_ms: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Point {
    #[prost(int64, tag = "1")]
    pub timestamp_ms: i64,
    #[prost(double, tag = "2")]
    pub value: f64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Series {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub points: Vec<Point>,
    /// Native histogram values (float flavour, each with its timestamp).
    #[prost(message, repeated, tag = "3")]
    pub histograms: Vec<crate::remote_write_v1::Histogram>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryResponse {
    #[prost(string, tag = "1")]
    pub result_type: String,
    #[prost(message, repeated, tag = "2")]
    pub series: Vec<Series>,
    #[prost(message, optional, tag = "3")]
    pub scalar: Option<Point>,
    #[prost(string, tag = "4")]
    pub string_value: String,
    #[prost(string, repeated, tag = "5")]
    pub warnings: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SeriesRequest {
    #[prost(string, repeated, tag = "1")]
    pub matchers: Vec<String>,
    #[prost(int64, tag = "2")]
    pub start_ms: i64,
    #[prost(int64, tag = "3")]
    pub end_ms: i64,
    #[prost(uint64, tag = "4")]
    pub limit: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelSet {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SeriesResponse {
    #[prost(message, repeated, tag = "1")]
    pub series: Vec<LabelSet>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelNamesRequest {
    #[prost(string, repeated, tag = "1")]
    pub matchers: Vec<String>,
    #[prost(int64, tag = "2")]
    pub start_ms: i64,
    #[prost(int64, tag = "3")]
    pub end_ms: i64,
    #[prost(uint64, tag = "4")]
    pub limit: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelNamesResponse {
    #[prost(string, repeated, tag = "1")]
    pub names: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelValuesRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, repeated, tag = "2")]
    pub matchers: Vec<String>,
    #[prost(int64, tag = "3")]
    pub start_ms: i64,
    #[prost(int64, tag = "4")]
    pub end_ms: i64,
    #[prost(uint64, tag = "5")]
    pub limit: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelValuesResponse {
    #[prost(string, repeated, tag = "1")]
    pub values: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteResponse {
    #[prost(uint64, tag = "1")]
    pub samples_written: u64,
}

/// `grpc.health.v1.HealthCheckRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthCheckRequest {
    #[prost(string, tag = "1")]
    pub service: String,
}

/// `grpc.health.v1.HealthCheckResponse`; status 1 = SERVING, 2 = NOT_SERVING.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthCheckResponse {
    #[prost(int32, tag = "1")]
    pub status: i32,
}
