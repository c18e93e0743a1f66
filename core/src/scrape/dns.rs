//! A blocking DNS stub resolver for `dns_sd_configs`, answering as Prometheus' DNS service
//! discovery does: the name is tried with the search list of `/etc/resolv.conf` (read as the
//! Go resolver library Prometheus uses reads it), each candidate asked of every nameserver in
//! turn over UDP with EDNS0 (4096-byte payload), a truncated answer asked again over TCP.
//! A candidate that gets NOERROR gives the records; if every candidate got NXDOMAIN the
//! answer is empty; if some candidate got no usable answer from any server, the lookup fails
//! (so the caller keeps the targets it had).
//!
//! Answers are parsed defensively: every read is bounds-checked, compression pointers must
//! point before the part of the name that holds them (so they cannot loop), names are at most
//! 255 bytes on the wire, and record data must fill its length exactly. Label bytes that are
//! not plain printable text are escaped as the Go library escapes them (`\.`, `\"`, ... for
//! special characters, `\DDD` for bytes outside printable ASCII), so a target name is the
//! text Prometheus would put in its `__meta_dns_*` labels.
//!
//! Unlike Prometheus (whose Go client waits 2 s once per server), each server is given
//! resolv.conf's `attempts` UDP tries of `timeout` each, and a server that answers one name
//! truncated is asked over TCP for that name only (Prometheus' client stays on TCP for the
//! servers after it).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The file `ResolvConf::from_system` reads (and `scrape.resolv_conf`'s default).
pub const SYSTEM_RESOLV_CONF: &str = "/etc/resolv.conf";
/// The port nameservers are asked on unless a `nameserver` line names one (an extension:
/// glibc's resolv.conf has no way to name another).
const DNS_PORT: u16 = 53;
/// The UDP payload size advertised in the EDNS0 OPT record (the Go library's default).
const EDNS_PAYLOAD: u16 = 4096;
/// The longest name on the wire, length bytes and the root's zero included.
const NAME_WIRE_MAX: usize = 255;
/// The longest label.
const LABEL_MAX: usize = 63;
/// Compression pointers followed in one name at most (the backwards rule already bounds them).
const POINTER_HOPS_MAX: usize = 128;
/// Caps on resolv.conf's `timeout:` and `attempts:` (glibc's own caps).
const TIMEOUT_MAX_SECS: u64 = 30;
const ATTEMPTS_MAX: usize = 5;

const TYPE_A: u16 = 1;
const TYPE_NS: u16 = 2;
const TYPE_MX: u16 = 15;
const TYPE_AAAA: u16 = 28;
const TYPE_SRV: u16 = 33;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;

const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const OPCODE_MASK: u16 = 0x7800;

const RCODE_NOERROR: u16 = 0;
const RCODE_NXDOMAIN: u16 = 3;

/// DNS record types dns_sd_configs can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    Srv,
    A,
    Aaaa,
    Mx,
    Ns,
}

impl RecordType {
    /// The type a dns_sd_config's `type` names ("SRV", "A", "AAAA", "MX" or "NS", in any
    /// case, as Prometheus upper-cases it); None for anything else.
    pub fn parse(text: &str) -> Option<RecordType> {
        match text.to_ascii_uppercase().as_str() {
            "SRV" => Some(RecordType::Srv),
            "A" => Some(RecordType::A),
            "AAAA" => Some(RecordType::Aaaa),
            "MX" => Some(RecordType::Mx),
            "NS" => Some(RecordType::Ns),
            _ => None,
        }
    }

    /// The type's number in a question.
    fn code(self) -> u16 {
        match self {
            RecordType::Srv => TYPE_SRV,
            RecordType::A => TYPE_A,
            RecordType::Aaaa => TYPE_AAAA,
            RecordType::Mx => TYPE_MX,
            RecordType::Ns => TYPE_NS,
        }
    }
}

/// One answer record (CNAMEs and other types in the answer section are skipped). Target
/// names are dotted text with the trailing root dot ("node1.example.com."), escaped as
/// described in the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Srv { target: String, port: u16 },
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Mx { target: String },
    Ns { target: String },
}

/// resolv.conf's settings.
#[derive(Debug, Clone)]
pub struct ResolvConf {
    /// The `nameserver` lines that are IP addresses, on port 53, in order.
    pub servers: Vec<SocketAddr>,
    /// The search list: the last `search` line, or the last `domain` line's domain.
    pub search: Vec<String>,
    /// `options ndots:N` (1 by default, 0 to 15): names with at least this many dots are
    /// tried as they are before the search list.
    pub ndots: usize,
    /// `options timeout:N` (5 s by default, 1 to 30 s): how long one UDP attempt waits.
    pub timeout: Duration,
    /// `options attempts:N` (2 by default, 1 to 5): UDP attempts per server and name.
    pub attempts: usize,
}

impl ResolvConf {
    /// Reads resolv.conf's text: `nameserver`, `search`, `domain` and `options` lines
    /// (`ndots:`, `timeout:`, `attempts:`; others ignored), anything after `#` or `;` being a
    /// comment. As in the Go library, the last of `search` and `domain` sets the search list,
    /// an unparsable option number counts as 0 before clamping, and there is no default
    /// nameserver. Nameservers that are not IP addresses (or have a named IPv6 zone) are
    /// skipped.
    pub fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf { servers: Vec::new(), search: Vec::new(), ndots: 1, timeout: Duration::from_secs(5), attempts: 2 };
        for line in text.lines() {
            let line = match line.find(['#', ';']) {
                Some(at) => &line[..at],
                None => line,
            };
            let mut fields = line.split_whitespace();
            let Some(keyword) = fields.next() else { continue };
            match keyword {
                "nameserver" => {
                    if let Some(server) = fields.next().and_then(parse_nameserver) {
                        conf.servers.push(server);
                    }
                }
                "domain" => conf.search = fields.next().map(|domain| vec![domain.to_string()]).unwrap_or_default(),
                "search" => conf.search = fields.map(str::to_string).collect(),
                "options" => {
                    for option in fields {
                        let number = |text: &str| text.parse::<i64>().unwrap_or(0);
                        if let Some(n) = option.strip_prefix("ndots:") {
                            conf.ndots = number(n).clamp(0, 15) as usize;
                        } else if let Some(n) = option.strip_prefix("timeout:") {
                            conf.timeout = Duration::from_secs(number(n).clamp(1, TIMEOUT_MAX_SECS as i64) as u64);
                        } else if let Some(n) = option.strip_prefix("attempts:") {
                            conf.attempts = number(n).clamp(1, ATTEMPTS_MAX as i64) as usize;
                        }
                    }
                }
                _ => {}
            }
        }
        conf
    }

    /// Reads `/etc/resolv.conf`.
    pub fn from_system() -> Result<ResolvConf, String> {
        let text = std::fs::read_to_string(SYSTEM_RESOLV_CONF).map_err(|error| format!("could not load resolv.conf {SYSTEM_RESOLV_CONF}: {error}"))?;
        Ok(ResolvConf::parse(&text))
    }

    /// The fully qualified names to ask for `name`, in order: a name ending in '.' alone;
    /// otherwise, with at least `ndots` dots, the name itself and then the name under each
    /// search domain; with fewer dots, the search domains first and the name itself last.
    pub fn names_to_try(&self, name: &str) -> Vec<String> {
        if is_fqdn(name) {
            return vec![name.to_string()];
        }
        let enough_dots = count_labels(name) > self.ndots;
        let absolute = format!("{name}.");
        let mut names = Vec::with_capacity(self.search.len() + 1);
        if enough_dots {
            names.push(absolute.clone());
        }
        for domain in &self.search {
            names.push(fqdn(&format!("{absolute}{domain}")));
        }
        if !enough_dots {
            names.push(absolute);
        }
        names
    }
}

/// A `nameserver` address: an IPv4 or IPv6 address, the latter maybe with a numeric zone;
/// or, beyond glibc, one with a port (`127.0.0.1:5353`, `[::1]:5353`: a local resolver or a
/// test's server on another port).
fn parse_nameserver(text: &str) -> Option<SocketAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, DNS_PORT));
    }
    if let Ok(with_port) = text.parse::<SocketAddr>() {
        return Some(with_port);
    }
    let (ip, zone) = text.split_once('%')?;
    let ip: Ipv6Addr = ip.parse().ok()?;
    let scope: u32 = zone.parse().ok()?;
    Some(SocketAddr::V6(SocketAddrV6::new(ip, DNS_PORT, 0, scope)))
}

/// Whether `name` ends in a '.' that is not escaped.
fn is_fqdn(name: &str) -> bool {
    let Some(rest) = name.strip_suffix('.') else { return false };
    rest.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 0
}

/// `name` with a trailing '.' unless it has one.
fn fqdn(name: &str) -> String {
    if is_fqdn(name) { name.to_string() } else { format!("{name}.") }
}

/// How many labels `name` (not fully qualified) has: its unescaped dots plus one.
fn count_labels(name: &str) -> usize {
    if name.is_empty() || name == "." {
        return 0;
    }
    let mut labels = 1;
    let mut escaped = false;
    let bytes = name.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'.' && i + 1 < bytes.len() {
            labels += 1;
        }
    }
    labels
}

/// Looks `name` up as Prometheus' DNS service discovery does (see the module documentation):
/// the records of the first candidate name that gets NOERROR (maybe none), no records when
/// every candidate got NXDOMAIN, and an error when some candidate got no usable answer from
/// any server and none got NOERROR.
pub fn lookup(conf: &ResolvConf, name: &str, kind: RecordType) -> Result<Vec<Record>, String> {
    let mut failure: Option<String> = None;
    for candidate in conf.names_to_try(name) {
        match lookup_from_any_server(conf, &candidate, kind) {
            Ok(answer) if answer.rcode == RCODE_NOERROR => return Ok(answer.answers),
            Ok(_) => {}
            Err(error) => failure = Some(error),
        }
    }
    match failure {
        None => Ok(Vec::new()),
        Some(error) => Err(format!("could not resolve {name:?}: all servers responded with errors to at least one search domain (last: {error})")),
    }
}

/// Asks each server in turn for `name` until one answers NOERROR or NXDOMAIN.
fn lookup_from_any_server(conf: &ResolvConf, name: &str, kind: RecordType) -> Result<Message, String> {
    let qname = encode_name(name)?;
    let mut last = String::from("no nameserver configured");
    for &server in &conf.servers {
        match ask_server(conf, server, &qname, kind) {
            Ok(answer) if answer.rcode == RCODE_NOERROR || answer.rcode == RCODE_NXDOMAIN => return Ok(answer),
            Ok(answer) => last = format!("{server} answered {}", rcode_name(answer.rcode)),
            Err(error) => last = format!("{server}: {error}"),
        }
        tracing::debug!(%server, name, error = %last, "DNS resolution failed");
    }
    Err(format!("no server gave a usable answer for {name}: {last}"))
}

/// An rcode's name for error messages.
fn rcode_name(rcode: u16) -> String {
    match rcode {
        1 => "FORMERR".to_string(),
        2 => "SERVFAIL".to_string(),
        4 => "NOTIMP".to_string(),
        5 => "REFUSED".to_string(),
        other => format!("rcode {other}"),
    }
}

/// One server's answer for `qname`: over UDP with EDNS0, again over TCP without it when the
/// UDP answer is truncated.
fn ask_server(conf: &ResolvConf, server: SocketAddr, qname: &[u8], kind: RecordType) -> Result<Message, String> {
    let id = random_id();
    let query = encode_query(id, qname, kind, true);
    let reply = exchange_udp(server, &query, conf.timeout, conf.attempts)?;
    let head = check_reply(&reply, id, qname, kind)?;
    if head & FLAG_TC == 0 {
        return parse_message(&reply);
    }
    let id = random_id();
    let query = encode_query(id, qname, kind, false);
    let reply = exchange_tcp(server, &query, conf.timeout)?;
    let head = check_reply(&reply, id, qname, kind)?;
    if head & FLAG_TC != 0 {
        return Err("truncated answer over TCP".to_string());
    }
    parse_message(&reply)
}

/// A query ID: hashed with std's randomly keyed hasher from the time and a counter.
fn random_id() -> u16 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish() as u16
}

/// Whether `reply` answers the query `id` at all (its ID, and it is a response).
fn is_reply_to(reply: &[u8], id: u16) -> bool {
    match reply.get(..4) {
        Some(&[hi, lo, flags_hi, flags_lo]) => u16::from_be_bytes([hi, lo]) == id && u16::from_be_bytes([flags_hi, flags_lo]) & FLAG_QR != 0,
        _ => false,
    }
}

/// Checks a reply to query `id` asks our question (an error answer may leave the question
/// out) and is a standard query's response; gives its flags.
fn check_reply(reply: &[u8], id: u16, qname: &[u8], kind: RecordType) -> Result<u16, String> {
    let mut reader = Reader { msg: reply, pos: 0 };
    let header = Header::read(&mut reader)?;
    if header.id != id || header.flags & FLAG_QR == 0 {
        return Err("answer to another query".to_string());
    }
    if header.flags & OPCODE_MASK != 0 {
        return Err("answer with a non-zero opcode".to_string());
    }
    match header.qdcount {
        0 => {
            let rcode = header.flags & 0xF;
            if rcode == RCODE_NOERROR || rcode == RCODE_NXDOMAIN {
                return Err("answer without the question".to_string());
            }
        }
        1 => {
            let (name, qtype, qclass) = read_question(&mut reader)?;
            if !name.eq_ignore_ascii_case(qname) || qtype != kind.code() || qclass != CLASS_IN {
                return Err("answer to another question".to_string());
            }
        }
        n => return Err(format!("answer with {n} questions")),
    }
    Ok(header.flags)
}

/// Sends `query` to `server` over UDP up to `attempts` times, each waiting `timeout` for a
/// reply with the query's ID (others are ignored, as late answers to earlier queries).
fn exchange_udp(server: SocketAddr, query: &[u8], timeout: Duration, attempts: usize) -> Result<Vec<u8>, String> {
    let id = u16::from_be_bytes([query.first().copied().unwrap_or(0), query.get(1).copied().unwrap_or(0)]);
    let local: SocketAddr = if server.is_ipv4() { (Ipv4Addr::UNSPECIFIED, 0).into() } else { (Ipv6Addr::UNSPECIFIED, 0).into() };
    let socket = UdpSocket::bind(local).map_err(|error| format!("UDP socket: {error}"))?;
    socket.connect(server).map_err(|error| format!("UDP connect: {error}"))?;
    let mut buffer = vec![0u8; 65535];
    for _ in 0..attempts.max(1) {
        socket.send(query).map_err(|error| format!("UDP send: {error}"))?;
        let deadline = Instant::now().checked_add(timeout).ok_or("timeout too long")?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            socket.set_read_timeout(Some(left)).map_err(|error| format!("UDP socket: {error}"))?;
            match socket.recv(&mut buffer) {
                Ok(n) => {
                    let reply = buffer.get(..n).unwrap_or_default();
                    if is_reply_to(reply, id) {
                        return Ok(reply.to_vec());
                    }
                }
                Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(error) => return Err(format!("UDP receive: {error}")),
            }
        }
    }
    Err(format!("no answer over UDP in {} attempt(s) of {:?}", attempts.max(1), timeout))
}

/// Sends `query` to `server` over TCP (2-byte length prefix) and reads one reply, all within
/// `timeout`.
fn exchange_tcp(server: SocketAddr, query: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
    let deadline = Instant::now().checked_add(timeout).ok_or("timeout too long")?;
    let mut stream = TcpStream::connect_timeout(&server, timeout).map_err(|error| format!("TCP connect: {error}"))?;
    let length = u16::try_from(query.len()).map_err(|_| "query too long")?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(query);
    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    stream.set_write_timeout(Some(left)).map_err(|error| format!("TCP socket: {error}"))?;
    stream.write_all(&framed).map_err(|error| format!("TCP send: {error}"))?;
    let mut prefix = [0u8; 2];
    read_full(&mut stream, &mut prefix, deadline)?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    read_full(&mut stream, &mut reply, deadline)?;
    Ok(reply)
}

/// Fills `buffer` from `stream` before `deadline`.
fn read_full(stream: &mut TcpStream, buffer: &mut [u8], deadline: Instant) -> Result<(), String> {
    let mut filled = 0;
    while filled < buffer.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("TCP answer timed out".to_string());
        }
        stream.set_read_timeout(Some(left)).map_err(|error| format!("TCP socket: {error}"))?;
        let rest = buffer.get_mut(filled..).unwrap_or_default();
        match stream.read(rest) {
            Ok(0) => return Err("TCP connection closed mid-answer".to_string()),
            Ok(n) => filled += n,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(error) => return Err(format!("TCP receive: {error}")),
        }
    }
    Ok(())
}

/// A query for `qname` (wire form) of type `kind`, recursion desired, with an EDNS0 OPT
/// record advertising a 4096-byte payload when `edns`.
fn encode_query(id: u16, qname: &[u8], kind: RecordType, edns: bool) -> Vec<u8> {
    let mut query = Vec::with_capacity(12 + qname.len() + 4 + 11);
    query.extend_from_slice(&id.to_be_bytes());
    query.extend_from_slice(&FLAG_RD.to_be_bytes());
    for count in [1u16, 0, 0, u16::from(edns)] {
        query.extend_from_slice(&count.to_be_bytes());
    }
    query.extend_from_slice(qname);
    query.extend_from_slice(&kind.code().to_be_bytes());
    query.extend_from_slice(&CLASS_IN.to_be_bytes());
    if edns {
        // Root owner, type OPT, payload size as class, extended rcode/version/flags 0, no options.
        query.push(0);
        query.extend_from_slice(&TYPE_OPT.to_be_bytes());
        query.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes());
        query.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    query
}

/// A name's text (dotted, `\.` and `\DDD` escapes understood, the trailing dot optional) in
/// wire form.
fn encode_name(text: &str) -> Result<Vec<u8>, String> {
    let bad = |why: &str| format!("bad name {text:?}: {why}");
    let mut wire = Vec::with_capacity(text.len() + 2);
    if text != "." {
        let bytes = text.as_bytes();
        let mut label: Vec<u8> = Vec::new();
        let mut i = 0;
        let finish = |label: &mut Vec<u8>, wire: &mut Vec<u8>| -> Result<(), String> {
            if label.is_empty() {
                return Err(bad("empty label"));
            }
            if label.len() > LABEL_MAX {
                return Err(bad("label longer than 63 bytes"));
            }
            wire.push(label.len() as u8);
            wire.append(label);
            Ok(())
        };
        while let Some(&b) = bytes.get(i) {
            match b {
                b'\\' => {
                    let digits = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(u8::is_ascii_digit));
                    if let Some(digits) = digits {
                        let value = digits.iter().fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
                        label.push(u8::try_from(value).map_err(|_| bad("escape above \\255"))?);
                        i += 4;
                    } else {
                        label.push(*bytes.get(i + 1).ok_or_else(|| bad("trailing backslash"))?);
                        i += 2;
                    }
                }
                b'.' => {
                    finish(&mut label, &mut wire)?;
                    i += 1;
                }
                _ => {
                    label.push(b);
                    i += 1;
                }
            }
        }
        if !label.is_empty() {
            finish(&mut label, &mut wire)?;
        }
    }
    wire.push(0);
    if wire.len() > NAME_WIRE_MAX {
        return Err(bad("longer than 255 bytes"));
    }
    Ok(wire)
}

/// A name in wire form as text with the trailing dot, special characters escaped with a
/// backslash and bytes outside printable ASCII as `\DDD`.
fn name_text(wire: &[u8]) -> String {
    let mut text = String::with_capacity(wire.len() + 1);
    let mut pos = 0;
    while let Some(&len) = wire.get(pos) {
        if len == 0 {
            break;
        }
        let label = wire.get(pos + 1..pos + 1 + usize::from(len)).unwrap_or_default();
        for &b in label {
            match b {
                b'.' | b' ' | b'\'' | b'@' | b';' | b'(' | b')' | b'"' | b'\\' => {
                    text.push('\\');
                    text.push(char::from(b));
                }
                b' '..=b'~' => text.push(char::from(b)),
                _ => text.push_str(&format!("\\{b:03}")),
            }
        }
        text.push('.');
        pos += 1 + usize::from(len);
    }
    if text.is_empty() {
        text.push('.');
    }
    text
}

/// A reply's response code and answer records, as `lookup` reads them (the question is not
/// checked here; the fuzz target drives this).
pub fn decode_reply(msg: &[u8]) -> Result<(u16, Vec<Record>), String> {
    parse_message(msg).map(|m| (m.rcode, m.answers))
}

/// A name's text (as `Record`s give them) in wire form; the fuzz target checks every name a
/// reply gives reads back.
pub fn name_to_wire(text: &str) -> Result<Vec<u8>, String> {
    encode_name(text)
}

/// A bounds-checked cursor over a message.
struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn u16(&mut self) -> Result<u16, String> {
        let bytes = self.msg.get(self.pos..self.pos + 2).ok_or("message ends inside a field")?;
        self.pos += 2;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from(self.u16()?) << 16 | u32::from(self.u16()?))
    }

    /// The (maybe compressed) name here, uncompressed in wire form; the cursor moves past it.
    fn name(&mut self) -> Result<Vec<u8>, String> {
        let (wire, end) = read_name(self.msg, self.pos)?;
        self.pos = end;
        Ok(wire)
    }
}

/// Reads the name at `start` of `msg`: its uncompressed wire form and the offset just past
/// its bytes at `start`. A compression pointer must point before the run of labels that
/// holds it (so every hop goes strictly backwards and none can loop).
fn read_name(msg: &[u8], start: usize) -> Result<(Vec<u8>, usize), String> {
    let mut wire = Vec::with_capacity(32);
    let mut pos = start;
    let mut run_start = start;
    let mut end = None;
    let mut hops = 0;
    loop {
        let len = *msg.get(pos).ok_or("message ends inside a name")?;
        match len & 0xC0 {
            0x00 => {
                if len == 0 {
                    wire.push(0);
                    return Ok((wire, end.unwrap_or(pos + 1)));
                }
                let len = usize::from(len);
                let label = msg.get(pos + 1..pos + 1 + len).ok_or("message ends inside a label")?;
                if wire.len() + 1 + len + 1 > NAME_WIRE_MAX {
                    return Err("name longer than 255 bytes".to_string());
                }
                wire.push(len as u8);
                wire.extend_from_slice(label);
                pos += 1 + len;
            }
            0xC0 => {
                let low = *msg.get(pos + 1).ok_or("message ends inside a compression pointer")?;
                let target = usize::from(len & 0x3F) << 8 | usize::from(low);
                if target >= run_start {
                    return Err("compression pointer not pointing backwards".to_string());
                }
                hops += 1;
                if hops > POINTER_HOPS_MAX {
                    return Err("too many compression pointers".to_string());
                }
                end.get_or_insert(pos + 2);
                pos = target;
                run_start = target;
            }
            _ => return Err("unknown label type".to_string()),
        }
    }
}

/// A message's fixed header.
struct Header {
    id: u16,
    flags: u16,
    qdcount: u16,
    ancount: u16,
    nscount: u16,
    arcount: u16,
}

impl Header {
    fn read(reader: &mut Reader) -> Result<Header, String> {
        Ok(Header { id: reader.u16()?, flags: reader.u16()?, qdcount: reader.u16()?, ancount: reader.u16()?, nscount: reader.u16()?, arcount: reader.u16()? })
    }
}

/// A question's name (wire form), type and class.
fn read_question(reader: &mut Reader) -> Result<(Vec<u8>, u16, u16), String> {
    Ok((reader.name()?, reader.u16()?, reader.u16()?))
}

/// A parsed message: what the resolver needs of it.
#[derive(Debug)]
struct Message {
    /// The response code, extended by the OPT record's upper bits when there is one.
    rcode: u16,
    /// The answer section's records of the kinds `Record` has.
    answers: Vec<Record>,
}

/// Parses a whole message (the question is checked by `check_reply`): header, at most one
/// question, and every record of the three
/// sections (their data bounds-checked; only the answer section's records are kept).
fn parse_message(msg: &[u8]) -> Result<Message, String> {
    let mut reader = Reader { msg, pos: 0 };
    let header = Header::read(&mut reader)?;
    match header.qdcount {
        0 => {}
        1 => {
            read_question(&mut reader)?;
        }
        n => return Err(format!("message with {n} questions")),
    }
    let mut answers = Vec::new();
    let mut extended_rcode = 0u16;
    for (section, count) in [header.ancount, header.nscount, header.arcount].into_iter().enumerate() {
        for _ in 0..count {
            let _owner = reader.name()?;
            let rtype = reader.u16()?;
            let _class = reader.u16()?;
            let ttl = reader.u32()?;
            let length = usize::from(reader.u16()?);
            let start = reader.pos;
            let end = start + length;
            if end > msg.len() {
                return Err("message ends inside a record's data".to_string());
            }
            if section == 0 {
                if let Some(record) = parse_rdata(msg, rtype, start, end)? {
                    answers.push(record);
                }
            } else if section == 2 && rtype == TYPE_OPT {
                extended_rcode = (ttl >> 24) as u16;
            }
            reader.pos = end;
        }
    }
    Ok(Message { rcode: extended_rcode << 4 | header.flags & 0xF, answers })
}

/// The record in `msg[start..end]` of type `rtype`, None for types `Record` does not have.
fn parse_rdata(msg: &[u8], rtype: u16, start: usize, end: usize) -> Result<Option<Record>, String> {
    let data = msg.get(start..end).ok_or("message ends inside a record's data")?;
    // A name in record data: it may point anywhere before, but its own bytes end the data.
    let target_at = |offset: usize| -> Result<String, String> {
        let (wire, name_end) = read_name(msg, start + offset)?;
        if name_end != end {
            return Err("record data length does not match its name".to_string());
        }
        Ok(name_text(&wire))
    };
    let record = match rtype {
        TYPE_A => Record::A(Ipv4Addr::from(<[u8; 4]>::try_from(data).map_err(|_| "A record data not 4 bytes")?)),
        TYPE_AAAA => Record::Aaaa(Ipv6Addr::from(<[u8; 16]>::try_from(data).map_err(|_| "AAAA record data not 16 bytes")?)),
        TYPE_SRV => {
            let port = data.get(4..6).ok_or("SRV record data too short")?;
            let port = u16::from_be_bytes([port[0], port[1]]);
            Record::Srv { target: target_at(6)?, port }
        }
        TYPE_MX => {
            if data.len() < 3 {
                return Err("MX record data too short".to_string());
            }
            Record::Mx { target: target_at(2)? }
        }
        TYPE_NS => Record::Ns { target: target_at(0)? },
        _ => return Ok(None),
    };
    Ok(Some(record))
}

#[cfg(test)]
mod tests;
