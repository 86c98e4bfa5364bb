//! Waiting for another thread with a bound: a stuck component fails the test with a
//! message, never hangs it, and a fast one is seen at once.

use std::time::{Duration, Instant};

/// Call `f` until it returns `Some` (then that value) or `timeout` has passed (`None`).
/// Polls tightly at first (yielding), then backs off to at most 10 ms between calls.
pub fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    let mut spins = 0u32;
    let mut nap = Duration::from_micros(100);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        spins += 1;
        if spins < 100 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_first_value_or_none_after_the_timeout() {
        let mut n = 0;
        assert_eq!(
            poll_until(Duration::from_secs(5), || {
                n += 1;
                (n == 150).then_some(n)
            }),
            Some(150)
        );
        let start = Instant::now();
        assert_eq!(poll_until(Duration::from_millis(50), || None::<()>), None);
        assert!(start.elapsed() >= Duration::from_millis(50));
    }
}
