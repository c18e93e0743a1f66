//! Fuzz target: VictoriaMetrics' native import (`/api/v1/import/native`) never panics whatever the
//! bytes; fed in pieces (the first byte picks their size) or in runs of frames each decoded by its
//! own decoder (as the import does on other threads), it decodes as fed whole (same series or
//! error); it accepts only valid write batches (sorted, unique, non-empty labels: the batch
//! builder's debug assertions) of named series with time-ordered samples, within the row limit.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::ingest::label_limits::LabelLimits;
    use metricstor::ingest::vm_native::{FrameRun, NativeBatch, NativeError, NativeStream, ROWS_PER_BLOCK_MAX};
    use tsdb::SeriesSamples;

    let Some((&selector, body)) = data.split_first() else { return };
    let decode = |piece: usize| -> (Result<(), NativeError>, Vec<SeriesSamples>, u64) {
        let mut stream = NativeStream::new(LabelLimits::default());
        let mut batch = NativeBatch::default();
        let mut result = Ok(());
        'feed: for part in body.chunks(piece) {
            stream.push(part);
            loop {
                match stream.next_block(&mut batch) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(error) => {
                        result = Err(error);
                        break 'feed;
                    }
                }
            }
        }
        if result.is_ok() {
            result = stream.finish();
        }
        (result, batch.take().to_series(), stream.blocks())
    };
    let in_runs = |piece: usize, run_bytes_min: usize| -> (Result<(), NativeError>, Vec<SeriesSamples>) {
        let mut stream = NativeStream::new(LabelLimits::default());
        let mut batch = NativeBatch::default();
        let decode = |stream: &mut NativeStream, run: FrameRun, batch: &mut NativeBatch| -> Result<(), NativeError> {
            let Some(mut decoder) = stream.block_decoder() else { panic!("a run before the header") };
            let decoded = decoder.decode_run(&run, batch, |_| {});
            stream.learn_layout(decoder.layout());
            decoded
        };
        let mut result = (|| {
            for part in body.chunks(piece) {
                stream.push(part);
                while let Some(run) = stream.next_frames(run_bytes_min)? {
                    decode(&mut stream, run, &mut batch)?;
                }
            }
            while let Some(run) = stream.rest_frames()? {
                decode(&mut stream, run, &mut batch)?;
            }
            Ok(())
        })();
        if result.is_ok() {
            result = stream.finish();
        }
        (result, batch.take().to_series())
    };
    let whole = decode(body.len().max(1));
    let pieces = decode(usize::from(selector % 64) + 1);
    assert_eq!(whole, pieces, "the same bytes in other pieces decode the same");
    let runs = in_runs(usize::from(selector % 64) + 1, usize::from(selector / 64) * 100 + 1);
    assert_eq!((&whole.0, &whole.1), (&runs.0, &runs.1), "runs of frames decode the same");
    let (_, series, blocks) = whole;
    let samples: u64 = series.iter().map(|s| s.samples.len() as u64).sum();
    assert!(samples <= blocks * ROWS_PER_BLOCK_MAX, "no block yields more than its rows");
    for s in &series {
        assert!(s.labels.get("__name__").is_some_and(|n| !n.is_empty()), "every series is named");
        assert!(s.samples.windows(2).all(|w| w[0].timestamp_ms <= w[1].timestamp_ms), "samples in time order");
    }
});
