//! The data model every other crate speaks: label sets, samples (float and native
//! histogram), series and matchers.
//! These types are plain owned data (`Send`) so they can cross executors in messages.

mod batch;
mod histogram;
mod labels;
mod matcher;
mod sample;
mod shared_text;

pub use batch::{BatchPart, BatchSeries, LabelSink, SeriesBatch, SeriesBatchBuilder, StartTimestamp, TextSpan};
pub use histogram::{BucketSpan, CounterResetHint, FloatHistogram, HistogramSample, CUSTOM_BUCKETS_SCHEMA, EXPONENTIAL_SCHEMA_MAX, EXPONENTIAL_SCHEMA_MIN};
pub use labels::{is_legacy_label_name, is_legacy_metric_name, short_bytes_cmp, stable_hash_of, Label, LabelPair, LabelRef, Labels, LabelsIter, METRIC_NAME_LABEL, METRIC_TYPE_LABEL, METRIC_UNIT_LABEL};
pub use matcher::{MatchOp, Matcher};
pub use sample::{is_stale_nan, Sample, SampleStarts, SeriesSamples, STALE_NAN_BITS};
