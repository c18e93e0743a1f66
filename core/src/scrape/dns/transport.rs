//! Sending a query to one server and reading its reply, within the time given: over UDP
//! (answers with another ID ignored, as late answers to earlier queries) or over TCP (a
//! 2-byte length prefix each way).

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use super::FLAG_QR;

/// Whether `reply` answers the query `id` at all (its ID, and it is a response).
fn is_reply_to(reply: &[u8], id: u16) -> bool {
    match reply.get(..4) {
        Some(&[hi, lo, flags_hi, flags_lo]) => u16::from_be_bytes([hi, lo]) == id && u16::from_be_bytes([flags_hi, flags_lo]) & FLAG_QR != 0,
        _ => false,
    }
}

/// Sends `query` to `server` over UDP up to `attempts` times, each waiting `timeout` for a
/// reply with the query's ID (others are ignored, as late answers to earlier queries).
pub(super) fn exchange_udp(server: SocketAddr, query: &[u8], timeout: Duration, attempts: usize) -> Result<Vec<u8>, String> {
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
pub(super) fn exchange_tcp(server: SocketAddr, query: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
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
