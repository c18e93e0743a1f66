//! DNS messages on the wire: queries and names encoded, and replies checked against their
//! question and parsed defensively (every read bounds-checked, compression pointers only
//! backwards, names at most 255 bytes), their names written back as escaped text.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Message, Record, RecordType};
use super::{CLASS_IN, FLAG_QR, FLAG_RD, OPCODE_MASK, RCODE_NOERROR, RCODE_NXDOMAIN, TYPE_A, TYPE_AAAA, TYPE_MX, TYPE_NS, TYPE_OPT, TYPE_SRV};

/// The UDP payload size advertised in the EDNS0 OPT record (the Go library's default).
const EDNS_PAYLOAD: u16 = 4096;
/// The longest name on the wire, length bytes and the root's zero included.
const NAME_WIRE_MAX: usize = 255;
/// The longest label.
const LABEL_MAX: usize = 63;
/// Compression pointers followed in one name at most (the backwards rule already bounds them).
const POINTER_HOPS_MAX: usize = 128;

/// A query for `qname` (wire form) of type `kind`, recursion desired, with an EDNS0 OPT
/// record advertising a 4096-byte payload when `edns`.
pub(super) fn encode_query(id: u16, qname: &[u8], kind: RecordType, edns: bool) -> Vec<u8> {
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
pub(super) fn encode_name(text: &str) -> Result<Vec<u8>, String> {
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
pub(super) fn name_text(wire: &[u8]) -> String {
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
pub(super) fn read_name(msg: &[u8], start: usize) -> Result<(Vec<u8>, usize), String> {
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

/// Checks a reply to query `id` asks our question (an error answer may leave the question
/// out) and is a standard query's response; gives its flags.
pub(super) fn check_reply(reply: &[u8], id: u16, qname: &[u8], kind: RecordType) -> Result<u16, String> {
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

/// Parses a whole message (the question is checked by `check_reply`): header, at most one
/// question, and every record of the three
/// sections (their data bounds-checked; only the answer section's records are kept).
pub(super) fn parse_message(msg: &[u8]) -> Result<Message, String> {
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
