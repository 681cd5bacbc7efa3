//! Process saturation metrics read from `/proc` (Linux; nothing elsewhere).

use metrics::Unit;

use super::{Kind, Simple};

/// Clock ticks per second of `/proc/self/stat` (the Linux `USER_HZ`, 100 on every mainstream
/// architecture).
const TICKS_PER_SECOND: f64 = 100.0;
/// The page size assumed for `/proc/self/statm`.
const PAGE_SIZE: f64 = 4096.0;

fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

fn resident_bytes() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * PAGE_SIZE)
}

/// `process_cpu_seconds_total` and `process_resident_memory_bytes`, the names Prometheus
/// client libraries use (and the shipped dashboards read).
pub(crate) fn metrics() -> Vec<Simple<'static>> {
    let mut out = Vec::new();
    if let Some(cpu) = cpu_seconds() {
        out.push(Simple {
            name: "process_cpu_seconds_total",
            kind: Kind::Counter,
            unit: Some(Unit::Seconds),
            help: "Total user and system CPU time spent in seconds.",
            samples: vec![(Vec::new(), cpu)],
        });
    }
    if let Some(rss) = resident_bytes() {
        out.push(Simple {
            name: "process_resident_memory_bytes",
            kind: Kind::Gauge,
            unit: Some(Unit::Bytes),
            help: "Resident memory size in bytes.",
            samples: vec![(Vec::new(), rss)],
        });
    }
    out
}
