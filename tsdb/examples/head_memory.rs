//! What one shard's head costs per series, part by part: `cargo run --release -p
//! metricstor-tsdb --example head_memory -- [SERIES] [SAMPLES]`. Builds SERIES label sets of
//! the shape `metricstor-bench write` sends, creates them in a head and appends SAMPLES
//! samples to each. The figures are heap bytes allocated and not freed.

use tsdb::head::Head;
use tsdb::{Labels, Sample};

#[path = "support/counting_allocator.rs"]
mod counting_allocator;

use counting_allocator::{live_bytes, Counting};

/// Counts the heap bytes allocated and not freed; the server's allocator rounds each
/// allocation up to its size class on top.
#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Series per target, as `metricstor-bench write` lays them out by default (21 plain
/// families and 3 histograms of 11 bounds, `+Inf`, `_count` and `_sum`).
const WIDTH: usize = 63;
const BOUNDS: [&str; 12] = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"];

/// The `i`th label set, of the shape `metricstor-bench write` sends (63 series per
/// target: a metric name, `instance`, `job`, `namespace`, `pod`, `region`, and `le` on
/// histogram buckets).
fn labels_of(i: usize) -> Labels {
    let (target, slot) = (i / WIDTH, i % WIDTH);
    let node = target % 100;
    let (name, le) = match slot {
        0..=11 => ("http_request_duration_seconds_bucket".to_string(), Some(BOUNDS[slot])),
        12..=23 => ("grpc_server_handling_seconds_bucket".to_string(), Some(BOUNDS[slot - 12])),
        24..=35 => ("apiserver_request_duration_seconds_bucket".to_string(), Some(BOUNDS[slot - 24])),
        _ => (format!("family_{slot:02}_total"), None),
    };
    let mut pairs = vec![
        ("__name__", name),
        ("instance", format!("10.0.{}.{}:9100", node / 256, node % 256)),
        ("job", format!("job-{}", target % 20)),
    ];
    if let Some(le) = le {
        pairs.push(("le", le.to_string()));
    }
    pairs.push(("namespace", format!("ns-{}", target % 10)));
    pairs.push(("pod", format!("pod-{target}")));
    pairs.push(("region", ["eu-west-1", "us-east-1", "ap-south-1"][target % 3].to_string()));
    Labels::from_pairs(pairs)
}

fn live() -> (i64, i64) {
    (live_bytes(), counting_allocator::live_allocations())
}

/// Prints the bytes and allocations `what` added between `before` and `after`, per series. A
/// list's spare capacity counts here in full, though the OS backs a large allocation's pages
/// only once they are written: the series list of a head just past a power of two shows here
/// as up to twice its resident size.
fn report(what: &str, before: (i64, i64), after: (i64, i64), series: usize) {
    let (bytes, allocations) = (after.0 - before.0, after.1 - before.1);
    println!(
        "{what:<44} {:>8.1} MiB {:>7.1} B/series {:>5.2} allocations/series",
        bytes as f64 / 1048576.0,
        bytes as f64 / series as f64,
        allocations as f64 / series as f64
    );
}

/// SERIES defaults to 500,000 (one shard's share of `compare.py --series 1000000` on two
/// cores), SAMPLES to 3.
fn main() {
    let mut args = std::env::args().skip(1);
    let series: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(500_000);
    let samples: i64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3);
    println!("{series} series, {samples} samples each; MemSeries is {} bytes", std::mem::size_of::<tsdb::head::MemSeries>());

    let start = live();
    let sets: Vec<Labels> = (0..series).map(labels_of).collect();
    for set in &sets {
        set.stable_hash();
    }
    let with_sets = live();
    report("label sets (and the list holding them)", start, with_sets, series);

    let mut head = Head::default();
    let ids: Vec<u32> = sets.iter().map(|set| head.get_or_create(set).0).collect();
    let created = live();
    report("head: series records, hash table, index", with_sets, created, series);

    for k in 0..samples {
        for (n, &id) in ids.iter().enumerate() {
            head.append(id, Sample { timestamp_ms: 1_700_000_000_000 + k * 15_000, value: (n as i64 * 7 + k) as f64 });
        }
    }
    let appended = live();
    report("samples (open chunks)", created, appended, series);

    drop(ids);
    drop(sets);
    let held = live();
    report("everything the head holds", start, held, series);
    std::hint::black_box(&head);
}
