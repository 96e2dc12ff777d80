//! Reading a process's CPU time and memory, and the machine's CPU use, from `/proc` (Linux).

use std::io;

/// What `/proc` says about one process at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcSample {
    /// User plus system CPU time of all its threads so far, in seconds.
    pub cpu_secs: f64,
    /// Resident set size now, in KiB (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident set size, in KiB (`VmHWM`), since start or since [`reset_peak_rss`].
    pub peak_rss_kib: u64,
}

/// The kernel's clock ticks per second (the unit of `utime` and `stime`).
pub fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// Samples process `pid`.
pub fn sample(pid: u32) -> io::Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let ticks = cpu_ticks(&stat).ok_or_else(|| io::Error::other("unreadable /proc/PID/stat"))?;
    Ok(ProcSample {
        cpu_secs: ticks as f64 / clock_ticks_per_sec(),
        rss_kib: status_kib(&status, "VmRSS:").unwrap_or(0),
        peak_rss_kib: status_kib(&status, "VmHWM:").unwrap_or(0),
    })
}

/// Samples this process.
pub fn sample_self() -> io::Result<ProcSample> {
    sample(std::process::id())
}

/// Resets the peak RSS (`VmHWM`) of `pid` to its current RSS, so that a later sample gives the peak of what
/// happened in between. Returns false where the kernel does not allow it.
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// `utime + stime` in clock ticks, from the text of `/proc/PID/stat`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); utime is field 14 and stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A `kB` value of `/proc/PID/status`.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// CPU time of every process but those in `exclude`, in seconds, by pid (a snapshot of `/proc`).
#[derive(Clone, Debug, Default)]
pub struct OthersCpu {
    by_pid: std::collections::HashMap<u32, u64>,
    /// Processes started since boot (`/proc/stat`): a rise means something else started programs.
    forks: u64,
}

impl OthersCpu {
    /// Samples every process but `exclude`.
    pub fn sample(exclude: &[u32]) -> Self {
        let mut by_pid = std::collections::HashMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                if exclude.contains(&pid) {
                    continue;
                }
                if let Some(ticks) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|stat| cpu_ticks(&stat))
                {
                    by_pid.insert(pid, ticks);
                }
            }
        }
        let forks = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("processes "))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0);
        Self { by_pid, forks }
    }

    /// CPU seconds those processes used between `earlier` and `self` (processes that started and ended in
    /// between are missed: see [`OthersCpu::forks_since`]).
    pub fn cpu_secs_since(&self, earlier: &OthersCpu) -> f64 {
        let ticks: u64 = self
            .by_pid
            .iter()
            .map(|(pid, t)| t.saturating_sub(earlier.by_pid.get(pid).copied().unwrap_or(0)))
            .sum();
        ticks as f64 / clock_ticks_per_sec()
    }

    /// Processes started between `earlier` and `self`.
    pub fn forks_since(&self, earlier: &OthersCpu) -> u64 {
        self.forks.saturating_sub(earlier.forks)
    }
}

/// Busy and total CPU time of the whole machine, in clock ticks, from `/proc/stat`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MachineCpu {
    busy: u64,
    total: u64,
}

impl MachineCpu {
    /// Samples `/proc/stat` (zeros if unreadable).
    pub fn sample() -> Self {
        std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|text| parse_machine_cpu(&text))
            .unwrap_or_default()
    }

    /// Share of the machine's CPU time that was busy between `earlier` and `self`, in percent.
    pub fn busy_percent_since(&self, earlier: &MachineCpu) -> f64 {
        let total = self.total.saturating_sub(earlier.total);
        if total == 0 {
            return 0.0;
        }
        100.0 * self.busy.saturating_sub(earlier.busy) as f64 / total as f64
    }
}

fn parse_machine_cpu(text: &str) -> Option<MachineCpu> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal guest guest_nice: idle and iowait are not busy, and
    // guest time is already counted in user.
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Some(MachineCpu {
        busy: total.saturating_sub(idle),
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_a_strange_command_name() {
        let stat = "1234 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 9 0 100 2000 300";
        assert_eq!(cpu_ticks(stat), Some(300));
    }

    #[test]
    fn status_values() {
        let status = "Name:\tx\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(status_kib(status, "VmHWM:"), Some(20480));
        assert_eq!(status_kib(status, "VmRSS:"), Some(10240));
        assert_eq!(status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn machine_busy_share() {
        let a = parse_machine_cpu("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3\n").unwrap();
        let b = parse_machine_cpu("cpu  200 0 200 1000 0 0 0 0 0 0\n").unwrap();
        assert!((b.busy_percent_since(&a) - 50.0).abs() < 1e-9);
    }

    #[test]
    fn other_processes_are_sampled() {
        let me = std::process::id();
        let a = OthersCpu::sample(&[me]);
        assert!(!a.by_pid.contains_key(&me));
        assert!(a.forks > 0);
        let b = OthersCpu::sample(&[me]);
        assert!(b.cpu_secs_since(&a) >= 0.0);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let s = sample_self().unwrap();
        assert!(s.rss_kib > 0 && s.peak_rss_kib >= s.rss_kib);
    }
}
