//! Ingestion: turning a remote_write request body (snappy + protobuf, 1.0 or 2.0), an OTLP
//! metrics export, an InfluxDB line-protocol write, Graphite plaintext lines or an import (JSON lines, text format, CSV,
//! VictoriaMetrics native) into validated series ready
//! for routing. Pure functions; no I/O.

pub mod csv_import;
pub mod datadog;
pub mod graphite;
pub mod influx;
pub mod json_lines;
pub mod label_limits;
pub mod newrelic;
pub mod line_splitter;
pub mod native_histogram;
pub mod opentsdb;
pub mod otlp;
pub mod relabel;
pub mod snappy;
pub mod tagged_sample;
mod protowire;
pub mod remote_write;
pub mod text_format;
pub mod vm_native;
pub mod zabbix;
pub mod zstd;

pub use remote_write::{decode_request, DecodeError, Decoded, IngestRules, MetricMetadata, Protocol, MAX_DECOMPRESSED_BYTES};
