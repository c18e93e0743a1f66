//! Fuzz target: a scrape target's body (text, OpenMetrics or protobuf by the first byte's bits)
//! never panics `scrape_loop::SeriesCache`, which is transparent (a second scrape gives the same
//! result, no staleness marker) and makes a valid batch (sorted, unique, non-empty labels). An
//! odd length reads start times (`_created` paired) as the start-timestamp options do; a length
//! divisible by 3 adds `storage.type_and_unit_labels`' metadata labels.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::ingest::label_limits::LabelLimits;
    use metricstor::scrape::discovery::{targets, Discovered};
    use metricstor::scrape::scrape_loop::SeriesCache;
    use metricstor::scrape::ScrapeConfig;
    // The four jobs (honor_labels x honor_timestamps), built once: a job's TLS settings
    // read the system's CA bundle.
    static TARGETS: std::sync::OnceLock<Vec<std::sync::Arc<metricstor::scrape::discovery::Target>>> = std::sync::OnceLock::new();
    let all = TARGETS.get_or_init(|| {
        (0..4u8)
            .map(|flags| {
                let yaml = format!(
                    "scrape_configs: [{{job_name: j, honor_labels: {}, honor_timestamps: {}, metric_relabel_configs: [{{source_labels: [__name__], regex: 'drop_.*', action: drop}}], static_configs: [{{targets: ['h:1'], labels: {{env: e}}}}]}}]",
                    flags & 1 != 0,
                    flags & 2 != 0
                );
                let Ok(mut config) = ScrapeConfig::from_yaml(&yaml, std::path::Path::new("/"), LabelLimits::default()) else { panic!("the fuzz job's configuration is valid") };
                let job = config.jobs.remove(0);
                let groups: Vec<std::sync::Arc<_>> = job.static_groups.iter().cloned().map(std::sync::Arc::new).collect();
                let Some(Discovered::Active(target)) = targets(&job, &groups).pop() else { panic!("the fuzz job has a target") };
                target
            })
            .collect()
    });
    let flags = data.first().copied().unwrap_or(0);
    let read_starts = data.len() % 2 == 1;
    use metricstor::scrape::start_timestamps::LineStarts;
    let target = &all[usize::from(flags & 3)];
    use metricstor::scrape::scrape_loop::{Answer, Format};
    let answer = if flags & 8 != 0 {
        let options = metricstor::scrape::protobuf::ProtobufOptions { native_histograms: flags & 16 != 0, classic_histograms_too: flags & 32 != 0, utf8_names: flags & 1 != 0, exemplars: flags & 64 == 0 };
        let body = data.get(1..).unwrap_or_default();
        let decoded = if read_starts { metricstor::scrape::protobuf::to_text_with_starts(body, options) } else { metricstor::scrape::protobuf::to_text(body, options) };
        match decoded {
            Ok(exposition) => (Answer { text: exposition.text, format: Format::OpenMetrics, histograms: exposition.histograms }, exposition.starts),
            Err(_) => return,
        }
    } else if flags & 4 != 0 {
        let rewritten = if read_starts { metricstor::scrape::openmetrics::to_text_with_starts(data) } else { metricstor::scrape::openmetrics::to_text(data).map(|text| (text, LineStarts::default())) };
        match rewritten {
            Ok((text, starts)) => (Answer { text, format: Format::OpenMetrics, histograms: Vec::new() }, starts),
            Err(_) => return,
        }
    } else {
        (Answer { text: data.to_vec(), format: Format::Text, histograms: Vec::new() }, LineStarts::default())
    };
    // The seventh bit: classic histograms converted (`scrape::nhcb`), kept by the eighth.
    let (answer, starts) = if flags & 64 != 0 {
        match metricstor::scrape::nhcb::convert_with_starts(answer.0, &answer.1, flags & 128 != 0, flags & 8 != 0) {
            Ok(converted) => converted,
            Err(_) => return,
        }
    } else {
        answer
    };
    let external = [("dc".to_string(), "x".to_string())];
    let limits = LabelLimits::default();
    let mut cache = SeriesCache::default();
    cache.keep_exemplars();
    if data.len() % 3 == 0 {
        cache.label_types_and_units();
    }
    let first = cache.scrape_answer_with_starts(target, &external, &answer, &starts, 1_000, &limits);
    // The same start time: the second scrape must make exactly the first's samples.
    let second = cache.scrape_answer_with_starts(target, &external, &answer, &starts, 1_000, &limits);
    match (&first, &second) {
        (Ok(a), Ok(b)) => {
            let samples = |s: &metricstor::scrape::scrape_loop::Scraped| s.samples.iter().map(|(l, x)| (l.clone(), x.timestamp_ms, x.value.to_bits())).collect::<Vec<_>>();
            assert_eq!(samples(a), samples(b), "the cache changed what a scrape makes");
            // Compared by bit pattern (`same_as`, the hint apart): a histogram may hold NaN
            // (a NaN zero threshold is valid), which `==` never finds equal to itself.
            let same_histograms = a.histograms.len() == b.histograms.len()
                && a.histograms.iter().zip(&b.histograms).all(|((la, ha), (lb, hb))| la == lb && ha.timestamp_ms == hb.timestamp_ms && ha.histogram.counter_reset_hint == hb.histogram.counter_reset_hint && ha.histogram.same_as(&hb.histogram));
            assert!(same_histograms, "the cache changed the histograms a scrape makes: {:?} then {:?}", a.histograms, b.histograms);
            assert_eq!((a.scraped, a.kept), (b.scraped, b.kept));
            assert!(a.kept <= a.scraped);
            assert!(b.metadata.is_none(), "unchanged metadata given twice");
            let batch = tsdb::SeriesBatch::from_single_samples(&b.samples);
            assert_eq!(batch.len(), b.samples.len());
            let histograms: Vec<tsdb::SeriesSamples> = b.histograms.iter().map(|(labels, h)| tsdb::SeriesSamples { labels: labels.clone(), samples: Vec::new(), histograms: vec![h.clone()], starts: None }).collect();
            // `Exemplar`'s equality compares values by bit pattern.
            assert_eq!(a.exemplars, b.exemplars, "the cache changed the exemplars a scrape makes");
            let exemplar_count: usize = b.exemplars.iter().map(|(_, list)| list.len()).sum();
            match tsdb::SeriesBatch::try_from_series_and_exemplars(&histograms, &b.exemplars) {
                Ok(batch) => assert_eq!(batch.exemplar_count(), exemplar_count),
                Err(e) => panic!("scraped histograms and exemplars make a valid batch: {e}"),
            }
            assert_eq!(a.starts, b.starts, "the cache changed the start timestamps");
            assert!(read_starts || b.starts.is_empty(), "starts only when read");
            assert!(b.starts.samples.iter().all(|(at, st)| b.samples.get(*at).is_some_and(|(_, s)| s.timestamp_ms == st.sample_ms)), "each float start on its kept series' sample");
            assert!(b.starts.histograms.iter().all(|(at, st)| b.histograms.get(*at).is_some_and(|(_, h)| h.timestamp_ms == st.sample_ms)), "each histogram start on its kept series' histogram");
            let (series, natives, exemplars, starts) = (b.samples.clone(), b.histograms.clone(), b.exemplars.clone(), b.starts.clone());
            if let Err(e) = metricstor::scrape::scrape_loop::scrape_batch(series, natives, exemplars, starts) {
                panic!("a scrape's series, histograms, exemplars and starts make a valid batch: {e}");
            }
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "the cache changed the error"),
        _ => panic!("the cache changed the outcome: {first:?} then {second:?}"),
    }
});
