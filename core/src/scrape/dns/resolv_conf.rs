//! resolv.conf, read as the Go resolver library Prometheus uses reads it: the nameservers,
//! the search list and the `ndots`, `timeout` and `attempts` options; and the candidate names
//! a lookup tries, in order.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

/// The file `ResolvConf::from_system` reads (and `scrape.resolv_conf`'s default).
pub const SYSTEM_RESOLV_CONF: &str = "/etc/resolv.conf";
/// The port nameservers are asked on unless a `nameserver` line names one (an extension:
/// glibc's resolv.conf has no way to name another).
const DNS_PORT: u16 = 53;

/// Caps on resolv.conf's `timeout:` and `attempts:` (glibc's own caps).
const TIMEOUT_MAX_SECS: u64 = 30;
const ATTEMPTS_MAX: usize = 5;

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
