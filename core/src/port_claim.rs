//! Refusing to start on a port another process already listens on. glommio binds every
//! listener with SO_REUSEPORT, so that each executor accepts on a socket of its own; the
//! kernel would let a second server (of the same user) join those ports just as silently,
//! and split the connections between the two, writes and queries included, where
//! Prometheus and VictoriaMetrics stop with "address already in use".
//!
//! Before any executor binds, the kernel's socket tables (`/proc/net/{tcp,tcp6,udp,udp6}`)
//! are read for a socket listening on (TCP) or bound to (UDP) each configured port at an
//! address that overlaps the configured one (the same address, or either a wildcard). Only
//! listening TCP sockets count: the TIME_WAIT remains of an earlier run's connections do
//! not, so a restart is never refused (a test bind without SO_REUSEPORT would be, for a
//! minute after the server closed connections). A server started later is refused in turn,
//! since this server's listeners are in the tables by then. Two servers started within the
//! same instant can still both pass; ports given as 0 are new ones and need no check; where
//! the tables cannot be read, nothing is checked and the start goes on, as before.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One port the server will listen on: its address, the config key naming it, and whether
/// a UDP socket shares it.
pub struct Claim<'a> {
    pub addr: SocketAddr,
    pub key: &'a str,
    pub udp: bool,
}

/// An error naming the key and the address of the first port some other socket holds.
pub fn refuse_ports_in_use(claims: &[Claim<'_>]) -> Result<(), String> {
    let claimed: Vec<&Claim<'_>> = claims.iter().filter(|c| c.addr.port() != 0).collect();
    if claimed.is_empty() {
        return Ok(());
    }
    let (tcp, udp) = match (bound_sockets(Transport::Tcp), bound_sockets(Transport::Udp)) {
        (Ok(tcp), Ok(udp)) => (tcp, udp),
        (Err(error), _) | (_, Err(error)) => {
            tracing::debug!(%error, "cannot read the kernel's socket tables; the listen ports are not checked for other servers");
            return Ok(());
        }
    };
    for claim in claimed {
        let (addr, key) = (claim.addr, claim.key);
        if let Some(other) = tcp.iter().find(|other| overlaps(addr, **other)) {
            return Err(in_use(addr, key, "", *other));
        }
        if let Some(other) = udp.iter().filter(|_| claim.udp).find(|other| overlaps(addr, **other)) {
            return Err(in_use(addr, key, "UDP ", *other));
        }
    }
    Ok(())
}

fn in_use(addr: SocketAddr, key: &str, transport: &str, other: SocketAddr) -> String {
    format!("cannot listen on {transport}{addr} ({key}): another process listens on {transport}{other} (a second Metricstor would take a share of its connections)")
}

/// Whether binding `wanted` would meet `bound`: the same port, and the same address or
/// either a wildcard (an IPv6 wildcard takes IPv4 too, as Linux binds `[::]` by default).
fn overlaps(wanted: SocketAddr, bound: SocketAddr) -> bool {
    let wildcard = |ip: IpAddr| ip.is_unspecified();
    wanted.port() == bound.port()
        && (wildcard(wanted.ip()) || wildcard(bound.ip()) || canonical(wanted.ip()) == canonical(bound.ip()))
}

/// IPv4-mapped IPv6 addresses as the IPv4 address they stand for.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[derive(Clone, Copy)]
enum Transport {
    Tcp,
    Udp,
}

/// The local addresses of the listening TCP sockets, or of the bound UDP sockets, this
/// network namespace has, from both of its tables (IPv4 and IPv6).
fn bound_sockets(transport: Transport) -> std::io::Result<Vec<SocketAddr>> {
    let (files, state) = match transport {
        Transport::Tcp => (["/proc/net/tcp", "/proc/net/tcp6"], "0A"),
        Transport::Udp => (["/proc/net/udp", "/proc/net/udp6"], "07"),
    };
    let mut found = Vec::new();
    for file in files {
        match std::fs::read_to_string(file) {
            Ok(text) => found.extend(table_addresses(&text, state)),
            // A kernel without IPv6 has no `*6` table.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && file.ends_with('6') => {}
            Err(error) => return Err(error),
        }
    }
    Ok(found)
}

/// The local addresses of the rows of a `/proc/net/{tcp,udp}[6]` table in `state` (hex, as
/// the table writes it: `0A` listening, `07` an unconnected UDP socket). The table writes an
/// address as the hex of its 32-bit words in the machine's byte order, and the port in hex.
fn table_addresses<'a>(text: &'a str, state: &'a str) -> impl Iterator<Item = SocketAddr> + 'a {
    text.lines().skip(1).filter_map(move |line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1)?;
        (fields.nth(1)? == state).then_some(())?;
        let (ip_hex, port_hex) = local.split_once(':')?;
        let port = u16::from_str_radix(port_hex, 16).ok()?;
        let mut bytes = Vec::with_capacity(16);
        for word in 0..ip_hex.len() / 8 {
            let value = u32::from_str_radix(ip_hex.get(word * 8..word * 8 + 8)?, 16).ok()?;
            bytes.extend_from_slice(&value.to_ne_bytes());
        }
        let ip = match bytes.len() {
            4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
            16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes.as_slice()).ok()?)),
            _ => return None,
        };
        Some(SocketAddr::new(ip, port))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(addr: SocketAddr, udp: bool) -> Claim<'static> {
        Claim { addr, key: "server.http_addr", udp }
    }

    #[test]
    fn a_port_some_socket_listens_on_is_refused_even_with_so_reuseport() {
        // As glommio binds: SO_REUSEPORT set, which lets any other SO_REUSEPORT socket join.
        let taken = glommio_like_listener();
        let addr = taken.local_addr().expect("addr");
        let error = refuse_ports_in_use(&[claim(addr, false)]).expect_err("the port is taken");
        assert!(error.contains("server.http_addr") && error.contains(&addr.to_string()) && error.contains("another process"), "{error}");
        // The wildcard address of that port overlaps it too.
        let wildcard = SocketAddr::from(([0, 0, 0, 0], addr.port()));
        assert!(refuse_ports_in_use(&[claim(wildcard, false)]).is_err());
        drop(taken);
        refuse_ports_in_use(&[claim(addr, false)]).expect("free port");
        // Port 0 is never checked.
        refuse_ports_in_use(&[claim("127.0.0.1:0".parse().expect("addr"), true)]).expect("port 0");
    }

    #[test]
    fn a_udp_port_in_use_is_refused_naming_udp() {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let addr = udp.local_addr().expect("addr");
        let error = refuse_ports_in_use(&[claim(addr, true)]).expect_err("the UDP port is taken");
        assert!(error.contains(&addr.port().to_string()), "{error}");
        // Unless a TCP listener has the same number, TCP alone is free.
        if !bound_sockets(Transport::Tcp).expect("tcp table").iter().any(|other| other.port() == addr.port()) {
            assert!(error.contains(&format!("UDP {addr}")), "{error}");
            refuse_ports_in_use(&[claim(addr, false)]).expect("TCP alone is free");
        }
    }

    /// A restart right after the server closed connections: their TIME_WAIT rows hold the
    /// port's number but nothing listens, so the start goes on.
    #[test]
    fn the_time_wait_remains_of_closed_connections_do_not_count() {
        use std::io::Read;
        let listener = glommio_like_listener();
        let addr = listener.local_addr().expect("addr");
        let mut client = std::net::TcpStream::connect(addr).expect("connect");
        let (served, _) = listener.accept().expect("accept");
        // The server's side closes first, so it is the one left in TIME_WAIT.
        drop(served);
        let mut byte = [0u8; 1];
        assert_eq!(client.read(&mut byte).expect("read to the end"), 0);
        drop(client);
        drop(listener);
        let table = std::fs::read_to_string("/proc/net/tcp").expect("tcp table");
        assert!(table_addresses(&table, "06").any(|waiting| waiting == addr), "no TIME_WAIT row for {addr}");
        refuse_ports_in_use(&[claim(addr, false)]).expect("a restart is not refused");
    }

    #[test]
    fn table_rows_are_read_in_the_machines_byte_order() {
        let table = "  sl  local_address rem_address   st tx_queue\n   0: 0100007F:4A3B 00000000:0000 0A 00000000:00000000\n   1: 00000000:07E8 00000000:0000 06 00000000:00000000\n";
        let listening: Vec<SocketAddr> = table_addresses(table, "0A").collect();
        let expected: SocketAddr = if cfg!(target_endian = "little") { "127.0.0.1:19003" } else { "1.0.0.127:19003" }.parse().expect("addr");
        assert_eq!(listening, vec![expected]);
        let table6 = "  sl  local_address                         remote_address                        st\n   0: 00000000000000000000000001000000:2382 00000000000000000000000000000000:0000 0A\n";
        if cfg!(target_endian = "little") {
            assert_eq!(table_addresses(table6, "0A").collect::<Vec<_>>(), vec!["[::1]:9090".parse::<SocketAddr>().expect("addr")]);
        }
        assert!(overlaps("[::ffff:127.0.0.1]:5".parse().expect("addr"), "127.0.0.1:5".parse().expect("addr")));
        assert!(overlaps("[::]:5".parse().expect("addr"), "127.0.0.1:5".parse().expect("addr")));
        assert!(!overlaps("127.0.0.2:5".parse().expect("addr"), "127.0.0.1:5".parse().expect("addr")));
        assert!(!overlaps("127.0.0.1:6".parse().expect("addr"), "127.0.0.1:5".parse().expect("addr")));
    }

    /// A TCP listener on a free loopback port with SO_REUSEPORT set (and not SO_REUSEADDR),
    /// as glommio's listeners are.
    fn glommio_like_listener() -> std::net::TcpListener {
        use std::os::fd::FromRawFd;
        // SAFETY: plain socket calls on a descriptor this function owns; the sockaddr_in is
        // a live local of the size passed. The descriptor goes into the returned listener.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "socket");
            let listener = std::net::TcpListener::from_raw_fd(fd);
            let one: libc::c_int = 1;
            let set = libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, &one as *const _ as *const libc::c_void, std::mem::size_of::<libc::c_int>() as libc::socklen_t);
            assert_eq!(set, 0, "setsockopt");
            let mut sockaddr: libc::sockaddr_in = std::mem::zeroed();
            sockaddr.sin_family = libc::AF_INET as libc::sa_family_t;
            sockaddr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
            let bound = libc::bind(fd, &sockaddr as *const _ as *const libc::sockaddr, std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t);
            assert_eq!(bound, 0, "bind");
            assert_eq!(libc::listen(fd, 16), 0, "listen");
            listener
        }
    }
}
