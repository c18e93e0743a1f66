//! A blocking DNS stub resolver for `dns_sd_configs`, answering as Prometheus' DNS service
//! discovery does (`lookup`): the name is tried with the search list of `/etc/resolv.conf`,
//! each candidate asked of every nameserver in turn over UDP with EDNS0, a truncated answer
//! asked again over TCP. Answers are parsed defensively (`wire`).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

mod resolv_conf;
mod transport;
/// Answers are parsed defensively: every read is bounds-checked, compression pointers must
/// point before the part of the name that holds them (so they cannot loop), names are at most
/// 255 bytes on the wire, and record data must fill its length exactly.
mod wire;

pub use resolv_conf::{ResolvConf, SYSTEM_RESOLV_CONF};
use transport::{exchange_tcp, exchange_udp};
use wire::{check_reply, encode_name, encode_query, parse_message};

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
/// names are dotted text with the trailing root dot ("node1.example.com."). Label bytes that
/// are not plain printable text are escaped as the Go library escapes them (`\.`, `\"`, ...
/// for special characters, `\DDD` for bytes outside printable ASCII), so a target name is the
/// text Prometheus would put in its `__meta_dns_*` labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Srv { target: String, port: u16 },
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Mx { target: String },
    Ns { target: String },
}

/// A parsed message: what the resolver needs of it.
#[derive(Debug)]
struct Message {
    /// The response code, extended by the OPT record's upper bits when there is one.
    rcode: u16,
    /// The answer section's records of the kinds `Record` has.
    answers: Vec<Record>,
}

/// Looks `name` up as Prometheus' DNS service discovery does: the name is tried with the
/// search list of `/etc/resolv.conf` (read as the Go resolver library Prometheus uses reads
/// it), each candidate asked of every nameserver in turn. The records of the first candidate
/// name that gets NOERROR (maybe none), no records when every candidate got NXDOMAIN, and an
/// error when some candidate got no usable answer from any server and none got NOERROR (so
/// the caller keeps the targets it had).
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

/// One server's answer for `qname`: over UDP with EDNS0 (4096-byte payload), again over TCP
/// without it when the UDP answer is truncated. Unlike Prometheus (whose Go client waits 2 s
/// once per server), each server is given resolv.conf's `attempts` UDP tries of `timeout`
/// each, and a server that answers one name truncated is asked over TCP for that name only
/// (Prometheus' client stays on TCP for the servers after it).
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

#[cfg(test)]
mod tests;
