//! The process metrics every Prometheus client library exposes (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_open_fds`, …, with client_golang's names and
//! meanings, read from Linux' `/proc/self`), and `metricstor_build_info`: what the stock
//! dashboards and alerts for any Prometheus target expect of `/metrics`. A figure whose
//! source cannot be read is left out, never guessed.

use std::fmt::Write;

use super::self_metrics::family;

/// Appends the process families and `metricstor_build_info` to `out`.
pub fn write(out: &mut String) {
    family(out, "metricstor_build_info", "gauge", "Always 1; the labels give the version running.");
    let _ = writeln!(out, "metricstor_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
    let clock_ticks = positive_sysconf(libc::_SC_CLK_TCK);
    let page_bytes = positive_sysconf(libc::_SC_PAGESIZE);
    if let Some(stat) = std::fs::read_to_string("/proc/self/stat").ok().and_then(|text| Stat::parse(&text)) {
        if let Some(ticks) = clock_ticks {
            family(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
            let _ = writeln!(out, "process_cpu_seconds_total {}", (stat.user_ticks + stat.system_ticks) as f64 / ticks as f64);
            let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|text| boot_time_seconds(&text));
            if let Some(boot) = boot {
                family(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
                let _ = writeln!(out, "process_start_time_seconds {}", boot as f64 + stat.start_ticks as f64 / ticks as f64);
            }
        }
        family(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
        let _ = writeln!(out, "process_virtual_memory_bytes {}", stat.virtual_bytes);
        if let Some(page) = page_bytes {
            family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
            let _ = writeln!(out, "process_resident_memory_bytes {}", stat.resident_pages.saturating_mul(page));
        }
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        family(out, "process_open_fds", "gauge", "Number of open file descriptors.");
        let _ = writeln!(out, "process_open_fds {}", entries.count());
    }
    if let Some(max) = std::fs::read_to_string("/proc/self/limits").ok().and_then(|text| max_open_files(&text)) {
        family(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        let _ = writeln!(out, "process_max_fds {max}");
    }
}

fn positive_sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf reads a configuration value; it has no memory-safety preconditions.
    let value = unsafe { libc::sysconf(name) };
    u64::try_from(value).ok().filter(|v| *v > 0)
}

/// The fields of `/proc/self/stat` used here (proc(5) numbering: utime 14, stime 15,
/// starttime 22, vsize 23, rss 24).
#[derive(Debug, PartialEq)]
struct Stat {
    user_ticks: u64,
    system_ticks: u64,
    start_ticks: u64,
    virtual_bytes: u64,
    resident_pages: u64,
}

impl Stat {
    fn parse(text: &str) -> Option<Stat> {
        // The command name (field 2) is in parentheses and may hold spaces and ')': the fields
        // after it start past the last ')'. Field 3 is then the first one.
        let rest = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
        Some(Stat { user_ticks: field(14)?, system_ticks: field(15)?, start_ticks: field(22)?, virtual_bytes: field(23)?, resident_pages: field(24)? })
    }
}

/// `btime` of `/proc/stat`: the boot time in seconds since the epoch.
fn boot_time_seconds(text: &str) -> Option<u64> {
    text.lines().find_map(|line| line.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

/// The soft limit of "Max open files" in `/proc/self/limits` ("unlimited" is left out).
fn max_open_files(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_past_a_command_name_with_spaces_and_parentheses() {
        let text = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 9 0 123456 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let stat = Stat::parse(text).expect("parsed");
        assert_eq!(stat, Stat { user_ticks: 250, system_ticks: 75, start_ticks: 123456, virtual_bytes: 987654321, resident_pages: 2048 });
        assert_eq!(Stat::parse("12 (short) S 1 2"), None);
    }

    #[test]
    fn boot_time_and_open_file_limit_are_found_by_their_lines() {
        assert_eq!(boot_time_seconds("cpu  1 2 3\nintr 5\nbtime 1796000000\nprocesses 9\n"), Some(1_796_000_000));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax cpu time              unlimited            unlimited            seconds\nMax open files            1048576              1048576              files\n";
        assert_eq!(max_open_files(limits), Some(1_048_576));
        assert_eq!(max_open_files("Max open files            unlimited            unlimited            files\n"), None);
    }

    #[test]
    fn this_process_reports_its_figures() {
        let mut out = String::new();
        write(&mut out);
        for name in ["metricstor_build_info{version=", "process_cpu_seconds_total ", "process_resident_memory_bytes ", "process_open_fds ", "process_max_fds ", "process_start_time_seconds "] {
            assert!(out.contains(&format!("\n{name}")), "{name} missing in:\n{out}");
        }
        let rss: f64 = out.lines().find_map(|l| l.strip_prefix("process_resident_memory_bytes ")).and_then(|v| v.parse().ok()).expect("rss");
        assert!(rss > 1_000_000.0, "a running test process holds more than 1 MB: {rss}");
    }
}
