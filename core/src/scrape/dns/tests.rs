//! Tests of the DNS resolver: messages, lookups and the failures it names.

use super::*;
use super::wire::{name_text, read_name};
use std::io::{Read, Write};
use std::net::{SocketAddrV6, TcpListener, UdpSocket};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A pointer to the question's name (offset 12).
const AT_QUESTION: [u8; 2] = [0xC0, 0x0C];

fn wire(name: &str) -> Vec<u8> {
    encode_name(name).unwrap()
}

/// A resource record of class IN, TTL 300.
fn rr(owner: &[u8], rtype: u16, rdata: &[u8]) -> Vec<u8> {
    let mut out = owner.to_vec();
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&300u32.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
    out
}

fn srv_rdata(port: u16, target: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 10, 0, 5];
    out.extend_from_slice(&port.to_be_bytes());
    out.extend_from_slice(target);
    out
}

/// A message: header with these counts and flags, then `body` as is.
fn message(id: u16, flags: u16, counts: [u16; 4], body: &[u8]) -> Vec<u8> {
    let mut out = id.to_be_bytes().to_vec();
    out.extend_from_slice(&flags.to_be_bytes());
    for count in counts {
        out.extend_from_slice(&count.to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// The question section (name, type, class) of a query.
fn question_bytes(query: &[u8]) -> Vec<u8> {
    let (_, end) = read_name(query, 12).unwrap();
    query[12..end + 4].to_vec()
}

/// A reply to `query`: its ID and question, QR|RD|RA, `rcode`, TC when `truncated`, the
/// given answers.
fn reply(query: &[u8], rcode: u16, truncated: bool, answers: &[Vec<u8>]) -> Vec<u8> {
    let id = u16::from_be_bytes([query[0], query[1]]);
    let flags = FLAG_QR | FLAG_RD | 0x0080 | rcode | if truncated { FLAG_TC } else { 0 };
    let mut body = question_bytes(query);
    for answer in answers {
        body.extend_from_slice(answer);
    }
    message(id, flags, [1, answers.len() as u16, 0, 0], &body)
}

/// The question name of a query as text, and whether it has an OPT record.
fn asked(query: &[u8]) -> (String, bool) {
    parse_message(query).unwrap();
    (name_text(&read_name(query, 12).unwrap().0), u16::from_be_bytes([query[10], query[11]]) == 1)
}

type Answer = Arc<dyn Fn(&[u8], bool) -> Option<Vec<u8>> + Send + Sync>;

/// A DNS server on 127.0.0.1 (UDP, and TCP on the same port when `tcp`) answering with
/// `answer(query, over_tcp)` (None: no answer); it stops when dropped.
struct FakeServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl FakeServer {
    fn start(tcp: bool, answer: impl Fn(&[u8], bool) -> Option<Vec<u8>> + Send + Sync + 'static) -> FakeServer {
        let answer: Answer = Arc::new(answer);
        let (udp, listener) = (0..50)
            .find_map(|_| {
                let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
                if !tcp {
                    return Some((udp, None));
                }
                let listener = TcpListener::bind(udp.local_addr().unwrap()).ok()?;
                Some((udp, Some(listener)))
            })
            .unwrap();
        let addr = udp.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        udp.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let (udp_stop, udp_answer) = (stop.clone(), answer.clone());
        threads.push(std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while !udp_stop.load(Ordering::Relaxed) {
                if let Ok((n, from)) = udp.recv_from(&mut buffer) {
                    if let Some(out) = udp_answer(&buffer[..n], false) {
                        let _ = udp.send_to(&out, from);
                    }
                }
            }
        }));
        if let Some(listener) = listener {
            listener.set_nonblocking(true).unwrap();
            let tcp_stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                while !tcp_stop.load(Ordering::Relaxed) {
                    let Ok((mut stream, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    stream.set_nonblocking(false).unwrap();
                    stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                    let mut prefix = [0u8; 2];
                    if stream.read_exact(&mut prefix).is_err() {
                        continue;
                    }
                    let mut query = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
                    if stream.read_exact(&mut query).is_err() {
                        continue;
                    }
                    if let Some(out) = answer(&query, true) {
                        let mut framed = (out.len() as u16).to_be_bytes().to_vec();
                        framed.extend_from_slice(&out);
                        let _ = stream.write_all(&framed);
                    }
                }
            }));
        }
        FakeServer { addr, stop, threads }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn conf_for(servers: &[&FakeServer], search: &[&str]) -> ResolvConf {
    ResolvConf { servers: servers.iter().map(|s| s.addr).collect(), search: search.iter().map(|s| s.to_string()).collect(), ndots: 1, timeout: Duration::from_secs(2), attempts: 1 }
}

#[test]
fn record_types_parse_in_any_case() {
    assert_eq!(RecordType::parse("srv"), Some(RecordType::Srv));
    assert_eq!(RecordType::parse("A"), Some(RecordType::A));
    assert_eq!(RecordType::parse("aAaA"), Some(RecordType::Aaaa));
    assert_eq!(RecordType::parse("Mx"), Some(RecordType::Mx));
    assert_eq!(RecordType::parse("ns"), Some(RecordType::Ns));
    assert_eq!(RecordType::parse("TXT"), None);
    assert_eq!(RecordType::parse(""), None);
}

#[test]
fn resolv_conf_is_read_as_the_go_library_reads_it() {
    let conf = ResolvConf::parse("# generated\n; also a comment\nnameserver 10.0.0.1\nnameserver 2001:db8::53 # v6\nnameserver fe80::1%2\nnameserver dns.example\ndomain corp.example\nsearch a.example b.example ; trailing\noptions ndots:3 timeout:2 attempts:4 rotate\n");
    assert_eq!(conf.servers, vec!["10.0.0.1:53".parse::<SocketAddr>().unwrap(), "[2001:db8::53]:53".parse().unwrap(), SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 53, 0, 2))]);
    assert_eq!(conf.search, vec!["a.example", "b.example"]);
    assert_eq!((conf.ndots, conf.timeout, conf.attempts), (3, Duration::from_secs(2), 4));

    // Beyond glibc: a nameserver with a port.
    let conf = ResolvConf::parse("nameserver 127.0.0.1:5353\nnameserver [::1]:5354\n");
    assert_eq!(conf.servers, vec!["127.0.0.1:5353".parse::<SocketAddr>().unwrap(), "[::1]:5354".parse().unwrap()]);

    let defaults = ResolvConf::parse("");
    assert!(defaults.servers.is_empty() && defaults.search.is_empty());
    assert_eq!((defaults.ndots, defaults.timeout, defaults.attempts), (1, Duration::from_secs(5), 2));

    // `domain` sets the search list when it comes last; bad or out-of-range numbers clamp.
    let conf = ResolvConf::parse("search x.example\ndomain corp.example\noptions ndots:99 timeout:0 attempts:junk\n");
    assert_eq!(conf.search, vec!["corp.example"]);
    assert_eq!((conf.ndots, conf.timeout, conf.attempts), (15, Duration::from_secs(1), 1));
    let conf = ResolvConf::parse("domain corp.example\noptions ndots:-2 timeout:1000 attempts:9\n");
    assert_eq!(conf.search, vec!["corp.example"]);
    assert_eq!((conf.ndots, conf.timeout, conf.attempts), (0, Duration::from_secs(30), 5));
}

#[test]
fn names_to_try_follow_ndots_and_the_search_list() {
    let mut conf = ResolvConf::parse("search a.example b.example.\noptions ndots:2\n");
    assert_eq!(conf.names_to_try("web.svc.example."), vec!["web.svc.example."]);
    assert_eq!(conf.names_to_try("web"), vec!["web.a.example.", "web.b.example.", "web."]);
    assert_eq!(conf.names_to_try("web.svc"), vec!["web.svc.a.example.", "web.svc.b.example.", "web.svc."]);
    assert_eq!(conf.names_to_try("x.web.svc"), vec!["x.web.svc.", "x.web.svc.a.example.", "x.web.svc.b.example."]);
    conf.ndots = 1;
    assert_eq!(conf.names_to_try("web.svc"), vec!["web.svc.", "web.svc.a.example.", "web.svc.b.example."]);
    assert_eq!(conf.names_to_try("web\\.svc"), vec!["web\\.svc.a.example.", "web\\.svc.b.example.", "web\\.svc."]);
    conf.search.clear();
    assert_eq!(conf.names_to_try("web"), vec!["web."]);
}

#[test]
fn queries_are_encoded_with_edns() {
    let query = encode_query(0xBEEF, &wire("_prom._tcp.example.com."), RecordType::Srv, true);
    let mut expected = vec![0xBE, 0xEF, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    expected.extend_from_slice(b"\x05_prom\x04_tcp\x07example\x03com\x00");
    expected.extend_from_slice(&[0, 33, 0, 1]);
    expected.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0]);
    assert_eq!(query, expected);
    let plain = encode_query(1, &wire("a.b"), RecordType::Aaaa, false);
    assert_eq!(plain, [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 1, b'b', 0, 0, 28, 0, 1]);
    assert_eq!(wire("."), [0]);
    assert_eq!(wire("a\\.b\\032c."), b"\x05a.b c\x00");
    assert!(encode_name("a..b").is_err());
    assert!(encode_name(&"x".repeat(64)).is_err());
    assert!(encode_name(&vec!["y".repeat(63); 4].join(".")).is_err());
    assert!(encode_name("a\\999").is_err());
}

/// An SRV answer for _prom._tcp.example.com. with two targets, names compressed against
/// the question and each other, and an OPT record.
fn srv_response() -> Vec<u8> {
    let mut body = wire("_prom._tcp.example.com.");
    body.extend_from_slice(&[0, 33, 0, 1]);
    // First target: node1 + pointer to "example.com." (offset 12 + 1+5 + 1+4 = 23).
    let first = rr(&AT_QUESTION, TYPE_SRV, &srv_rdata(9100, &[b"\x05node1".as_slice(), &[0xC0, 23]].concat()));
    let first_target_at = 12 + body.len() + 2 + 10 + 6;
    body.extend_from_slice(&first);
    // Second target: node2 + pointer to the first target's "example.com." part.
    let second = rr(&AT_QUESTION, TYPE_SRV, &srv_rdata(9200, &[b"\x05node2".as_slice(), &[0xC0, (first_target_at + 6) as u8]].concat()));
    body.extend_from_slice(&second);
    body.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0]);
    message(7, FLAG_QR | FLAG_RD | 0x0080, [1, 2, 0, 1], &body)
}

#[test]
fn srv_answers_with_compression_are_decoded() {
    let parsed = parse_message(&srv_response()).unwrap();
    assert_eq!(parsed.rcode, RCODE_NOERROR);
    assert_eq!(check_reply(&srv_response(), 7, &wire("_prom._tcp.EXAMPLE.com."), RecordType::Srv), Ok(FLAG_QR | FLAG_RD | 0x0080));
    assert!(check_reply(&srv_response(), 8, &wire("_prom._tcp.example.com."), RecordType::Srv).is_err());
    assert!(check_reply(&srv_response(), 7, &wire("_prom._tcp.example.org."), RecordType::Srv).is_err());
    assert!(check_reply(&srv_response(), 7, &wire("_prom._tcp.example.com."), RecordType::A).is_err());
    assert_eq!(parsed.answers, vec![Record::Srv { target: "node1.example.com.".to_string(), port: 9100 }, Record::Srv { target: "node2.example.com.".to_string(), port: 9200 }]);
}

#[test]
fn a_aaaa_mx_and_ns_are_decoded_and_cnames_skipped() {
    let mut body = wire("www.example.com.");
    body.extend_from_slice(&[0, 1, 0, 1]);
    let cname = rr(&AT_QUESTION, 5, &wire("real.example.com."));
    let a = rr(&wire("real.example.com."), TYPE_A, &[192, 0, 2, 7]);
    let aaaa = rr(&AT_QUESTION, TYPE_AAAA, &"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
    let mx = rr(&AT_QUESTION, TYPE_MX, &[&[0u8, 10][..], b"\x04mail", &AT_QUESTION].concat());
    let ns = rr(&AT_QUESTION, TYPE_NS, &wire("ns1.example.net."));
    let txt = rr(&AT_QUESTION, 16, b"\x05hello");
    for record in [&cname, &a, &aaaa, &mx, &ns, &txt] {
        body.extend_from_slice(record);
    }
    let parsed = parse_message(&message(1, FLAG_QR, [1, 6, 0, 0], &body)).unwrap();
    assert_eq!(
        parsed.answers,
        vec![
            Record::A(Ipv4Addr::new(192, 0, 2, 7)),
            Record::Aaaa("2001:db8::7".parse().unwrap()),
            Record::Mx { target: "mail.www.example.com.".to_string() },
            Record::Ns { target: "ns1.example.net.".to_string() },
        ]
    );
    // NXDOMAIN with the extended rcode bits of an OPT record.
    let nx = message(1, FLAG_QR | RCODE_NXDOMAIN, [0, 0, 0, 0], &[]);
    assert_eq!(parse_message(&nx).unwrap().rcode, RCODE_NXDOMAIN);
    let badvers = message(1, FLAG_QR, [0, 0, 0, 1], &[0, 0, 41, 0x10, 0, 1, 0, 0, 0, 0, 0]);
    assert_eq!(parse_message(&badvers).unwrap().rcode, 16);
    // A records whose data length is wrong are refused.
    assert!(parse_message(&message(1, FLAG_QR, [0, 1, 0, 0], &rr(&[0], TYPE_A, &[1, 2, 3]))).is_err());
    assert!(parse_message(&message(1, FLAG_QR, [0, 1, 0, 0], &rr(&[0], TYPE_NS, &[0, 0]))).is_err());
}

#[test]
fn odd_label_bytes_are_escaped() {
    let target = [b"\x07a.b c\x01\xff".as_slice(), b"\x03x\"y\x00"].concat();
    let body = rr(&[0], TYPE_NS, &target);
    let parsed = parse_message(&message(1, FLAG_QR, [0, 1, 0, 0], &body)).unwrap();
    assert_eq!(parsed.answers, vec![Record::Ns { target: "a\\.b\\ c\\001\\255.x\\\"y.".to_string() }]);
    assert_eq!(name_text(&[0]), ".");
    // The escaped text encodes back to the same name.
    assert_eq!(wire("a\\.b\\ c\\001\\255.x\\\"y."), target);
}

#[test]
fn pointer_loops_and_forward_pointers_are_refused() {
    // A pointer to itself, and two pointers to each other.
    let self_loop = rr(&[0xC0, 12], TYPE_A, &[1, 2, 3, 4]);
    assert!(parse_message(&message(1, FLAG_QR, [0, 1, 0, 0], &self_loop)).is_err());
    let mutual = [&[0xC0u8, 14][..], &[0xC0, 12], &[0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4]].concat();
    assert!(parse_message(&message(1, FLAG_QR, [0, 1, 0, 0], &mutual)).is_err());
    // A label then a pointer back into that label run.
    let into_itself = [&b"\x01a"[..], &[0xC0, 12], &[0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4]].concat();
    assert!(parse_message(&message(1, FLAG_QR, [0, 1, 0, 0], &into_itself)).is_err());
    // A pointer forwards to a well-formed name.
    let forward = [&[0xC0u8, 26][..], &[0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4], b"\x01a\x00"].concat();
    assert!(parse_message(&message(1, FLAG_QR, [0, 1, 0, 0], &forward)).is_err());
    // Reserved label types.
    assert!(read_name(&[0x40, 0], 0).is_err());
    assert!(read_name(&[0x80, 0], 0).is_err());
    // A chain of backward pointers is fine.
    let chain = [&b"\x01a\x00"[..], &[0xC0, 0], &[0xC0, 3]].concat();
    assert_eq!(read_name(&chain, 5).unwrap(), (b"\x01a\x00".to_vec(), 7));
}

#[test]
fn every_truncation_of_a_valid_answer_is_refused() {
    let full = srv_response();
    assert!(parse_message(&full).is_ok());
    for len in 0..full.len() {
        assert!(parse_message(&full[..len]).is_err(), "prefix of {len} bytes parsed");
    }
}

#[test]
fn over_long_names_are_refused() {
    let label = [&[63u8][..], &[b'x'; 63]].concat();
    // Four 63-byte labels: 256 bytes with the root.
    let long = [label.repeat(4), vec![0]].concat();
    let body = [&long[..], &[0, 1, 0, 1]].concat();
    assert!(parse_message(&message(1, FLAG_QR, [1, 0, 0, 0], &body)).is_err());
    // 255 bytes exactly is fine: three 63-byte labels and one of 61.
    let fits = [label.repeat(3), vec![61], vec![b'y'; 61], vec![0]].concat();
    assert_eq!(fits.len(), 255);
    let body = [&fits[..], &[0, 1, 0, 1]].concat();
    assert!(parse_message(&message(1, FLAG_QR, [1, 0, 0, 0], &body)).is_ok());
    // Over-long through pointers: a 192-byte name reused with three more labels before it.
    let mut msg = vec![0u8; 12];
    msg.extend_from_slice(&[label.repeat(3), vec![0]].concat());
    msg.extend_from_slice(&[&label[..], &[0xC0, 12]].concat());
    assert!(read_name(&msg, 12 + 193).is_err());
}

#[test]
fn mangled_answers_never_panic() {
    let full = srv_response();
    for at in 0..full.len() {
        for value in [0u8, 1, 0x3F, 0x40, 0xC0, 0xFF] {
            let mut mangled = full.clone();
            mangled[at] = value;
            let _ = parse_message(&mangled);
            let _ = check_reply(&mangled, 7, &wire("_prom._tcp.example.com."), RecordType::Srv);
        }
    }
    let mut state = 0x2545F4914F6CDD1Du64;
    for _ in 0..2000 {
        let len = (state % 300) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        let _ = parse_message(&bytes);
    }
}

#[test]
fn lookup_gets_srv_records() {
    let queries = Arc::new(Mutex::new(Vec::new()));
    let seen = queries.clone();
    let server = FakeServer::start(false, move |query, _| {
        seen.lock().unwrap().push(asked(query));
        let target = [b"\x05node1".as_slice(), &AT_QUESTION].concat();
        Some(reply(query, RCODE_NOERROR, false, &[rr(&AT_QUESTION, TYPE_SRV, &srv_rdata(9100, &target))]))
    });
    let records = lookup(&conf_for(&[&server], &[]), "_prom._tcp.example.com", RecordType::Srv).unwrap();
    assert_eq!(records, vec![Record::Srv { target: "node1._prom._tcp.example.com.".to_string(), port: 9100 }]);
    assert_eq!(*queries.lock().unwrap(), vec![("_prom._tcp.example.com.".to_string(), true)]);
}

#[test]
fn lookup_walks_the_search_list_past_nxdomain() {
    let queries = Arc::new(Mutex::new(Vec::new()));
    let seen = queries.clone();
    let server = FakeServer::start(false, move |query, _| {
        let (name, _) = asked(query);
        seen.lock().unwrap().push(name.clone());
        if name == "web.b.example." {
            Some(reply(query, RCODE_NOERROR, false, &[rr(&AT_QUESTION, TYPE_A, &[10, 0, 0, 9])]))
        } else {
            Some(reply(query, RCODE_NXDOMAIN, false, &[]))
        }
    });
    let conf = conf_for(&[&server], &["a.example", "b.example"]);
    assert_eq!(lookup(&conf, "web", RecordType::A).unwrap(), vec![Record::A(Ipv4Addr::new(10, 0, 0, 9))]);
    assert_eq!(*queries.lock().unwrap(), vec!["web.a.example.", "web.b.example."]);
    // Every name NXDOMAIN: no records and no error.
    queries.lock().unwrap().clear();
    assert_eq!(lookup(&conf, "db", RecordType::A).unwrap(), vec![]);
    assert_eq!(*queries.lock().unwrap(), vec!["db.a.example.", "db.b.example.", "db."]);
}

#[test]
fn lookup_moves_to_the_next_server_on_servfail() {
    let failing = FakeServer::start(false, |query, _| Some(reply(query, 2, false, &[])));
    let good = FakeServer::start(false, |query, _| Some(reply(query, RCODE_NOERROR, false, &[rr(&AT_QUESTION, TYPE_AAAA, &Ipv6Addr::LOCALHOST.octets())])));
    let records = lookup(&conf_for(&[&failing, &good], &[]), "v6.example.", RecordType::Aaaa).unwrap();
    assert_eq!(records, vec![Record::Aaaa(Ipv6Addr::LOCALHOST)]);
    // Only failing servers: an error naming the name.
    let error = lookup(&conf_for(&[&failing], &[]), "v6.example.", RecordType::Aaaa).unwrap_err();
    assert!(error.starts_with("could not resolve \"v6.example.\""), "{error}");
    assert!(error.contains("SERVFAIL"), "{error}");
    // One name failing everywhere and the others NXDOMAIN is an error too.
    let picky = FakeServer::start(false, |query, _| {
        let (name, _) = asked(query);
        Some(reply(query, if name == "x.a.example." { 5 } else { RCODE_NXDOMAIN }, false, &[]))
    });
    assert!(lookup(&conf_for(&[&picky], &["a.example"]), "x", RecordType::A).is_err());
}

#[test]
fn lookup_retries_a_truncated_answer_over_tcp() {
    let queries = Arc::new(Mutex::new(Vec::new()));
    let seen = queries.clone();
    let server = FakeServer::start(true, move |query, over_tcp| {
        let (_, edns) = asked(query);
        seen.lock().unwrap().push((over_tcp, edns));
        if over_tcp {
            let answers: Vec<Vec<u8>> = (1..=3).map(|i| rr(&AT_QUESTION, TYPE_A, &[10, 0, 0, i])).collect();
            Some(reply(query, RCODE_NOERROR, false, &answers))
        } else {
            Some(reply(query, RCODE_NOERROR, true, &[]))
        }
    });
    let records = lookup(&conf_for(&[&server], &[]), "many.example.", RecordType::A).unwrap();
    assert_eq!(records, (1..=3).map(|i| Record::A(Ipv4Addr::new(10, 0, 0, i))).collect::<Vec<_>>());
    assert_eq!(*queries.lock().unwrap(), vec![(false, true), (true, false)]);
}

#[test]
fn lookup_ignores_replies_to_other_queries() {
    let server = FakeServer::start(false, |query, _| {
        let mut stale = reply(query, RCODE_NOERROR, false, &[rr(&AT_QUESTION, TYPE_A, &[6, 6, 6, 6])]);
        stale[0] ^= 0xFF;
        Some(stale)
    });
    let conf = ResolvConf { timeout: Duration::from_millis(200), ..conf_for(&[&server], &[]) };
    assert!(lookup(&conf, "spoofed.example.", RecordType::A).is_err());
}

#[test]
fn lookup_fails_when_no_server_answers() {
    let silent = FakeServer::start(false, |_, _| None);
    let conf = ResolvConf { timeout: Duration::from_millis(200), attempts: 1, ..conf_for(&[&silent], &[]) };
    let started = Instant::now();
    let error = lookup(&conf, "quiet.example.", RecordType::Srv).unwrap_err();
    assert!(error.starts_with("could not resolve \"quiet.example.\""), "{error}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // No nameserver at all fails too.
    assert!(lookup(&ResolvConf::parse(""), "x.example.", RecordType::A).is_err());
}
