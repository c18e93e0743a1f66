//! 10,000 idle connections and a handful of slowloris clients (a request head that never
//! ends) against the real binary: a real client's writes and queries are all served while
//! they are open, and the server closes every one of them at the header-read timeout.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::*;

const IDLE: usize = 10_000;
const SLOWLORIS: usize = 20;
const HEADER_TIMEOUT_SECONDS: u64 = 30;

/// Raises this process' open-file limit (inherited by the server) as far as `want`, if the
/// hard limit allows; returns the soft limit now in force.
fn raise_nofile(want: u64) -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit on our own process with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur < want {
            limit.rlim_cur = want.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        }
    }
    limit.rlim_cur
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// True once the server has closed `stream` (EOF, reset, or a 408 then EOF).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // a 408 response before the close
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn idle_and_slowloris_connections_do_not_starve_real_clients() {
    let limit = raise_nofile(3 * IDLE as u64);
    if limit < (IDLE + 2_000) as u64 {
        eprintln!("SKIPPED: the open-file limit is {limit}; this test needs {} (raise `ulimit -Hn`)", IDLE + 2_000);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = write_config_with(dir.path(), &format!("  cores: 2\n  header_read_timeout_seconds: {HEADER_TIMEOUT_SECONDS}\n"), "");
    let server = Server::start(&config);
    let rss_before = rss_kib(server.child.id());

    let opened_at = Instant::now();
    let mut idle: Vec<TcpStream> = Vec::with_capacity(IDLE);
    for i in 0..IDLE {
        match TcpStream::connect(&server.http_addr) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("idle connection {i} could not connect: {e}"),
        }
    }
    let mut slow: Vec<TcpStream> = (0..SLOWLORIS)
        .map(|_| {
            let mut s = TcpStream::connect(&server.http_addr).expect("connect");
            s.write_all(b"GET /api/v1/query?query=up HTTP/1.1\r\nHost: x\r\nX-Slow: ").expect("partial head");
            s
        })
        .collect();

    // A real client, while all of those are open.
    for n in 0..20i64 {
        let body = v1_request(&[(vec![("__name__", "real_client"), ("n", "1")], vec![(n * 1000, n as f64)])]);
        let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &body);
        assert_eq!(reply.status, 204, "write {n} with {IDLE} idle connections open: {}", reply.body);
        let (status, body) = get_json(&server.url("/api/v1/query?query=count_over_time(real_client%5B1h%5D)&time=100"));
        assert_eq!(status, 200, "query {n}: {body}");
        assert_eq!(body["data"]["result"][0]["value"][1], (n + 1).to_string(), "{body}");
    }
    let served_within = opened_at.elapsed();
    let rss_with_idle = rss_kib(server.child.id());
    let metrics = agent().get(&server.url("/metrics")).call().expect("metrics").into_string().unwrap_or_default();
    let open: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("metricstor_connections_open"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum();
    assert!(open >= (IDLE + SLOWLORIS) as f64, "the server holds every idle connection open (metricstor_connections_open = {open})");
    eprintln!(
        "{IDLE} idle + {SLOWLORIS} slowloris connections: real client served (20 writes + 20 queries) within {served_within:?} of opening them; server RSS {} KiB before, {} KiB with them open",
        rss_before, rss_with_idle
    );

    // Every idle and slowloris connection is closed by the server at the header timeout.
    for s in idle.iter().chain(slow.iter()) {
        s.set_nonblocking(true).expect("non-blocking");
    }
    let deadline = Instant::now() + Duration::from_secs(HEADER_TIMEOUT_SECONDS + 60);
    let mut open_left: Vec<&mut TcpStream> = idle.iter_mut().chain(slow.iter_mut()).collect();
    while !open_left.is_empty() {
        assert!(Instant::now() < deadline, "{} connections still open 60 s after the header timeout", open_left.len());
        open_left.retain_mut(|s| !closed_by_server(s));
        if !open_left.is_empty() {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    eprintln!("all {} connections closed by the server after {:?}", IDLE + SLOWLORIS, opened_at.elapsed());
    drop(idle);
    drop(slow);
    assert!(server.stop());
}
