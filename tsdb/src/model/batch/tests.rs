//! Tests of series batches: building, owning, round trips with their label hashes.

use super::*;

fn sample(t: i64) -> Sample {
    Sample { timestamp_ms: t, value: t as f64 }
}

#[test]
fn single_samples_make_the_batch_from_series_makes() {
    let series = vec![
        (Labels::from_pairs([("__name__", "a"), ("x", "1")]), Sample { timestamp_ms: 5, value: 1.5 }),
        (Labels::from_pairs([("__name__", "b")]), Sample { timestamp_ms: 6, value: 2.5 }),
    ];
    let owned: Vec<SeriesSamples> = series.iter().map(|(l, s)| SeriesSamples { labels: l.clone(), samples: vec![*s], histograms: Vec::new(), starts: None }).collect();
    let (a, b) = (SeriesBatch::from_single_samples(&series), SeriesBatch::from_series(&owned));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b.iter()) {
        assert_eq!(x.hash(), y.hash());
        assert_eq!(x.label_pairs().collect::<Vec<_>>(), y.label_pairs().collect::<Vec<_>>());
        assert_eq!(x.samples(), y.samples());
    }
}

#[test]
fn owned_series_round_trip_with_the_labels_hash() {
    let series = vec![
        SeriesSamples { labels: Labels::from_pairs([("__name__", "up"), ("job", "a")]), samples: vec![sample(1), sample(2)], histograms: Vec::new(), starts: None },
        SeriesSamples { labels: Labels::from_pairs([("__name__", "x")]), samples: vec![sample(3)], histograms: Vec::new(), starts: None },
    ];
    let batch = SeriesBatch::from_series(&series);
    assert_eq!(batch.len(), 2);
    assert_eq!(batch.sample_count(), 3);
    assert_eq!(batch.to_series(), series);
    for (b, s) in batch.iter().zip(&series) {
        assert_eq!(b.hash(), s.labels.stable_hash());
    }
    let part = BatchPart { batch: &batch, indices: Some(&[1]) };
    assert_eq!(part.series().map(|s| s.to_labels()).collect::<Vec<_>>(), vec![series[1].labels.clone()]);
}

#[test]
fn labels_set_on_every_series_replace_add_or_remove_and_keep_the_rest() {
    let series = vec![
        SeriesSamples { labels: Labels::from_pairs([("__name__", "up"), ("env", "dev"), ("job", "a")]), samples: vec![sample(1), sample(2)], histograms: Vec::new(), starts: None },
        SeriesSamples { labels: Labels::from_pairs([("__name__", "x"), ("zone", "z1")]), samples: vec![sample(3)], histograms: Vec::new(), starts: None },
    ];
    let plain = SeriesBatch::from_series(&series);
    let batch = SeriesBatch::build(plain.text.clone(), |b| {
        let (first, second) = (plain.get(0), plain.get(1));
        b.push_series(first.labels, first.samples());
        b.push_exemplars(&[Exemplar { labels: Labels::from_pairs([("trace_id", "t1")]), value: 1.5, timestamp_ms: 2, own_timestamp: true }]);
        b.push_series(second.labels, second.samples());
        Ok::<(), ()>(())
    })
    .expect("built");
    let set = [("env".to_string(), "prod".to_string()), ("a".to_string(), "1".to_string()), ("zone".to_string(), String::new())];
    let relabeled = batch.with_labels_set(&set);
    let want = [
        Labels::from_pairs([("__name__", "up"), ("a", "1"), ("env", "prod"), ("job", "a")]),
        Labels::from_pairs([("__name__", "x"), ("a", "1"), ("env", "prod")]),
    ];
    assert_eq!(relabeled.len(), 2);
    for (i, labels) in want.iter().enumerate() {
        let s = relabeled.get(i);
        assert_eq!(&s.to_labels(), labels);
        assert_eq!(s.hash(), labels.stable_hash());
        assert_eq!(s.samples(), batch.get(i).samples());
    }
    assert_eq!(relabeled.get(0).exemplars().len(), 1);
    assert_eq!(relabeled.get(0).exemplars()[0].value, 1.5);
    assert!(relabeled.get(1).exemplars().is_empty());
}

#[test]
fn relabeled_batches_drop_series_left_without_labels_or_refused_and_keep_the_last_of_a_name() {
    let series = vec![
        SeriesSamples { labels: Labels::from_pairs([("__name__", "a")]), samples: vec![sample(1)], histograms: Vec::new(), starts: None },
        SeriesSamples { labels: Labels::from_pairs([("__name__", "b")]), samples: vec![sample(2)], histograms: Vec::new(), starts: None },
        SeriesSamples { labels: Labels::from_pairs([("__name__", "c")]), samples: vec![sample(3)], histograms: Vec::new(), starts: None },
    ];
    let batch = SeriesBatch::from_series(&series);
    let out = batch.relabeled(|s, out| {
        let name = s.label_pairs().next().map(|(_, v)| v.to_vec()).unwrap_or_default();
        match name.as_slice() {
            b"a" => {
                out.push(b"z", b"1");
                out.push(b"__name__", b"old");
                out.push(b"__name__", b"a2");
                out.push(b"gone", b"");
                true
            }
            b"b" => false,
            _ => true, // nothing pushed: no label left
        }
    });
    assert_eq!(out.len(), 1);
    let kept = out.get(0);
    assert_eq!(kept.to_labels(), Labels::from_pairs([("__name__", "a2"), ("z", "1")]));
    assert_eq!(kept.hash(), kept.to_labels().stable_hash());
    assert_eq!(kept.samples(), &[sample(1)]);
}

#[test]
fn histograms_ride_with_their_series_and_invalid_ones_are_refused() {
    use crate::model::{BucketSpan, FloatHistogram};
    use std::sync::Arc;
    let h = |t: i64, buckets: usize| HistogramSample {
        timestamp_ms: t,
        histogram: Arc::new(FloatHistogram { count: 2.0, positive_spans: vec![BucketSpan { offset: 0, length: 1 }], positive_buckets: vec![2.0; buckets], ..FloatHistogram::default() }),
    };
    let series = vec![
        SeriesSamples { labels: Labels::from_pairs([("__name__", "f")]), samples: vec![sample(1)], histograms: Vec::new(), starts: None },
        SeriesSamples { labels: Labels::from_pairs([("__name__", "h")]), samples: vec![sample(2)], histograms: vec![h(3, 1), h(4, 1)], starts: None },
    ];
    let batch = SeriesBatch::try_from_series(&series).expect("valid");
    assert_eq!((batch.sample_count(), batch.histogram_count()), (2, 2));
    assert_eq!(batch.to_series(), series);
    assert!(batch.get(0).histograms().is_empty());
    let part = BatchPart { batch: &batch, indices: Some(&[1]) };
    assert_eq!((part.sample_count(), part.histogram_count()), (1, 2));
    // A float-only batch allocates no histogram or exemplar list.
    assert_eq!(SeriesBatch::from_series(&series[..1]).histograms.capacity(), 0);
    assert_eq!(SeriesBatch::from_series(&series[..1]).exemplars.capacity(), 0);
    let mut bad = series.clone();
    bad[1].histograms.push(h(5, 2));
    let err = SeriesBatch::try_from_series(&bad).expect_err("two counts for one bucket").to_string();
    assert!(err.contains("series h{}") && err.contains("at 5") && err.contains("positive spans cover 1 buckets but 2"), "{err}");
}

#[test]
fn exemplars_ride_with_the_series_pushed_before_them() {
    let text = b"__name__ab".to_vec();
    let name = TextSpan { start: 0, end: 8 };
    let (a, b) = (TextSpan { start: 8, end: 9 }, TextSpan { start: 9, end: 10 });
    let e = |t: i64| Exemplar { labels: Labels::from_pairs([("trace_id", "x")]), value: 1.0, timestamp_ms: t, own_timestamp: true };
    let batch = SeriesBatch::build(text, |builder| {
        builder.push_series(&[(name, a)], &[sample(1)]);
        builder.push_exemplars(&[e(1), e(2)]);
        builder.push_series(&[(name, b)], &[sample(2)]);
        Ok::<(), Error>(())
    })
    .expect("built");
    assert_eq!(batch.exemplar_count(), 2);
    assert_eq!(batch.get(0).exemplars(), &[e(1), e(2)]);
    assert!(batch.get(1).exemplars().is_empty());
    assert_eq!((BatchPart { batch: &batch, indices: Some(&[1]) }).exemplar_count(), 0);
    assert_eq!((BatchPart { batch: &batch, indices: Some(&[0]) }).exemplar_count(), 2);
}

#[test]
fn exemplars_given_apart_follow_the_series_as_entries_of_their_own() {
    let up = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
    let other = Labels::from_pairs([("__name__", "other")]);
    let series = vec![SeriesSamples { labels: up.clone(), samples: vec![sample(1)], histograms: Vec::new(), starts: None }];
    let e = |t: i64| Exemplar { labels: Labels::from_pairs([("trace_id", "x")]), value: 1.0, timestamp_ms: t, own_timestamp: true };
    let batch = SeriesBatch::try_from_series_and_exemplars(&series, &[(up.clone(), vec![e(1), e(2)]), (other.clone(), vec![e(3)])]).expect("built");
    assert_eq!((batch.len(), batch.sample_count(), batch.exemplar_count()), (3, 1, 3));
    let entries: Vec<(Labels, u64, usize, Vec<i64>)> = batch.iter().map(|s| (s.to_labels(), s.hash(), s.samples().len(), s.exemplars().iter().map(|e| e.timestamp_ms).collect())).collect();
    assert_eq!(entries, vec![(up.clone(), up.stable_hash(), 1, vec![]), (up.clone(), up.stable_hash(), 0, vec![1, 2]), (other.clone(), other.stable_hash(), 0, vec![3])]);
}

#[test]
fn a_part_is_read_by_position_as_it_iterates() {
    let series: Vec<SeriesSamples> = (0..5)
        .map(|i| SeriesSamples { labels: Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())]), samples: vec![sample(i)], histograms: Vec::new(), starts: None })
        .collect();
    let batch = SeriesBatch::from_series(&series);
    for part in [BatchPart { batch: &batch, indices: Some(&[4, 1, 3]) }, BatchPart::whole(&batch)] {
        let iterated: Vec<Labels> = part.series().map(|s| s.to_labels()).collect();
        let by_position: Vec<Labels> = (0..part.series_count()).map_while(|k| part.get(k)).map(|s| s.to_labels()).collect();
        assert_eq!(by_position, iterated);
        assert!(part.get(part.series_count()).is_none());
        // Hints only: any series, the last one included, may be prefetched.
        for s in part.series() {
            s.prefetch_spans();
            s.prefetch_text();
        }
    }
}
