//! Time, injected: one [`Clock`] trait with a real monotonic clock and a virtual clock.
//!
//! The track itself never reads a clock: it counts in samples (`pts`). Only the pacers
//! ([`crate::Pacer`], [`crate::FrameClock`]) ask a clock when the next frame is due, so every
//! timing behaviour runs the same on [`MonotonicClock`] in production and on [`VirtualClock`]
//! in tests, where hours of track time pass in milliseconds. The wall clock is never used.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// A monotonic time source. `now()` is the time since the clock's own origin.
pub trait Clock: Clone + Send + Sync + 'static {
    /// The future returned by [`Clock::sleep_until`].
    type Sleep: Future<Output = ()> + Send;

    /// Time elapsed since this clock's origin. Never goes backwards.
    fn now(&self) -> Duration;

    /// A future that completes once `now() >= deadline`.
    fn sleep_until(&self, deadline: Duration) -> Self::Sleep;

    /// Block the calling OS thread until `now() >= deadline` (used by [`crate::FrameClock`]'s
    /// dedicated thread, which needs sub-millisecond precision that async timers lack). The
    /// monotonic clock sleeps, and spins only the last few microseconds the OS timer cannot
    /// hit (its own overshoot, not a busy machine's scheduling delay).
    fn block_until(&self, deadline: Duration);
}

/// The production clock: `std::time::Instant`, which is monotonic and never jumps.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    type Sleep = tokio::time::Sleep;

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep_until(&self, deadline: Duration) -> Self::Sleep {
        tokio::time::sleep_until(tokio::time::Instant::from_std(self.origin + deadline))
    }

    fn block_until(&self, deadline: Duration) {
        // Sleep for all but the OS timer's usual overshoot, then spin what is left: the
        // spin is only ever as long as the timer is imprecise (tens of microseconds), so a
        // thread that mostly waits costs almost nothing, and still wakes within a few
        // microseconds of its deadline.
        let now = self.now();
        if now >= deadline {
            return;
        }
        let left = deadline - now;
        let overshoot = OVERSHOOT.get();
        let early = overshoot.estimate;
        if left > early {
            let asked = left - early;
            let before = Instant::now();
            std::thread::sleep(asked);
            OVERSHOOT.set(overshoot.after(before.elapsed().saturating_sub(asked)));
        }
        while self.now() < deadline {
            std::hint::spin_loop();
        }
    }
}

thread_local! {
    /// How late `thread::sleep` returns on this thread, as `MonotonicClock::block_until`
    /// has seen it (Linux's default timer slack is 50 µs; a `FrameClock` thread asks for
    /// 1 µs, see `clock_thread.rs`).
    static OVERSHOOT: Cell<Overshoot> = const { Cell::new(Overshoot::new()) };
}

/// The most a sleep is cut short to be spun instead.
const MAX_SPIN: Duration = Duration::from_micros(200);

/// Sleeps in one window of the overshoot estimate.
const WINDOW: u32 = 32;

/// The OS timer's own overshoot: the least a sleep overshot lately. A sleep that was late
/// because the machine was busy says nothing about the timer (spinning would not have
/// helped it, and spinning longer before every later deadline would only burn the CPU a
/// busy machine lacks), so the estimate follows the quietest sleep of a window: down at
/// once, up only when a whole window saw none as quiet.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Overshoot {
    /// What `block_until` spins instead of sleeping.
    estimate: Duration,
    /// The least overshoot in the current window.
    least: Duration,
    /// Sleeps in the current window.
    sleeps: u32,
}

impl Overshoot {
    const fn new() -> Self {
        Self {
            estimate: Duration::from_micros(50),
            least: MAX_SPIN,
            sleeps: 0,
        }
    }

    /// The estimate after one more sleep that overshot by `seen`.
    fn after(self, seen: Duration) -> Self {
        let least = self.least.min(seen.min(MAX_SPIN));
        if self.sleeps + 1 >= WINDOW {
            Self {
                estimate: least,
                least: MAX_SPIN,
                sleeps: 0,
            }
        } else {
            Self {
                estimate: self.estimate.min(least),
                least,
                sleeps: self.sleeps + 1,
            }
        }
    }
}

/// A clock that moves only when told to, for deterministic tests.
///
/// In *manual* mode ([`VirtualClock::new`]) time moves with [`VirtualClock::advance`] and
/// sleepers wake when it passes their deadline. In *auto-advance* mode
/// ([`VirtualClock::auto_advance`]) a sleep jumps the clock straight to its deadline, so a
/// paced loop runs as fast as the CPU allows while every timestamp stays exact.
#[derive(Debug, Clone)]
pub struct VirtualClock {
    inner: Arc<VirtualInner>,
}

#[derive(Debug)]
struct VirtualInner {
    auto: bool,
    state: Mutex<VirtualState>,
    moved: Condvar,
}

#[derive(Debug, Default)]
struct VirtualState {
    now: Duration,
    sleepers: Vec<(Duration, Waker)>,
    /// Deadlines of threads blocked in `block_until`.
    blocked: Vec<Duration>,
}

impl VirtualClock {
    /// A manual clock at time zero.
    pub fn new() -> Self {
        Self::with_mode(false)
    }

    /// A clock at time zero that jumps to each sleep's deadline.
    pub fn auto_advance() -> Self {
        Self::with_mode(true)
    }

    fn with_mode(auto: bool) -> Self {
        Self {
            inner: Arc::new(VirtualInner {
                auto,
                state: Mutex::new(VirtualState::default()),
                moved: Condvar::new(),
            }),
        }
    }

    /// Move time forward by `by` and wake every sleeper whose deadline has passed.
    pub fn advance(&self, by: Duration) {
        let now = self.lock().now + by;
        self.set(now);
    }

    /// Move time forward to `to` (never backwards) and wake due sleepers.
    pub fn set(&self, to: Duration) {
        let due: Vec<Waker> = {
            let mut state = self.lock();
            if to > state.now {
                state.now = to;
            }
            let now = state.now;
            let mut due = Vec::new();
            state.sleepers.retain(|(deadline, waker)| {
                if *deadline <= now {
                    due.push(waker.clone());
                    false
                } else {
                    true
                }
            });
            due
        };
        self.inner.moved.notify_all();
        for waker in due {
            waker.wake();
        }
    }

    /// The earliest deadline a thread is blocked on in [`Clock::block_until`] (a
    /// [`crate::FrameClock`]'s thread waiting for its next slot), if any.
    pub fn blocked_until(&self) -> Option<Duration> {
        self.lock().blocked.iter().min().copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VirtualState> {
        // A poisoned test clock only means another test thread panicked; the time is still valid.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for VirtualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for VirtualClock {
    type Sleep = VirtualSleep;

    fn now(&self) -> Duration {
        self.lock().now
    }

    fn sleep_until(&self, deadline: Duration) -> Self::Sleep {
        VirtualSleep {
            clock: self.clone(),
            deadline,
        }
    }

    fn block_until(&self, deadline: Duration) {
        if self.inner.auto {
            self.set(deadline);
            return;
        }
        let mut state = self.lock();
        if state.now >= deadline {
            return;
        }
        state.blocked.push(deadline);
        while state.now < deadline {
            state = self
                .inner
                .moved
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        if let Some(i) = state.blocked.iter().position(|d| *d == deadline) {
            state.blocked.swap_remove(i);
        }
    }
}

/// The future of [`VirtualClock::sleep_until`].
#[derive(Debug)]
pub struct VirtualSleep {
    clock: VirtualClock,
    deadline: Duration,
}

impl Future for VirtualSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.clock.inner.auto {
            self.clock.set(self.deadline);
            return Poll::Ready(());
        }
        let mut state = self.clock.lock();
        if state.now >= self.deadline {
            return Poll::Ready(());
        }
        state.sleepers.push((self.deadline, cx.waker().clone()));
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_only_when_advanced_past_deadline() {
        let clock = VirtualClock::new();
        let c2 = clock.clone();
        let sleeper = tokio::spawn(async move {
            c2.sleep_until(Duration::from_millis(40)).await;
            c2.now()
        });
        tokio::task::yield_now().await;
        clock.advance(Duration::from_millis(20));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_millis(25));
        assert_eq!(sleeper.await.unwrap(), Duration::from_millis(45));
    }

    #[tokio::test]
    async fn auto_clock_jumps_to_each_deadline() {
        let clock = VirtualClock::auto_advance();
        for k in 1..=3u64 {
            clock.sleep_until(Duration::from_millis(20 * k)).await;
            assert_eq!(clock.now(), Duration::from_millis(20 * k));
        }
        clock.sleep_until(Duration::from_millis(10)).await;
        assert_eq!(clock.now(), Duration::from_millis(60), "never goes back");
    }

    #[test]
    fn the_spin_estimate_follows_the_timer_not_a_busy_machine() {
        let us = Duration::from_micros;
        let window = |mut o: Overshoot, seen: &[Duration]| {
            for i in 0..WINDOW as usize {
                o = o.after(seen[i % seen.len()]);
            }
            o
        };
        // A steady timer 60 µs late: the estimate rises to it after one window, no sooner.
        let o = Overshoot::new().after(us(60));
        assert_eq!(o.estimate, us(50));
        let o = window(Overshoot::new(), &[us(60)]);
        assert_eq!(o.estimate, us(60));
        // A busy machine: most sleeps are milliseconds late, one in eight as the timer is.
        // The estimate stays at the timer's 60 µs, not at the cap.
        let busy = [
            us(5000),
            us(3000),
            us(60),
            us(900),
            us(7000),
            us(2000),
            us(1500),
            us(4000),
        ];
        let o = window(window(o, &busy), &busy);
        assert_eq!(o.estimate, us(60));
        // Nothing but late sleeps for a whole window: never more than the cap.
        let o = window(o, &[us(5000)]);
        assert_eq!(o.estimate, MAX_SPIN);
        // A quieter timer is followed at once.
        assert_eq!(o.after(us(10)).estimate, us(10));
    }

    #[test]
    fn monotonic_block_until_reaches_deadline() {
        let clock = MonotonicClock::new();
        clock.block_until(Duration::from_millis(3));
        assert!(clock.now() >= Duration::from_millis(3));
    }
}
