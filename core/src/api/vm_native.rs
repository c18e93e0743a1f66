//! `/api/v1/import/native` (POST or PUT, also under `/prometheus/`): VictoriaMetrics' native
//! format, what `vmctl vm-native` streams from a VictoriaMetrics' `/api/v1/export/native`.
//! Decoded as the body arrives (`ingest::vm_native`), gunzipped a few KiB at a time when it
//! is gzip, and stored batch by batch like the other imports, so memory stays near one batch
//! and one frame whatever the body's size; a batch is appended while the next is decoded. A
//! malformed block is a 400 naming it; the blocks before it are stored, it and those after
//! are not.

use std::io::Write;

use bytes::Bytes;
use http::{Response, StatusCode};

use super::migrate::{GUNZIP_INPUT_STEP_BYTES, IMPORT_BATCH_SAMPLES_MAX, IMPORT_BATCH_SERIES_MAX};
use super::{extra_labels, write, Api, ApiError};
use crate::ingest::vm_native::{NativeBatch, NativeError, NativeStream};

/// Label text one batch may hold: a metric name may take up to 1 MiB, and
/// `IMPORT_BATCH_SERIES_MAX` of those would pass what a write batch can address.
pub const IMPORT_BATCH_LABEL_BYTES_MAX: usize = 64 << 20;

/// Why an import stops before the end of its body.
enum Stop {
    Malformed(NativeError),
    Gzip(std::io::Error),
    Body(String),
    Store(ApiError),
}

impl From<ApiError> for Stop {
    fn from(error: ApiError) -> Self {
        Stop::Store(error)
    }
}

/// One request's import: the decoder, the batch it fills and what every stored series gets.
struct NativeImport<'a> {
    api: &'a Api,
    stream: NativeStream,
    batch: NativeBatch,
    extra_labels: Vec<(String, String)>,
    /// The batch sent before, which the shards may still be appending.
    landing: write::Landing<'a>,
}

pub async fn handle_import_native(api: &Api, mut body: net::RequestBody, gzip: bool, extra_labels: Vec<(String, String)>) -> Result<Response<Bytes>, ApiError> {
    let limits = api.config.storage.ingest_rules().label_limits;
    let mut import = NativeImport { api, stream: NativeStream::new(limits), batch: NativeBatch::default(), extra_labels, landing: write::Landing::default() };
    let mut gunzip = gzip.then(|| flate2::write::MultiGzDecoder::new(Vec::new()));
    let outcome = loop {
        let step = match body.next_chunk().await {
            Some(Ok(chunk)) => import.take_chunk(&chunk, gunzip.as_mut()).await,
            Some(Err(error)) => Err(Stop::Body(error.to_string())),
            None => break import.take_end(gunzip.as_mut()).await,
        };
        if let Err(stop) = step {
            break Err(stop);
        }
    };
    match outcome {
        Ok(()) => {
            import.finish().await?;
            let mut response = Response::new(Bytes::new());
            *response.status_mut() = StatusCode::NO_CONTENT;
            Ok(response)
        }
        Err(Stop::Store(error)) => Err(error),
        Err(stop) => Err(import.refuse(stop).await),
    }
}

impl NativeImport<'_> {
    /// Decodes one chunk of the body (a gzip body a step at a time, so a small chunk cannot
    /// inflate to much at once), storing every batch that fills.
    async fn take_chunk(&mut self, chunk: &[u8], gunzip: Option<&mut flate2::write::MultiGzDecoder<Vec<u8>>>) -> Result<(), Stop> {
        let Some(decoder) = gunzip else {
            self.stream.push(chunk);
            return self.decode_available().await;
        };
        for step in chunk.chunks(GUNZIP_INPUT_STEP_BYTES) {
            decoder.write_all(step).map_err(Stop::Gzip)?;
            self.take_gunzipped(decoder);
            self.decode_available().await?;
        }
        Ok(())
    }

    /// The end of the body: a gzip body must end with its last member, the stream between
    /// blocks.
    async fn take_end(&mut self, gunzip: Option<&mut flate2::write::MultiGzDecoder<Vec<u8>>>) -> Result<(), Stop> {
        if let Some(decoder) = gunzip {
            decoder.try_finish().map_err(Stop::Gzip)?;
            self.take_gunzipped(decoder);
            self.decode_available().await?;
        }
        self.stream.finish().map_err(Stop::Malformed)
    }

    /// Moves what the gzip decoder has written into the stream (keeping its buffer).
    fn take_gunzipped(&mut self, decoder: &mut flate2::write::MultiGzDecoder<Vec<u8>>) {
        let plain = decoder.get_mut();
        self.stream.push(plain);
        plain.clear();
    }

    /// Decodes every block whose bytes have arrived.
    async fn decode_available(&mut self) -> Result<(), Stop> {
        while self.stream.next_block(&mut self.batch).map_err(Stop::Malformed)? {
            let batch = &self.batch;
            if batch.series_count() >= IMPORT_BATCH_SERIES_MAX
                || batch.sample_count() >= IMPORT_BATCH_SAMPLES_MAX
                || batch.label_bytes() >= IMPORT_BATCH_LABEL_BYTES_MAX
            {
                self.store().await?;
            }
        }
        Ok(())
    }

    /// Sends the batch (if any) to the shards, with the request's `extra_label`s, once the
    /// one before has landed; it lands while the next is decoded (`finish` waits for it).
    async fn store(&mut self) -> Result<(), ApiError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let limits = self.api.config.storage.ingest_rules().label_limits;
        let series = extra_labels::apply_to_batch(self.batch.take(), &self.extra_labels, &limits)?;
        let api = self.api;
        self.landing.start(async move { write::append_counted(api, series).await.map(drop) }).await
    }

    /// Stores the batch (if any) and waits until every batch sent has landed.
    async fn finish(&mut self) -> Result<(), ApiError> {
        self.store().await?;
        self.landing.landed().await
    }

    /// The 400 for an import stopped by `stop`, after storing the whole blocks decoded before
    /// it (as the other imports store the lines before a bad one).
    async fn refuse(mut self, stop: Stop) -> ApiError {
        if let Err(error) = self.finish().await {
            return error;
        }
        let blocks = self.stream.blocks();
        let imported = match blocks {
            0 => "no block was imported".to_string(),
            1 => "block 1 was imported".to_string(),
            n => format!("blocks 1 to {n} were imported"),
        };
        ApiError::bad_data(match stop {
            Stop::Malformed(error) => format!("invalid native import: {error}; {imported}, none from block {} on", error.block()),
            Stop::Gzip(error) => format!("the gzip body is malformed ({error}); {imported}"),
            Stop::Body(error) => format!("the request body failed after block {blocks}: {error}; {imported}"),
            Stop::Store(error) => return error,
        })
    }
}
