//! A DNS server on 127.0.0.1 answering the SRV and A records it is given (for dns_sd).

/// A DNS server on a loopback UDP port for dns_sd tests: answers every query for a name it
/// knows (lower case, with the root dot) with the records `set` gave it, other names with
/// NXDOMAIN. Its thread ends with the test process.
pub struct FakeDns {
    pub port: u16,
    records: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<FakeRecord>>>>,
}

/// A record `FakeDns` answers with.
#[derive(Clone, Debug)]
pub enum FakeRecord {
    Srv { target: String, port: u16 },
    A(std::net::Ipv4Addr),
}

impl FakeDns {
    pub fn start() -> FakeDns {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind fake DNS");
        let port = socket.local_addr().expect("fake DNS address").port();
        let records: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<FakeRecord>>>> = std::sync::Arc::default();
        let known = records.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok((n, from)) = socket.recv_from(&mut buffer) {
                if let Some(answer) = fake_dns_answer(&buffer[..n], &known) {
                    let _ = socket.send_to(&answer, from);
                }
            }
        });
        FakeDns { port, records }
    }

    /// Answers `name` (e.g. "_node._tcp.test.") with `records` from now on.
    pub fn set(&self, name: &str, records: Vec<FakeRecord>) {
        if let Ok(mut all) = self.records.lock() {
            all.insert(name.to_ascii_lowercase(), records);
        }
    }
}

fn fake_dns_name(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

/// The answer to one query: the question echoed, then the records (or NXDOMAIN).
fn fake_dns_answer(query: &[u8], known: &std::sync::Mutex<std::collections::HashMap<String, Vec<FakeRecord>>>) -> Option<Vec<u8>> {
    let mut at = 12;
    let mut name = String::new();
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        name.push_str(std::str::from_utf8(query.get(at..at + len)?).ok()?);
        name.push('.');
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question = query.get(12..at + 4)?;
    let records = known.lock().ok()?.get(&name.to_ascii_lowercase()).cloned();
    let wanted: Vec<FakeRecord> = records.clone().unwrap_or_default().into_iter().filter(|r| matches!((r, qtype), (FakeRecord::Srv { .. }, 33) | (FakeRecord::A(_), 1))).collect();
    let mut out = Vec::new();
    out.extend_from_slice(&query[..2]);
    let rcode = if records.is_some() { 0 } else { 3 };
    out.extend_from_slice(&[0x81, 0x80 | rcode, 0, 1]);
    out.extend_from_slice(&(wanted.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for record in wanted {
        out.extend_from_slice(&[0xC0, 12]);
        let mut data = Vec::new();
        let kind: u16 = match &record {
            FakeRecord::Srv { target, port } => {
                data.extend_from_slice(&[0, 10, 0, 5]);
                data.extend_from_slice(&port.to_be_bytes());
                fake_dns_name(&mut data, target);
                33
            }
            FakeRecord::A(ip) => {
                data.extend_from_slice(&ip.octets());
                1
            }
        };
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 0, 0, 30]);
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    Some(out)
}
