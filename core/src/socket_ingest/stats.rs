//! Counters of the Graphite and Influx socket listeners: one `SocketStats` per executor
//! (relaxed atomics only it writes), summed over executors for `/metrics`. A socket has no
//! answer channel, so these are how a sender's operator sees skipped lines and refusals.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The line protocol a listener speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Graphite,
    Influx,
    /// OpenTSDB's telnet `put` lines.
    OpenTsdb,
}

impl Protocol {
    pub const COUNT: usize = 3;
    pub const ALL: [Protocol; Protocol::COUNT] = [Protocol::Graphite, Protocol::Influx, Protocol::OpenTsdb];

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Graphite => "graphite",
            Protocol::Influx => "influx",
            Protocol::OpenTsdb => "opentsdb",
        }
    }

    /// The config key of its address (for errors and logs).
    pub fn config_key(self) -> &'static str {
        match self {
            Protocol::Graphite => "server.graphite_listen_addr",
            Protocol::Influx => "server.influx_listen_addr",
            Protocol::OpenTsdb => "server.opentsdb_listen_addr",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    pub const ALL: [Transport; 2] = [Transport::Tcp, Transport::Udp];

    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

/// Why a TCP connection was closed before any of its lines were read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Past `server.max_connections_per_core` on this executor.
    OverLimit,
    /// The TLS handshake failed (no or bad client certificate, not TLS, timeout).
    TlsHandshake,
    /// The client certificate's identity is not in `tls.write_allowed_sans`.
    Unauthorized,
}

impl Refusal {
    const ALL: [Refusal; 3] = [Refusal::OverLimit, Refusal::TlsHandshake, Refusal::Unauthorized];

    fn name(self) -> &'static str {
        match self {
            Refusal::OverLimit => "over_limit",
            Refusal::TlsHandshake => "tls_handshake",
            Refusal::Unauthorized => "unauthorized",
        }
    }
}

/// Per (protocol, transport) counters of one executor.
#[derive(Default, Debug)]
struct Flow {
    lines: AtomicU64,
    lines_skipped: AtomicU64,
    samples_refused: AtomicU64,
}

#[derive(Default, Debug)]
pub struct SocketStats {
    /// Indexed by `flow_index`.
    flows: [Flow; Protocol::COUNT * 2],
    /// Per protocol: TCP connections accepted, UDP datagrams received.
    connections: [AtomicU64; Protocol::COUNT],
    datagrams: [AtomicU64; Protocol::COUNT],
    /// Per protocol and `Refusal`.
    refused: [[AtomicU64; 3]; Protocol::COUNT],
}

fn flow_index(protocol: Protocol, transport: Transport) -> usize {
    protocol as usize * 2 + transport as usize
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl SocketStats {
    pub fn add_lines(&self, protocol: Protocol, transport: Transport, lines: u64) {
        add(&self.flows[flow_index(protocol, transport)].lines, lines);
    }

    pub fn add_lines_skipped(&self, protocol: Protocol, transport: Transport, lines: u64) {
        add(&self.flows[flow_index(protocol, transport)].lines_skipped, lines);
    }

    pub fn add_samples_refused(&self, protocol: Protocol, transport: Transport, samples: u64) {
        add(&self.flows[flow_index(protocol, transport)].samples_refused, samples);
    }

    pub fn count_connection(&self, protocol: Protocol) {
        add(&self.connections[protocol as usize], 1);
    }

    pub fn count_datagram(&self, protocol: Protocol) {
        add(&self.datagrams[protocol as usize], 1);
    }

    pub fn count_refused(&self, protocol: Protocol, why: Refusal) {
        add(&self.refused[protocol as usize][why as usize], 1);
    }
}

/// Reads one of a flow's counters.
type FlowCounter = fn(&Flow) -> &AtomicU64;

/// Appends the socket families, summed over `all` executors, to a `/metrics` answer.
pub fn write_metrics<'a>(out: &mut String, all: impl Iterator<Item = &'a SocketStats> + Clone) {
    let sum = |read: &dyn Fn(&SocketStats) -> &AtomicU64| all.clone().map(|s| read(s).load(Ordering::Relaxed)).sum::<u64>();
    let flows: [(&str, &str, FlowCounter); 3] = [
        ("metricstor_socket_lines_total", "Lines received on the Graphite and Influx socket listeners (blank lines included).", |f| &f.lines),
        ("metricstor_socket_lines_skipped_total", "Socket lines skipped: malformed, longer than 256 KiB, or refused by the label limits.", |f| &f.lines_skipped),
        ("metricstor_socket_samples_refused_total", "Samples parsed from socket lines that the shards refused (overload, storage.max_series, shutdown).", |f| &f.samples_refused),
    ];
    for (name, help, read) in flows {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for protocol in Protocol::ALL {
            for transport in Transport::ALL {
                let value = sum(&|s| read(&s.flows[flow_index(protocol, transport)]));
                let _ = writeln!(out, "{name}{{protocol=\"{}\",transport=\"{}\"}} {value}", protocol.name(), transport.name());
            }
        }
    }
    let name = "metricstor_socket_connections_total";
    let _ = writeln!(out, "# HELP {name} TCP connections accepted on the Graphite and Influx socket listeners.\n# TYPE {name} counter");
    for protocol in Protocol::ALL {
        let _ = writeln!(out, "{name}{{protocol=\"{}\"}} {}", protocol.name(), sum(&|s| &s.connections[protocol as usize]));
    }
    let name = "metricstor_socket_connections_refused_total";
    let _ = writeln!(out, "# HELP {name} Socket listener TCP connections closed unread: over the connection limit, failed TLS handshake, identity not allowed to write.\n# TYPE {name} counter");
    for protocol in Protocol::ALL {
        for why in Refusal::ALL {
            let value = sum(&|s| &s.refused[protocol as usize][why as usize]);
            let _ = writeln!(out, "{name}{{protocol=\"{}\",reason=\"{}\"}} {value}", protocol.name(), why.name());
        }
    }
    let name = "metricstor_socket_datagrams_total";
    let _ = writeln!(out, "# HELP {name} UDP datagrams received on the Graphite and Influx socket listeners.\n# TYPE {name} counter");
    for protocol in Protocol::ALL {
        let _ = writeln!(out, "{name}{{protocol=\"{}\"}} {}", protocol.name(), sum(&|s| &s.datagrams[protocol as usize]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_summed_per_label_set() {
        let (a, b) = (SocketStats::default(), SocketStats::default());
        a.add_lines(Protocol::Influx, Transport::Udp, 3);
        b.add_lines(Protocol::Influx, Transport::Udp, 4);
        b.add_lines_skipped(Protocol::Graphite, Transport::Tcp, 1);
        a.count_refused(Protocol::Graphite, Refusal::Unauthorized);
        let mut out = String::new();
        write_metrics(&mut out, [&a, &b].into_iter());
        for line in [
            "metricstor_socket_lines_total{protocol=\"influx\",transport=\"udp\"} 7",
            "metricstor_socket_lines_total{protocol=\"graphite\",transport=\"tcp\"} 0",
            "metricstor_socket_lines_skipped_total{protocol=\"graphite\",transport=\"tcp\"} 1",
            "metricstor_socket_connections_refused_total{protocol=\"graphite\",reason=\"unauthorized\"} 1",
            "metricstor_socket_datagrams_total{protocol=\"influx\"} 0",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} in\n{out}");
        }
    }
}
