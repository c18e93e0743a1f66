//! Connections passed between executors (`net::Balance`) over real sockets. Two glommio
//! executors each run an accept loop; every client connects to the first one's listener,
//! and the answers say which executor served each connection: the two serve the same
//! number, a connection passed on keeps working (keep-alive) on its new executor, and a
//! closed connection stops counting.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

mod common;

use bytes::Bytes;
use net::{Balance, Handler, ResponseFuture};

/// Answers every request with the name of the executor serving it.
struct Name(&'static str);

impl Handler for Name {
    fn handle(self: Rc<Self>, _request: http::Request<Bytes>) -> ResponseFuture {
        let name = self.0;
        Box::pin(async move { http::Response::new(Bytes::from_static(name.as_bytes())) })
    }
}

/// Sends one GET on `stream` and returns the response body (the response has a
/// content-length; the body is the executor's name).
fn ask(stream: &mut TcpStream) -> String {
    stream.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").expect("write");
    let mut data = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().expect("length")))
                .expect("content-length");
            if data.len() >= end + 4 + length {
                return String::from_utf8_lossy(&data[end + 4..end + 4 + length]).to_string();
            }
        }
        let n = stream.read(&mut buf).expect("read");
        assert!(n > 0, "connection closed before the answer");
        data.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn connections_accepted_by_one_executor_are_shared_with_the_other() {
    let mut members = Balance::group(2).into_iter();
    let (first, second) = (members.next().expect("member"), members.next().expect("member"));
    let watch = first.watch();
    let (shutdown_tx, shutdown_rx) = async_channel::bounded::<()>(1);
    let (addr_tx, addr_rx) = mpsc::channel();
    let a = common::serve_on_thread(|| Name("a"), Default::default(), shutdown_rx.clone(), Some(first), addr_tx.clone());
    let a_addr = addr_rx.recv_timeout(Duration::from_secs(30)).expect("executor a started");
    let b = common::serve_on_thread(|| Name("b"), Default::default(), shutdown_rx, Some(second), addr_tx);
    let _b_addr = addr_rx.recv_timeout(Duration::from_secs(30)).expect("executor b started");

    // Every connection goes to a's listener; each is answered before the next opens, so
    // each placement sees the counts the earlier ones left.
    let mut clients = Vec::new();
    let mut served_by = Vec::new();
    for _ in 0..10 {
        let mut stream = TcpStream::connect(a_addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        served_by.push(ask(&mut stream));
        clients.push(stream);
    }
    let on_b = served_by.iter().filter(|n| *n == "b").count();
    assert_eq!(on_b, 5, "served by: {served_by:?}");
    assert_eq!(served_by.iter().filter(|n| *n == "a").count(), 5, "served by: {served_by:?}");
    // Keep-alive: later requests on each connection go to the same executor.
    for (stream, first) in clients.iter_mut().zip(&served_by) {
        assert_eq!(&ask(stream), first);
    }

    assert_eq!(watch.serving(), vec![5, 5]);

    // A closed connection no longer counts: with b's five closed, a serves five and b
    // none, so the next four connections all go to b.
    let (on_a, on_b): (Vec<_>, Vec<_>) = clients.into_iter().zip(&served_by).partition(|(_, n)| *n == "a");
    drop(on_b);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while watch.serving() != vec![5, 0] {
        assert!(std::time::Instant::now() < deadline, "closed connections still counted: {:?}", watch.serving());
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut later = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(a_addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        assert_eq!(ask(&mut stream), "b");
        later.push(stream);
    }

    drop((on_a, later));
    drop(shutdown_tx);
    a.join().expect("executor a");
    b.join().expect("executor b");
}
