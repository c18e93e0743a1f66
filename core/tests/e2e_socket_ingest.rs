//! End-to-end: the Graphite, Influx and OpenTSDB socket listeners of the real binary
//! (`server.graphite_listen_addr`, `server.influx_listen_addr`, `server.opentsdb_listen_addr`):
//! lines over TCP and UDP stored exactly, mTLS, connection limits, startup errors and shutdown.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use support::*;

const LISTEN_DEADLINE: Duration = Duration::from_secs(10);
const STORED_DEADLINE: Duration = Duration::from_secs(20);

/// A whole minute an hour ago (ms), so every write lands in the head.
fn base_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    (now / 60_000) * 60_000 - 3_600_000
}

fn encoded(text: &str) -> String {
    percent_encode(text)
}

/// The addresses in the start-up line announcing `what`, after each of `schemes` (`tcp://`…).
fn listener_addrs<const N: usize>(server: &Server, what: &str, schemes: [&str; N]) -> [String; N] {
    let line = server.log_line(what, LISTEN_DEADLINE).unwrap_or_else(|| panic!("no log line announcing {what}"));
    schemes.map(|scheme| {
        let after = line.split(&format!("{scheme}://")).nth(1).unwrap_or_else(|| panic!("no {scheme}:// in {line}"));
        after.chars().take_while(|c| !c.is_whitespace()).collect()
    })
}

type SeriesList = Vec<MatrixSeries>;

/// Every series `selector` selects in the 10 minutes up to `at_ms` (labels and samples),
/// sorted by labels, from the answer of `get`.
fn series_with(get: impl Fn(&str) -> (u16, serde_json::Value), selector: &str, at_ms: i64) -> SeriesList {
    let query = format!("{selector}[10m]");
    let (status, body) = get(&format!("/api/v1/query?query={}&time={}", encoded(&query), at_ms as f64 / 1000.0));
    assert_eq!(status, 200, "{query}: {body}");
    matrix_series(&body)
}

/// Polls (bounded) until `selector` answers `want`, then asserts it.
fn assert_stored(get: impl Fn(&str) -> (u16, serde_json::Value), selector: &str, at_ms: i64, want: SeriesList) {
    let deadline = Instant::now() + STORED_DEADLINE;
    loop {
        let got = series_with(&get, selector, at_ms);
        if got == want || Instant::now() > deadline {
            assert_eq!(got, want, "{selector}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of the `/metrics` line starting with `series ` (0 when absent).
fn metric(text: &str, series: &str) -> u64 {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' '))).map_or(0, |v| v.trim().parse().expect("counter value"))
}

/// Writes `pieces` one write at a time (the server may read each alone), closes the sending
/// side and waits (bounded) for the server to close: by then it has written out every line.
fn send_tcp(addr: &str, pieces: &[&str]) {
    let mut socket = TcpStream::connect(addr).expect("connect");
    socket.set_nodelay(true).expect("nodelay");
    socket.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    for piece in pieces {
        socket.write_all(piece.as_bytes()).expect("write");
        socket.flush().expect("flush");
        // Give the server the chance to read the piece alone (not needed for correctness).
        std::thread::sleep(Duration::from_millis(20));
    }
    socket.shutdown(Shutdown::Write).expect("shutdown");
    let mut rest = Vec::new();
    let _ = socket.read_to_end(&mut rest);
}

/// Graphite and Influx lines over TCP (one split across two writes, a last one without a
/// newline at close) and UDP are read back with exact labels, values and timestamps; a bad
/// line is skipped and counted in `/metrics`.
#[test]
fn graphite_and_influx_lines_over_tcp_and_udp_are_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), "  graphite_listen_addr: 127.0.0.1:0\n  influx_listen_addr: 127.0.0.1:0\n"));
    let [graphite, graphite_udp] = listener_addrs(&server, "listening for Graphite plaintext", ["tcp", "udp"]);
    let [influx] = listener_addrs(&server, "listening for InfluxDB line protocol", ["tcp"]);
    assert_eq!(graphite_udp, graphite, "UDP shares the TCP port");
    let t0 = base_ms();
    let s = t0 / 1000;
    let at = t0 + 60_000;
    let get = |path: &str| get_json(&server.url(path));

    // Graphite over TCP: tags, a line split across writes, tabs and CRLF, a bad line, a line
    // without a timestamp (arrival time), and a last line without a newline.
    send_tcp(
        &graphite,
        &[
            &format!("tcp.g.a;env=prod;dc=eu 1.5 {s}\ntcp.g.a;env=prod;dc=eu 2"),
            &format!("5 {}\r\n\nnot-a-line\n", s + 15),
            &format!("tcp.g.b\t-3\t{}.9\r\n", s + 30),
            &format!("tcp.g.last 7 {s}"),
        ],
    );
    assert_stored(
        get,
        r#"{__name__=~"tcp[.]g[.].*"}"#,
        at,
        vec![
            (json!({"__name__": "tcp.g.a", "dc": "eu", "env": "prod"}), vec![(t0, "1.5".into()), (t0 + 15_000, "25".into())]),
            (json!({"__name__": "tcp.g.b"}), vec![(t0 + 30_000, "-3".into())]),
            (json!({"__name__": "tcp.g.last"}), vec![(t0, "7".into())]),
        ],
    );
    // No timestamp: stored at the arrival second.
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    send_tcp(&graphite, &["tcp.now 1\n"]);
    let (status, body) = get_json(&server.url(&format!("/api/v1/query?query={}", encoded(r#"timestamp({__name__="tcp.now"})"#))));
    assert_eq!(status, 200, "{body}");
    let stamped = body["data"]["result"][0]["value"][1].as_str().expect("a sample").parse::<f64>().expect("seconds");
    assert!(stamped.fract() == 0.0 && (stamped * 1000.0) as i64 >= before - 1000 && (stamped * 1000.0) as i64 <= before + 60_000, "{stamped}");

    // Influx over TCP: timestamps guessed from their size (ns here), no `db` label.
    let ns = |ms: i64| ms * 1_000_000;
    send_tcp(
        &influx,
        &[&format!("tcp_i,host=h1 v=1,w=2i {}\ntcp_i,host=h1 v=", ns(t0)), &format!("3 {}\n", ns(t0 + 15_000)), &format!("tcp_i,host=h2 v=4 {}", ns(t0))],
    );
    assert_stored(
        get,
        r#"{__name__=~"tcp_i_.*"}"#,
        at,
        vec![
            (json!({"__name__": "tcp_i_v", "host": "h1"}), vec![(t0, "1".into()), (t0 + 15_000, "3".into())]),
            (json!({"__name__": "tcp_i_v", "host": "h2"}), vec![(t0, "4".into())]),
            (json!({"__name__": "tcp_i_w", "host": "h1"}), vec![(t0, "2".into())]),
        ],
    );

    // UDP: each datagram a set of lines, the last without a newline.
    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
    udp.send_to(format!("udp.g;k=v 3 {s}\nudp.g;k=v 4 {}", s + 15).as_bytes(), &graphite).expect("send");
    udp.send_to(format!("udp_i,host=h3 v=5 {s}\nudp_i,host=h3 v=6 {}\n", s + 15).as_bytes(), &influx).expect("send");
    assert_stored(get, r#"{__name__="udp.g"}"#, at, vec![(json!({"__name__": "udp.g", "k": "v"}), vec![(t0, "3".into()), (t0 + 15_000, "4".into())])]);
    assert_stored(get, r#"{__name__="udp_i_v"}"#, at, vec![(json!({"__name__": "udp_i_v", "host": "h3"}), vec![(t0, "5".into()), (t0 + 15_000, "6".into())])]);

    let metrics = agent().get(&server.url("/metrics")).call().expect("/metrics").into_string().expect("text");
    let skipped = |protocol: &str, transport: &str| metric(&metrics, &format!("metricstor_socket_lines_skipped_total{{protocol=\"{protocol}\",transport=\"{transport}\"}}"));
    assert_eq!(skipped("graphite", "tcp"), 1, "the one bad line:\n{metrics}");
    assert_eq!(skipped("influx", "tcp") + skipped("graphite", "udp") + skipped("influx", "udp"), 0, "{metrics}");
    // 2 + blank + bad + 1 + last, then the arrival-time line.
    assert_eq!(metric(&metrics, "metricstor_socket_lines_total{protocol=\"graphite\",transport=\"tcp\"}"), 7, "{metrics}");
    assert_eq!(metric(&metrics, "metricstor_socket_lines_total{protocol=\"influx\",transport=\"udp\"}"), 2, "{metrics}");
    assert_eq!(metric(&metrics, "metricstor_socket_connections_total{protocol=\"graphite\"}"), 2, "{metrics}");
    assert_eq!(metric(&metrics, "metricstor_socket_datagrams_total{protocol=\"influx\"}"), 1, "{metrics}");
    assert!(server.stop(), "clean shutdown");
}

fn tls_config(pki: &Path, client: Option<&str>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pki.join("ca.crt")).expect("ca.crt") {
        roots.add(cert.expect("CA certificate")).expect("CA certificate");
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(name) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pki.join(format!("{name}.crt"))).expect("crt").collect::<Result<_, _>>().expect("crt");
            let key = PrivateKeyDer::from_pem_file(pki.join(format!("{name}.key"))).expect("key");
            builder.with_client_auth_cert(chain, key).expect("client auth")
        }
    };
    Arc::new(config)
}

/// Sends `text` over TLS as `client`, ends the stream cleanly (close_notify, FIN) and waits
/// (bounded) for the server to close.
fn send_tls(pki: &Path, client: &str, addr: &str, text: &str) {
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let connection = rustls::ClientConnection::new(tls_config(pki, Some(client)), name).expect("client");
    let socket = TcpStream::connect(addr).expect("connect");
    socket.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let mut tls = rustls::StreamOwned::new(connection, socket);
    // A refused identity's writes may fail once the server has closed: that is the point.
    let _ = tls.write_all(text.as_bytes());
    tls.conn.send_close_notify();
    let _ = tls.flush();
    let _ = tls.sock.shutdown(Shutdown::Write);
    let mut rest = Vec::new();
    let _ = tls.read_to_end(&mut rest);
}

/// Under mTLS, an allowed client's TLS lines are stored, a plaintext client's and a
/// disallowed identity's are not, and no UDP socket is open.
#[test]
fn under_mtls_only_allowed_tls_clients_write_and_udp_stays_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = make_pki(dir.path(), &["agent", "viewer"]);
    let config = write_mtls_config(dir.path(), &pki, "  write_allowed_sans: [agent]\n");
    let text = std::fs::read_to_string(&config).expect("config").replace("  cores: 2\n", "  cores: 2\n  graphite_listen_addr: 127.0.0.1:0\n  opentsdb_listen_addr: 127.0.0.1:0\n");
    std::fs::write(&config, text).expect("config");
    let server = Server::start(&config);
    let [graphite] = listener_addrs(&server, "listening for Graphite plaintext", ["tls"]);
    assert!(server.log_line("UDP not opened", LISTEN_DEADLINE).is_some(), "the closed UDP socket is logged");
    let t0 = base_ms();
    let s = t0 / 1000;
    let reader = ureq::AgentBuilder::new().tls_config(tls_config(&pki, Some("agent"))).timeout(Duration::from_secs(20)).build();
    let get = |path: &str| match reader.get(&format!("https://{}{path}", server.http_addr)).call() {
        Ok(r) => (r.status(), serde_json::from_str(&r.into_string().expect("body")).expect("JSON")),
        Err(ureq::Error::Status(code, r)) => (code, serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or_default()),
        Err(e) => panic!("GET {path}: {e}"),
    };

    send_tls(&pki, "agent", &graphite, &format!("tls.g;via=tls 1 {s}\ntls.g;via=tls 2 {}", s + 15));
    send_tls(&pki, "viewer", &graphite, &format!("tls.g;via=viewer 1 {s}\n"));
    send_tcp(&graphite, &[&format!("tls.g;via=plain 1 {s}\n")]);
    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
    udp.connect(&graphite).expect("connect");
    udp.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    udp.send(format!("tls.g;via=udp 1 {s}\n").as_bytes()).expect("send");
    // Nothing listens there: loopback answers ICMP port unreachable, seen on the next call.
    let refused = udp.recv(&mut [0u8; 16]).expect_err("no UDP socket answers");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused, "{refused}");

    assert_stored(get, r#"{__name__="tls.g"}"#, t0 + 60_000, vec![(json!({"__name__": "tls.g", "via": "tls"}), vec![(t0, "1".into()), (t0 + 15_000, "2".into())])]);
    // HTTP on the OpenTSDB port goes through the same TLS and identity checks.
    let [opentsdb] = listener_addrs(&server, "listening for OpenTSDB", ["tls"]);
    for (client, via) in [("agent", "agent"), ("viewer", "viewer")] {
        let body = format!(r#"{{"metric":"tls.tsdb","timestamp":{s},"value":1,"tags":{{"via":"{via}"}}}}"#);
        send_tls(&pki, client, &opentsdb, &format!("POST /api/put HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()));
    }
    assert_stored(get, r#"{__name__="tls.tsdb"}"#, t0 + 60_000, vec![(json!({"__name__": "tls.tsdb", "via": "agent"}), vec![(t0, "1".into())])]);
    let metrics = reader.get(&format!("https://{}/metrics", server.http_addr)).call().expect("/metrics").into_string().expect("text");
    let refused = |reason: &str| metric(&metrics, &format!("metricstor_socket_connections_refused_total{{protocol=\"graphite\",reason=\"{reason}\"}}"));
    assert_eq!((refused("unauthorized"), refused("tls_handshake")), (1, 1), "{metrics}");
    assert_eq!(metric(&metrics, "metricstor_socket_connections_refused_total{protocol=\"opentsdb\",reason=\"unauthorized\"}"), 1, "{metrics}");
    assert_eq!(metric(&metrics, "metricstor_authz_denied_total{action=\"write\"}"), 2, "{metrics}");
    assert!(server.stop(), "clean shutdown");
}

#[test]
fn a_listen_address_in_use_or_malformed_refuses_to_start_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A socket without SO_REUSEPORT holds the port: the server's bind fails.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let error = start_refused(&write_config(dir.path(), &format!("  influx_listen_addr: {addr}\n")));
    assert!(error.contains("server.influx_listen_addr") && error.contains(&addr.to_string()), "{error}");
    let error = start_refused(&write_config(dir.path(), "  graphite_listen_addr: localhost\n"));
    assert!(error.contains("server.graphite_listen_addr"), "{error}");
}

/// `dir/config.yaml` with the given listen addresses (data in `dir/data`).
fn config_on(dir: &Path, http: &str, grpc: &str, graphite: &str) -> std::path::PathBuf {
    write_config_at(dir, http, grpc, &format!("  graphite_listen_addr: {graphite}\n  cores: 2\n"), "")
}

/// glommio listens with SO_REUSEPORT, which would let a second server join a running one's
/// ports and take a share of its connections: the second is refused, naming the key, for
/// the HTTP, gRPC and Graphite ports alike. The first, stopped after closing a connection
/// and started again at once on the same fixed ports (HTTP's given as `localhost:port`),
/// starts: the TIME_WAIT its closed connection left does not count as a listener.
#[test]
fn a_second_server_on_a_running_servers_ports_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let other = tempfile::tempdir().expect("tempdir");
    let first = Server::start(&config_on(dir.path(), "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"));
    let [graphite] = listener_addrs(&first, "listening for Graphite plaintext", ["tcp"]);
    // A request with `Connection: close`: the server closes first, so its side of the
    // connection waits in TIME_WAIT on the HTTP port when it restarts below.
    let mut stream = TcpStream::connect(&first.http_addr).expect("connect");
    stream.write_all(b"GET /api/v1/labels HTTP/1.1\r\nHost: metricstor\r\nConnection: close\r\n\r\n").expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read to the server's close");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (http, grpc) = (first.http_addr.clone(), first.grpc_addr.clone());
    let any = "127.0.0.1:0";
    for (key, addrs) in [("server.http_addr", [&*http, any, any]), ("server.grpc_addr", [any, &*grpc, any]), ("server.graphite_listen_addr", [any, any, &*graphite])] {
        let error = start_refused(&config_on(other.path(), addrs[0], addrs[1], addrs[2]));
        assert!(error.contains(key) && error.contains("another process listens on"), "{key}: {error}");
    }
    // The refused servers took nothing: the first still answers, and counts no stranger's
    // data directory.
    let reply = reply_or_status("labels", agent().get(&first.url("/api/v1/labels")).call());
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(first.stop(), "clean shutdown");
    // The HTTP port named by host name this time, as Prometheus' flags allow.
    let port = http.rsplit_once(':').map(|(_, port)| port).expect("a port");
    let again = Server::start(&config_on(dir.path(), &format!("localhost:{port}"), &grpc, &graphite));
    assert_eq!((again.http_addr.as_str(), again.grpc_addr.as_str()), (http.as_str(), grpc.as_str()));
    let reply = reply_or_status("labels", agent().get(&again.url("/api/v1/labels")).call());
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(again.stop(), "clean shutdown");
}

/// SIGTERM while a Graphite connection is still open: the server still exits cleanly and in
/// time, the lines it had read are in the WAL (a restart reads them back), and a last line
/// without its newline is not stored (it may be a number cut short).
#[test]
fn an_open_connection_does_not_hold_up_shutdown_and_its_lines_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "  graphite_listen_addr: 127.0.0.1:0\n");
    let server = Server::start(&config);
    let [graphite] = listener_addrs(&server, "listening for Graphite plaintext", ["tcp"]);
    let t0 = base_ms();
    let s = t0 / 1000;
    let mut lines = String::new();
    for i in 0..1000 {
        lines.push_str(&format!("sd.m;i={i} {i} {s}\n"));
    }
    let mut socket = TcpStream::connect(&graphite).expect("connect");
    socket.write_all(lines.as_bytes()).expect("send the lines");
    let count_url = |server: &Server| server.url(&format!("/api/v1/query?query={}&time={}", encoded(r#"count({__name__="sd.m"})"#), s + 60));
    let count = |server: &Server| get_json(&count_url(server)).1["data"]["result"][0]["value"][1].as_str().unwrap_or("0").to_string();
    let deadline = Instant::now() + STORED_DEADLINE;
    while count(&server) != "1000" {
        assert!(Instant::now() < deadline, "the 1000 lines were not stored in time: {}", count(&server));
        std::thread::sleep(Duration::from_millis(50));
    }
    socket.write_all(format!("sd.partial 5 {s}").as_bytes()).expect("send a line without its newline");
    socket.flush().expect("flush");
    assert!(server.stop(), "the server exits cleanly with the connection still open");
    drop(socket);

    let server = Server::start(&config);
    assert_eq!(count(&server), "1000", "the lines read before the shutdown survive the restart");
    let (status, body) = get_json(&server.url(&format!("/api/v1/query?query={}&time={}", encoded(r#"{__name__="sd.partial"}"#), s + 60)));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["result"], json!([]), "a line cut by the shutdown is not stored");
    assert!(server.stop());
}

/// `server.max_connections_per_core` holds for the socket listeners, both protocols under
/// one cap per core (apart from HTTP's): with one connection allowed per core and one open
/// on each of the two cores, a third Graphite connection and an Influx one are closed unread
/// and counted; once a connection closes, a new one is served.
#[test]
fn socket_connections_past_the_per_core_cap_are_closed_unread_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), "  max_connections_per_core: 1\n  graphite_listen_addr: 127.0.0.1:0\n  influx_listen_addr: 127.0.0.1:0\n"));
    let [graphite] = listener_addrs(&server, "listening for Graphite plaintext", ["tcp"]);
    let [influx] = listener_addrs(&server, "listening for InfluxDB line protocol", ["tcp"]);
    let t0 = base_ms();
    let s = t0 / 1000;
    let at = t0 + 60_000;
    let get = |path: &str| get_json(&server.url(path));
    let stored = |name: &str| series_with(get, &format!(r#"{{__name__="{name}"}}"#), at).len();
    let wait_stored = |name: &str| {
        let deadline = Instant::now() + STORED_DEADLINE;
        while stored(name) == 0 {
            assert!(Instant::now() < deadline, "{name} was not stored in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let refused = |protocol: &str| {
        let metrics = agent().get(&server.url("/metrics")).call().expect("/metrics").into_string().expect("text");
        metric(&metrics, &format!("metricstor_socket_connections_refused_total{{protocol=\"{protocol}\",reason=\"over_limit\"}}"))
    };

    // One connection held open on each core (the balance gives the second to the idle core);
    // each has written a line, so each was served.
    let mut held = Vec::new();
    for name in ["cap.a", "cap.b"] {
        let mut socket = TcpStream::connect(&graphite).expect("connect");
        socket.write_all(format!("{name} 1 {s}\n").as_bytes()).expect("write");
        wait_stored(name);
        held.push(socket);
    }
    // Both cores are full: these are closed before a byte is read (so the client's own
    // writes and shutdown may fail; what counts is that nothing is stored).
    let send_to_full = |addr: &str, text: &str| {
        let mut socket = TcpStream::connect(addr).expect("connect");
        socket.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        let _ = socket.write_all(text.as_bytes());
        let _ = socket.shutdown(Shutdown::Write);
        let _ = socket.read_to_end(&mut Vec::new());
    };
    send_to_full(&graphite, &format!("cap.refused 1 {s}\n"));
    send_to_full(&influx, &format!("cap_refused v=1 {}\n", t0 * 1_000_000));
    assert_eq!((refused("graphite"), refused("influx")), (1, 1));
    assert_eq!((stored("cap.refused"), stored("cap_refused_v")), (0, 0));

    // One closes (the server sees it end); a new connection is then served. Until the server
    // has let go of the closed one, a new connection may still be refused: retried, bounded.
    drop(held.pop());
    let deadline = Instant::now() + STORED_DEADLINE;
    loop {
        let before = refused("graphite");
        send_to_full(&graphite, &format!("cap.later 1 {s}\n"));
        if refused("graphite") == before {
            break;
        }
        assert!(Instant::now() < deadline, "a new connection is still refused after one closed");
    }
    wait_stored("cap.later");
    drop(held);
    assert!(server.stop(), "clean shutdown");
}

/// `server.udp_receive_buffer_bytes` past the kernel's `net.core.rmem_max`: the server still
/// starts, and says at start what the kernel granted (the cap) and which key asked for more.
#[test]
fn a_udp_receive_buffer_past_the_kernel_cap_is_granted_the_cap_and_logged() {
    let rmem_max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max").expect("rmem_max").trim().parse().expect("a number");
    let asked = rmem_max + 4096;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), &format!("  graphite_listen_addr: 127.0.0.1:0\n  udp_receive_buffer_bytes: {asked}\n")));
    let [graphite] = listener_addrs(&server, "listening for Graphite plaintext", ["udp"]);
    let line = server.log_line("UDP receive buffers hold", LISTEN_DEADLINE).expect("the capped buffer is logged");
    assert!(line.contains(&format!("hold {rmem_max} bytes, not the {asked} of server.udp_receive_buffer_bytes")), "{line}");
    // Still served: a datagram is stored.
    let t0 = base_ms();
    UdpSocket::bind("127.0.0.1:0").expect("udp").send_to(format!("buf.g 1 {}\n", t0 / 1000).as_bytes(), &graphite).expect("send");
    assert_stored(|path: &str| get_json(&server.url(path)), r#"{__name__="buf.g"}"#, t0 + 60_000, vec![(json!({"__name__": "buf.g"}), vec![(t0, "1".into())])]);
    assert!(server.stop(), "clean shutdown");
}

/// An HTTP/1.1 request over a new connection to `addr`: (status, body).
fn http_over_tcp(addr: &str, request: &str) -> (u16, String) {
    let mut socket = TcpStream::connect(addr).expect("connect");
    socket.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    socket.write_all(request.as_bytes()).expect("send the request");
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line in {answer:?}"));
    (status, answer.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

/// `server.opentsdb_listen_addr`: `put` lines over TCP (one split across writes, a last one
/// without a newline, a bad one skipped) and UDP are stored with their tags, seconds and
/// milliseconds told apart; HTTP `/api/put` is served on the same TCP port (HTTP/1.1 and
/// h2c; other paths are 404 there) and on the HTTP port (`/opentsdb/api/put`, `/api/put`), where a bad data point
/// is a 400 that says the others were stored.
#[test]
fn opentsdb_put_lines_and_http_put_are_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), "  opentsdb_listen_addr: 127.0.0.1:0\n"));
    let [tcp, udp] = listener_addrs(&server, "listening for OpenTSDB", ["tcp", "udp"]);
    assert_eq!(tcp, udp, "UDP shares the TCP port");
    let t0 = base_ms();
    let s = t0 / 1000;
    let at = t0 + 60_000;
    let get = |path: &str| get_json(&server.url(path));

    send_tcp(
        &tcp,
        &[
            &format!("put tsdb.cpu {s} 1.5 host=a dc=eu\nput tsdb.cpu {} 2", s + 15),
            &format!(".5 dc=eu host=a\r\nput bad\n\nput tsdb.ms {} 3 host=b\n", t0 + 15_000),
            &format!("put tsdb.last {s} 4"),
        ],
    );
    assert_stored(
        get,
        r#"{__name__=~"tsdb[.].*"}"#,
        at,
        vec![
            (json!({"__name__": "tsdb.cpu", "dc": "eu", "host": "a"}), vec![(t0, "1.5".into()), (t0 + 15_000, "2.5".into())]),
            (json!({"__name__": "tsdb.last"}), vec![(t0, "4".into())]),
            (json!({"__name__": "tsdb.ms", "host": "b"}), vec![(t0 + 15_000, "3".into())]),
        ],
    );
    UdpSocket::bind("127.0.0.1:0").expect("udp").send_to(format!("put udp.tsdb {s} 5 k=v\nput udp.tsdb {} 6 k=v", s + 15).as_bytes(), &udp).expect("send");
    assert_stored(get, r#"{__name__="udp.tsdb"}"#, at, vec![(json!({"__name__": "udp.tsdb", "k": "v"}), vec![(t0, "5".into()), (t0 + 15_000, "6".into())])]);

    // tcollector's liveness check: `version` on the open connection gets a line back, and
    // the connection goes on taking puts.
    {
        let mut socket = TcpStream::connect(&tcp).expect("connect");
        socket.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        socket.write_all(format!("version\nput tsdb.alive {s} 1\n").as_bytes()).expect("write");
        let mut answer = [0u8; 256];
        let n = socket.read(&mut answer).expect("an answer to version");
        let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
        assert!(answer.starts_with("metricstor ") && answer.ends_with('\n'), "{answer:?}");
        socket.write_all(format!("put tsdb.alive {} 2\n", s + 15).as_bytes()).expect("write after version");
        socket.shutdown(Shutdown::Write).expect("shutdown");
        let _ = socket.read_to_end(&mut Vec::new());
    }
    assert_stored(get, r#"{__name__="tsdb.alive"}"#, at, vec![(json!({"__name__": "tsdb.alive"}), vec![(t0, "1".into()), (t0 + 15_000, "2".into())])]);

    // HTTP on the OpenTSDB port.
    let body = format!(r#"[{{"metric":"http.tsdb","timestamp":{s},"value":7,"tags":{{"via":"port"}}}}]"#);
    let put = format!("POST /api/put HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    assert_eq!(http_over_tcp(&tcp, &put).0, 204);
    let (status, answer) = http_over_tcp(&tcp, "GET /api/v1/query?query=up HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 404, "{answer}");
    assert!(answer.contains("/api/put"), "{answer}");
    // HTTP/2 with prior knowledge on that port too.
    let body = format!(r#"{{"metric":"http.tsdb","timestamp":{},"value":10,"tags":{{"via":"h2c"}}}}"#, s + 15);
    assert_eq!(h2_post(&tcp, "/api/put", body.into_bytes()).0, 204);
    // HTTP on the HTTP port, a single point and an array with a bad point.
    let reply = post_plain(&server.url("/opentsdb/api/put"), "application/json", format!(r#"{{"metric":"http.tsdb","timestamp":{},"value":"8","tags":{{"via":"main"}}}}"#, t0 + 15_000).as_bytes());
    assert_eq!(reply.status, 204, "{}", reply.body);
    let reply = post_plain(&server.url("/api/put"), "application/json", format!(r#"[{{"metric":"http.tsdb"}},{{"metric":"http.tsdb","timestamp":{s},"value":9,"tags":{{"via":"api"}}}}]"#).as_bytes());
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("1 bad data point skipped") && reply.body.contains("(1 samples)"), "{}", reply.body);
    assert_stored(
        get,
        r#"{__name__="http.tsdb"}"#,
        at,
        vec![
            (json!({"__name__": "http.tsdb", "via": "api"}), vec![(t0, "9".into())]),
            (json!({"__name__": "http.tsdb", "via": "h2c"}), vec![(t0 + 15_000, "10".into())]),
            (json!({"__name__": "http.tsdb", "via": "main"}), vec![(t0 + 15_000, "8".into())]),
            (json!({"__name__": "http.tsdb", "via": "port"}), vec![(t0, "7".into())]),
        ],
    );
    let metrics = agent().get(&server.url("/metrics")).call().expect("/metrics").into_string().expect("text");
    assert_eq!(metric(&metrics, "metricstor_socket_lines_skipped_total{protocol=\"opentsdb\",transport=\"tcp\"}"), 1, "the bad line:\n{metrics}");
    assert!(server.stop(), "clean shutdown");
}
