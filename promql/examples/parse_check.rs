//! Reads PromQL queries, one per line, from stdin and reports those that do not parse
//! (e.g. the compliance tester's query list, after template expansion). Usage:
//! `cargo run -p metricstor-promql --example parse_check < queries.txt`

use std::io::BufRead;

fn main() {
    let (mut ok, mut failed) = (0, 0);
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        let query = line.trim();
        if query.is_empty() {
            continue;
        }
        match promql::parse(query) {
            Ok(_) => ok += 1,
            Err(e) => {
                failed += 1;
                println!("FAIL {query}\n     {e}");
            }
        }
    }
    println!("{ok} parsed, {failed} failed");
}
