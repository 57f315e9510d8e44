//! The monotonic clock windows are measured on: the real one, and a test's fake one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync::lock;

/// The monotonic clock windows are measured on.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Instant;
    /// Returns once `now()` has reached `deadline`.
    fn sleep_until(&self, deadline: Instant);
}

/// The real clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) {
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    }
}

/// A clock that moves only when slept on or advanced: a test's time, without waiting.
#[derive(Debug)]
pub struct FakeClock {
    now: Mutex<Instant>,
}

impl Default for FakeClock {
    fn default() -> Self {
        FakeClock {
            now: Mutex::new(Instant::now()),
        }
    }
}

impl FakeClock {
    pub fn advance(&self, by: Duration) {
        *lock(&self.now) += by;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        *lock(&self.now)
    }

    fn sleep_until(&self, deadline: Instant) {
        let mut now = lock(&self.now);
        *now = (*now).max(deadline);
    }
}
