//! `/api/v1/import/native` (POST or PUT, also under `/prometheus/`): VictoriaMetrics' native
//! format, what `vmctl vm-native` streams from a VictoriaMetrics' `/api/v1/export/native`,
//! decoded and stored in stream order as the body arrives, memory staying near a few batches
//! and runs whatever the body's size. A malformed block is a 400 naming it; the blocks before
//! it are stored, it and those after are not.

use std::collections::VecDeque;

use bytes::Bytes;
use http::Response;
use tsdb::SeriesBatch;

use super::body_encoding::StreamDecoder;
use super::migrate::{drive_import, StreamStop, StreamedImport, IMPORT_BATCH_SAMPLES_MAX, IMPORT_BATCH_SERIES_MAX};
use super::{extra_labels, write, Api, ApiError};
use crate::ingest::vm_native::{BlockLayout, FrameRun, NativeBatch, NativeError, NativeStream};

/// Label text one batch may hold: a metric name may take up to 1 MiB, and
/// `IMPORT_BATCH_SERIES_MAX` of those would pass what a write batch can address.
pub const IMPORT_BATCH_LABEL_BYTES_MAX: usize = 64 << 20;

type Stop = StreamStop<NativeError>;

/// Bytes of whole frames one decode job takes: about 100k samples at VictoriaMetrics' usual
/// 2–3 bytes per sample, a few milliseconds of a core.
pub const DECODE_RUN_BYTES: usize = 256 << 10;

/// Runs decoded at once, on the executor's blocking threads (`runtime::QUERY_THREADS_PER_EXECUTOR`,
/// shared with query evaluation), while the connection's core reads and frames the body and
/// the shards append the batch decoded before.
pub const DECODES_IN_FLIGHT_MAX: usize = 2;

/// One request's import: the framer, the runs being decoded and what every stored series
/// gets.
struct NativeImport<'a> {
    api: &'a Api,
    stream: NativeStream,
    extra_labels: std::sync::Arc<Vec<(String, String)>>,
    /// Runs being decoded, oldest first; their batches are stored in this order, so each
    /// shard gets a series' blocks in stream order.
    decoding: VecDeque<glommio::task::JoinHandle<Decoded>>,
    /// The batch sent before, which the shards may still be appending.
    landing: write::Landing<'a>,
}

/// One run, decoded.
struct Decoded {
    /// The stream's layout, as the run's first block settled it (none when it had no block
    /// decoded before a problem).
    layout: Option<BlockLayout>,
    /// The run's blocks in batches of at most `IMPORT_BATCH_*`, each with the request's
    /// `extra_label`s, in stream order.
    batches: Vec<SeriesBatch>,
    /// Why the run stopped before its end (the batches hold the blocks before).
    stop: Option<Stop>,
}

/// Imports the body as it arrives, decoded a step at a time when it is compressed, and cut
/// into runs of whole frames (`ingest::vm_native::NativeStream::next_frames`) that the
/// executor's blocking threads decode, `DECODES_IN_FLIGHT_MAX` at a time, while this core
/// reads on and the shards append the batches decoded before (stored in stream order, like
/// the other imports' batches).
pub async fn handle_import_native(
    api: &Api,
    body: net::RequestBody,
    decoder: Option<StreamDecoder>,
    extra_labels: Vec<(String, String)>,
) -> Result<Response<Bytes>, ApiError> {
    let limits = api.config.storage.ingest_rules().label_limits;
    let import = NativeImport {
        api,
        stream: NativeStream::new(limits),
        extra_labels: std::sync::Arc::new(extra_labels),
        decoding: VecDeque::new(),
        landing: write::Landing::default(),
    };
    drive_import(import, body, decoder).await
}

impl StreamedImport for NativeImport<'_> {
    type Problem = NativeError;

    /// Takes the next bytes of the body, sending every run of frames that fills to be
    /// decoded.
    async fn take_chunk(&mut self, chunk: &[u8]) -> Result<(), Stop> {
        self.stream.push(chunk);
        self.decode_available().await
    }

    /// The end of the body: the frames left are decoded; the stream must end between blocks.
    async fn take_end(&mut self) -> Result<(), Stop> {
        while let Some(run) = self.stream.rest_frames().map_err(Stop::Problem)? {
            self.decode(run).await?;
        }
        self.stream.finish().map_err(Stop::Problem)
    }

    /// Stores every run still decoding and waits until every batch sent has landed.
    async fn finish(&mut self) -> Result<(), Stop> {
        while !self.decoding.is_empty() {
            self.store_oldest().await?;
        }
        Ok(self.landing.landed().await?)
    }

    /// The 400 for an import stopped by `stop`, after storing the whole blocks decoded before
    /// it (as the other imports store the lines before a bad one); runs cut after a malformed
    /// block are not stored.
    async fn refuse(mut self, stop: Stop) -> ApiError {
        let stop = match self.finish().await {
            Ok(()) => stop,
            Err(Stop::Store(error)) => return error,
            // A run cut before `stop` had a malformed block: that one is the first problem.
            Err(earlier) => earlier,
        };
        let imported = |blocks: u64| match blocks {
            0 => "no block was imported".to_string(),
            1 => "block 1 was imported".to_string(),
            n => format!("blocks 1 to {n} were imported"),
        };
        let blocks = self.stream.blocks();
        ApiError::bad_data(match stop {
            Stop::Problem(error) => {
                format!("invalid native import: {error}; {}, none from block {} on", imported(error.block() - 1), error.block())
            }
            Stop::Decode(failure) => format!("{failure}; {}", imported(blocks)),
            Stop::Body(error) => format!("the request body failed after block {blocks}: {error}; {}", imported(blocks)),
            Stop::Store(error) => return error,
        })
    }
}

impl NativeImport<'_> {
    /// Sends every run of `DECODE_RUN_BYTES` whose frames have arrived to be decoded.
    async fn decode_available(&mut self) -> Result<(), Stop> {
        while let Some(run) = self.stream.next_frames(DECODE_RUN_BYTES).map_err(Stop::Problem)? {
            self.decode(run).await?;
        }
        Ok(())
    }

    /// Starts decoding `run` on a blocking thread, once fewer than `DECODES_IN_FLIGHT_MAX`
    /// runs are (one until the stream's layout is known: its first block settles it for the
    /// rest), storing the oldest runs' batches to make room.
    async fn decode(&mut self, run: FrameRun) -> Result<(), Stop> {
        loop {
            let in_flight_max = if self.stream.layout().is_some() { DECODES_IN_FLIGHT_MAX } else { 1 };
            if self.decoding.len() < in_flight_max {
                break;
            }
            self.store_oldest().await?;
        }
        let Some(mut decoder) = self.stream.block_decoder() else {
            // A run is cut only after the header; this cannot happen.
            return Err(Stop::Body("a run of blocks was cut before the stream's header".into()));
        };
        let limits = self.api.config.storage.ingest_rules().label_limits;
        let extra_labels = self.extra_labels.clone();
        let job = glommio::executor().spawn_blocking(move || {
            let mut batch = NativeBatch::default();
            let mut batches = Vec::new();
            let decoded = decoder.decode_run(&run, &mut batch, |batch| {
                if batch.series_count() >= IMPORT_BATCH_SERIES_MAX
                    || batch.sample_count() >= IMPORT_BATCH_SAMPLES_MAX
                    || batch.label_bytes() >= IMPORT_BATCH_LABEL_BYTES_MAX
                {
                    batches.push(batch.take());
                }
            });
            if !batch.is_empty() {
                batches.push(batch.take());
            }
            let mut stop = decoded.err().map(Stop::Problem);
            let mut labelled = Vec::with_capacity(batches.len());
            for batch in batches {
                match extra_labels::apply_to_batch(batch, &extra_labels, &limits) {
                    Ok(batch) => labelled.push(batch),
                    Err(error) => {
                        stop = Some(Stop::Store(error));
                        break;
                    }
                }
            }
            Decoded { layout: decoder.layout(), batches: labelled, stop }
        });
        // Spawned, so the job is handed to the blocking thread now, not when first awaited.
        self.decoding.push_back(glommio::spawn_local(job).detach());
        Ok(())
    }

    /// Waits for the oldest run's decoding and sends its batches to the shards, in order,
    /// each once the one before has landed; the last lands while the next runs decode.
    async fn store_oldest(&mut self) -> Result<(), Stop> {
        let Some(job) = self.decoding.pop_front() else { return Ok(()) };
        let Some(decoded) = job.await else {
            return Err(Stop::Body("decoding a run of blocks was cancelled".into()));
        };
        self.stream.learn_layout(decoded.layout);
        let mut stored = Ok(());
        for series in decoded.batches {
            let api = self.api;
            let outside = self.landing.outside_bounds();
            stored = self.landing.start(async move { write::append_imported(api, series, &outside).await.map(drop) }).await.map_err(Stop::Store);
            if stored.is_err() {
                break;
            }
        }
        let stored = stored.and(decoded.stop.map_or(Ok(()), Err));
        if stored.is_err() {
            // Nothing after the problem is stored: the runs cut after it are dropped (their
            // decoding ends on its own, unused).
            self.decoding.clear();
        }
        stored
    }
}

