//! Refusing to start on a port another process already listens on. glommio binds every
//! listener with SO_REUSEPORT, so that each executor accepts on a socket of its own; the
//! kernel would let a second server (of the same user) join those ports just as silently,
//! and split the connections between the two, writes and queries included, where
//! Prometheus and VictoriaMetrics stop with "address already in use". Before any executor
//! binds, each configured port is bound once without SO_REUSEPORT, which the kernel refuses
//! while any socket listens there, and released at once.
//!
//! A server started later by the same check is refused in turn, since this server's
//! listeners hold the port by then. Two servers started within the same instant can still
//! both pass; ports given as 0 are new ones and need no check.

use std::net::SocketAddr;

/// One port the server will listen on: its address, the config key naming it, and whether
/// a UDP socket shares it.
pub struct Claim<'a> {
    pub addr: SocketAddr,
    pub key: &'a str,
    pub udp: bool,
}

/// An error naming the key and the address of the first port some other socket holds.
pub fn refuse_ports_in_use(claims: &[Claim<'_>]) -> Result<(), String> {
    for claim in claims.iter().filter(|c| c.addr.port() != 0) {
        let addr = claim.addr;
        let key = claim.key;
        // std's listener sets SO_REUSEADDR (connections of an earlier run still in
        // TIME_WAIT do not count) and not SO_REUSEPORT; dropped at once, it listened for
        // the moment before the server's own listeners exist.
        std::net::TcpListener::bind(addr).map_err(|e| in_use(addr, key, "", &e))?;
        if claim.udp {
            std::net::UdpSocket::bind(addr).map_err(|e| in_use(addr, key, "UDP ", &e))?;
        }
    }
    Ok(())
}

fn in_use(addr: SocketAddr, key: &str, transport: &str, error: &std::io::Error) -> String {
    if error.kind() == std::io::ErrorKind::AddrInUse {
        format!("cannot listen on {transport}{addr} ({key}): {error}; another process listens there (a second Metricstor would take a share of its connections)")
    } else {
        format!("cannot listen on {transport}{addr} ({key}): {error}")
    }
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
        drop(taken);
        // Free again, it passes, and the check leaves nothing bound behind.
        refuse_ports_in_use(&[claim(addr, false)]).expect("free port");
        refuse_ports_in_use(&[claim(addr, false)]).expect("still free");
        // Port 0 is never checked.
        refuse_ports_in_use(&[claim("127.0.0.1:0".parse().expect("addr"), true)]).expect("port 0");
    }

    #[test]
    fn a_udp_port_in_use_is_refused_naming_udp() {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let addr = udp.local_addr().expect("addr");
        // The TCP port of that number may be in use too; only then is this not a UDP check.
        if std::net::TcpListener::bind(addr).is_ok() {
            let error = refuse_ports_in_use(&[claim(addr, true)]).expect_err("the UDP port is taken");
            assert!(error.contains(&format!("UDP {addr}")), "{error}");
        }
        refuse_ports_in_use(&[claim(addr, false)]).expect("TCP alone is free");
    }

    /// A TCP listener on a free loopback port with SO_REUSEADDR and SO_REUSEPORT set, as
    /// glommio's listeners are.
    fn glommio_like_listener() -> std::net::TcpListener {
        use std::os::fd::FromRawFd;
        // SAFETY: plain socket calls on a descriptor this function owns; the sockaddr_in is
        // a live local of the size passed. The descriptor goes into the returned listener.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "socket");
            let listener = std::net::TcpListener::from_raw_fd(fd);
            let one: libc::c_int = 1;
            for option in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
                let set = libc::setsockopt(fd, libc::SOL_SOCKET, option, &one as *const _ as *const libc::c_void, std::mem::size_of::<libc::c_int>() as libc::socklen_t);
                assert_eq!(set, 0, "setsockopt");
            }
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
