//! How a [`crate::FrameClock`]'s thread asks the OS to run it: a short timer slack always,
//! real-time scheduling only when asked for and allowed.
//!
//! Every frame of every track on the clock is late by however late the thread wakes. On a
//! shared machine that is mostly preemption (the producers and the rest of the process
//! compete for the same cores), which only a real-time policy cures; so a caller who may
//! (root, `CAP_SYS_NICE`, or an `RLIMIT_RTPRIO` allowance) can ask for `SCHED_FIFO`. It is
//! off by default, and a refusal is reported ([`crate::FrameClockStats::realtime`]), never
//! an error: the clock runs as an ordinary thread then. The timer slack is cut for every
//! clock thread: Linux lets an ordinary thread's sleep end up to 50 µs late by default,
//! and `Clock::block_until` spins through the overshoot it sees, CPU the producers lack.

/// How the clock thread is scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheduling {
    /// An ordinary thread (the default).
    #[default]
    Normal,
    /// `SCHED_FIFO` at this priority (1 to 99; other values are brought into that range)
    /// if the process may; an ordinary thread otherwise. Linux only. The thread then runs
    /// before every ordinary thread on its core whenever a slot is due: a clock with more
    /// tracks than it renders in a period leaves them only what Linux reserves for them
    /// (`sched_rt_runtime_us`, 5 % by default).
    Realtime(u8),
}

/// The timer slack asked for (Linux's default for an ordinary thread is 50 µs).
pub(crate) const TIMER_SLACK: std::time::Duration = std::time::Duration::from_micros(1);

/// Apply `scheduling` and the short timer slack to the calling thread; whether real-time
/// scheduling was granted.
#[cfg(target_os = "linux")]
pub(crate) fn apply(scheduling: Scheduling) -> bool {
    // SAFETY: PR_SET_TIMERSLACK takes a value and changes only the calling thread's slack.
    // A failure leaves the default slack, which is only less precise.
    unsafe {
        libc::prctl(
            libc::PR_SET_TIMERSLACK,
            TIMER_SLACK.as_nanos() as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    match scheduling {
        Scheduling::Normal => false,
        Scheduling::Realtime(priority) => {
            let param = libc::sched_param {
                sched_priority: priority.clamp(1, 99) as libc::c_int,
            };
            // SAFETY: `pthread_self` is the calling thread, and `param` outlives the call,
            // which only reads it. A refusal (EPERM) changes nothing.
            unsafe {
                libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) == 0
            }
        }
    }
}

/// Elsewhere the thread stays as the OS made it.
#[cfg(not(target_os = "linux"))]
pub(crate) fn apply(_scheduling: Scheduling) -> bool {
    false
}
