//! How the frame clock's thread is scheduled: a short timer slack always, real-time
//! scheduling only when asked for and allowed, and a refusal reported, never an error.
//! Each test looks from inside the clock thread (its frame output) on the virtual clock.
#![cfg(target_os = "linux")]

mod common;

use std::sync::mpsc;
use std::time::Duration;

use voxpace_core::{
    Format, FrameClock, FrameClockStats, Scheduling, Track, TrackConfig, VirtualClock,
};

/// What the clock thread says of itself: its timer slack (ns), policy and priority.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Seen {
    slack_ns: i32,
    policy: i32,
    priority: i32,
}

fn seen_here() -> Seen {
    // SAFETY: both only read the calling thread's settings into the values given.
    let slack_ns = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
    let mut policy = 0;
    let mut param = libc::sched_param { sched_priority: 0 };
    unsafe { libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param) };
    Seen {
        slack_ns,
        policy,
        priority: param.sched_priority,
    }
}

/// Start a clock as `scheduling` asks, render one frame on it, and report what its thread
/// said of itself and the clock's stats.
fn clock_thread(scheduling: Scheduling) -> (Seen, FrameClockStats) {
    let clock = VirtualClock::new();
    let fc = FrameClock::start_with(clock.clone(), Duration::from_millis(20), scheduling);
    let (tx, rx) = mpsc::channel();
    let track = Track::new(Format::default(), TrackConfig::default()).unwrap();
    fc.add(track, move |_, _| {
        let _ = tx.send(seen_here());
        true
    });
    let seen = (0..1000)
        .find_map(|_| {
            clock.advance(Duration::from_millis(1));
            rx.recv_timeout(Duration::from_millis(5)).ok()
        })
        .expect("the clock rendered a frame");
    let stats = fc.stats();
    fc.stop();
    (seen, stats)
}

#[test]
fn an_ordinary_clock_thread_asks_for_a_short_timer_slack() {
    let (seen, stats) = clock_thread(Scheduling::Normal);
    assert_eq!(seen.slack_ns, 1_000, "1 µs, not Linux's default 50 µs");
    assert_eq!(seen.policy, libc::SCHED_OTHER);
    assert!(!stats.realtime);
}

#[test]
fn real_time_scheduling_is_reported_as_the_thread_has_it() {
    // Granted or not depends on the process (root, CAP_SYS_NICE, RLIMIT_RTPRIO); what the
    // stats say must be what the thread has.
    let (seen, stats) = clock_thread(Scheduling::Realtime(10));
    if stats.realtime {
        assert_eq!((seen.policy, seen.priority), (libc::SCHED_FIFO, 10));
    } else {
        assert_eq!(seen.policy, libc::SCHED_OTHER);
    }
    // Out of range is brought into 1..=99, never an error.
    let (seen, stats) = clock_thread(Scheduling::Realtime(200));
    if stats.realtime {
        assert_eq!(seen.priority, 99);
    }
}

/// `capset`'s header and one of its two data words (`linux/capability.h`, version 3).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const CAP_SYS_NICE: u32 = 23;

/// Drop CAP_SYS_NICE from the calling thread (capabilities are per thread, and a thread
/// it spawns inherits them), so that it may not ask for real-time scheduling.
fn drop_sys_nice() {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget/capset read and write the header and the two data words given.
    let got = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    assert_eq!(got, 0, "capget");
    let bit = !(1u32 << CAP_SYS_NICE);
    data[0].effective &= bit;
    data[0].permitted &= bit;
    data[0].inheritable &= bit;
    let set = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    assert_eq!(set, 0, "capset");
}

#[test]
fn a_refused_real_time_request_leaves_an_ordinary_clock_that_renders() {
    // On a thread that may not (the clock thread inherits its capabilities); RLIMIT_RTPRIO
    // is 0 unless someone raised it, and 99 is beyond any usual allowance.
    let (seen, stats) = std::thread::spawn(|| {
        drop_sys_nice();
        clock_thread(Scheduling::Realtime(99))
    })
    .join()
    .unwrap();
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct given.
    unsafe { libc::getrlimit(libc::RLIMIT_RTPRIO, &mut limit) };
    if limit.rlim_cur < 99 {
        assert!(!stats.realtime, "refused without CAP_SYS_NICE");
        assert_eq!(seen.policy, libc::SCHED_OTHER);
    }
    // `seen` came from a frame it rendered.
    assert_eq!(seen.slack_ns, 1_000);
}
