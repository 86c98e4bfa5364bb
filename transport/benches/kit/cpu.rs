//! A process's CPU time as the kernel counts it (utime + stime of all its threads, from
//! `/proc/<pid>/stat`), and the load average: the figures a bench reports beside each other.

use std::process::Command;
use std::time::Instant;

/// utime + stime (clock ticks) from a `/proc/.../stat` text: fields 14 and 15, counted
/// after the parenthesised command name (which may hold spaces).
pub fn stat_ticks(stat: &str) -> Option<u64> {
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// CPU ticks used so far by every thread of `pid` (live and exited ones alike).
pub fn process_ticks(pid: u32) -> std::io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    stat_ticks(&stat).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unreadable /proc/{pid}/stat: {stat}"),
        )
    })
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux when that is unavailable).
pub fn clock_tick() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` gives them (`a/b/c`).
pub fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join("/")
}

/// CPU of one process over a window: started by [`CpuMeter::start`], read by
/// [`CpuMeter::stop`].
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    pid: u32,
    ticks: u64,
    wall: Instant,
}

/// What a process used over a window.
#[derive(Debug, Clone, Copy)]
pub struct CpuUsed {
    /// CPU seconds (all threads).
    pub cpu_secs: f64,
    /// Wall-clock seconds of the window.
    pub wall_secs: f64,
}

impl CpuUsed {
    /// Share of one core over the window, in percent.
    pub fn percent_of_core(&self) -> f64 {
        self.cpu_secs / self.wall_secs * 100.0
    }
}

impl CpuMeter {
    pub fn start(pid: u32) -> std::io::Result<Self> {
        Ok(Self {
            pid,
            ticks: process_ticks(pid)?,
            wall: Instant::now(),
        })
    }

    pub fn stop(&self) -> std::io::Result<CpuUsed> {
        let ticks = process_ticks(self.pid)?;
        Ok(CpuUsed {
            cpu_secs: (ticks - self.ticks) as f64 / clock_tick(),
            wall_secs: self.wall.elapsed().as_secs_f64(),
        })
    }
}

/// This process's own CPU meter (the bench's listeners, to tell apart from the server's).
pub fn own() -> std::io::Result<CpuMeter> {
    CpuMeter::start(std::process::id())
}

/// Context switches so far of `pid`'s live threads (voluntary + involuntary, from each
/// `/proc/<pid>/task/<tid>/status`): each is a thread going to sleep or being preempted, so
/// their rate counts the wake-ups a design costs. Threads that exited are not counted.
pub fn context_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}
