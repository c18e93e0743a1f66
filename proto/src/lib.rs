//! `proto` holds the wire types Metricstor speaks: Prometheus remote_write 1.0
//! (`prometheus.WriteRequest`), 2.0 (`io.prometheus.write.v2.Request`), remote read and
//! OpenTelemetry metrics (OTLP `ExportMetricsServiceRequest`), and the protobuf exposition
//! format targets answer scrapes with (`io.prometheus.client.MetricFamily`).
//! Hand-written prost messages with upstream's field numbers; no logic beyond encoding.

pub mod client_model;
pub mod metricstor_v1;
pub mod otlp_metrics;
pub mod remote_read;
pub mod remote_write_v1;
pub mod remote_write_v2;

/// `Content-Type` of remote_write 1.0 (the `proto` parameter is optional for 1.0).
pub const CONTENT_TYPE_V1: &str = "application/x-protobuf";
/// `Content-Type` of remote_write 2.0.
pub const CONTENT_TYPE_V2: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
pub const VERSION_HEADER: &str = "X-Prometheus-Remote-Write-Version";
pub const SAMPLES_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Samples-Written";
pub const HISTOGRAMS_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Histograms-Written";
pub const EXEMPLARS_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Exemplars-Written";
