//! The process-wide ring of recent samples, and the choice of the sample a window starts at.
//!
//! Percentages and rates need two samples. Instead of sleeping on every call (as a peer
//! extension does for 200 ms) or answering 0.0 on the first call (as psutil does), sysmon keeps
//! recent samples here; live queries and the recorder both push every sample they take, and a
//! query computes against a kept sample of the right age.
//!
//! Thinning keeps the ring small yet covering a long past: walking from the oldest entry to the
//! newest, an entry is kept only if it is at least `max(MIN_SPACING, age/8)` younger than the
//! last kept one (the newest is always kept). So kept entries lie about an eighth of their age
//! apart: any window from 20 ms to an hour finds a base between one and two windows old (once
//! samples have been taken that often), and the ring holds on the order of
//! `8·ln(MAX_AGE/MIN_SPACING)` entries whatever the call rate (tested below).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Entries closer together than this are thinned.
pub const MIN_SPACING: Duration = Duration::from_millis(20);
/// Entries older than this are dropped.
pub const MAX_AGE: Duration = Duration::from_secs(2 * 3600);
/// Hard cap on entries (never reached with the thinning above, kept as a guard).
pub const CAPACITY: usize = 256;

/// The shortest window a default call accepts: 100 ms, as top's refresh minimum.
pub const DEFAULT_MIN_WINDOW: Duration = Duration::from_millis(100);

/// What window the caller asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// Against the newest kept sample at least [`DEFAULT_MIN_WINDOW`] old, whatever its age.
    Default,
    /// Against a kept sample between one and two windows old.
    Exactly(Duration),
}

impl Window {
    /// The least age a base sample must have.
    pub fn min_age(self) -> Duration {
        match self {
            Window::Default => DEFAULT_MIN_WINDOW,
            Window::Exactly(w) => w,
        }
    }

    /// The most age a base sample may have.
    pub fn max_age(self) -> Option<Duration> {
        match self {
            Window::Default => None,
            Window::Exactly(w) => w.checked_mul(2),
        }
    }
}

/// Samples of type `T`, each with its monotonic time, oldest first.
#[derive(Debug)]
pub struct Ring<T> {
    entries: VecDeque<(Instant, Arc<T>)>,
}

impl<T> Default for Ring<T> {
    fn default() -> Self {
        Ring {
            entries: VecDeque::new(),
        }
    }
}

impl<T> Ring<T> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a sample taken at `at` (samples pushed out of order are inserted in place).
    pub fn push(&mut self, at: Instant, sample: Arc<T>) {
        let pos = self.entries.iter().rposition(|(t, _)| *t <= at).map_or(0, |p| p + 1);
        self.entries.insert(pos, (at, sample));
        self.thin(at.max(self.entries.back().map_or(at, |(t, _)| *t)));
    }

    fn thin(&mut self, now: Instant) {
        // Oldest to newest, in place (no allocation): an entry stays if it is far enough from
        // the older entry kept before it; the newest always stays.
        let n = self.entries.len();
        let mut i = 0;
        let mut last_kept: Option<Instant> = None;
        self.entries.retain(|(t, _)| {
            let newest = i + 1 == n;
            i += 1;
            let age = now.saturating_duration_since(*t);
            if age > MAX_AGE {
                return false;
            }
            let keep = newest
                || match last_kept {
                    None => true,
                    Some(older) => t.saturating_duration_since(older) >= MIN_SPACING.max(age / 8),
                };
            if keep {
                last_kept = Some(*t);
            }
            keep
        });
        while self.entries.len() > CAPACITY {
            self.entries.pop_front();
        }
    }

    /// The base for `window` at `now`: the newest entry whose age is at least the window's
    /// minimum and at most its maximum.
    pub fn select(&self, now: Instant, window: Window) -> Option<(Instant, Arc<T>)> {
        let min = window.min_age();
        let max = window.max_age();
        self.entries
            .iter()
            .rev()
            .filter(|(t, _)| *t <= now)
            .find(|(t, _)| {
                let age = now.duration_since(*t);
                age >= min && max.is_none_or(|m| age <= m)
            })
            .map(|(t, s)| (*t, s.clone()))
    }

    /// The entries taken at or after `since`, oldest first (as thinned: about an eighth of
    /// their age apart, so the last seconds are dense and older ones sparse).
    pub fn since(&self, since: Instant) -> impl DoubleEndedIterator<Item = (Instant, &Arc<T>)> {
        let start = self.entries.partition_point(|(t, _)| *t < since);
        self.entries.range(start..).map(|(t, s)| (*t, s))
    }

    /// When the oldest entry was taken.
    pub fn oldest(&self) -> Option<Instant> {
        self.entries.front().map(|(t, _)| *t)
    }

    /// When [`select`](Self::select) finds nothing: the oldest entry younger than the
    /// window's minimum, the one that reaches the minimum age soonest.
    pub fn nearest_younger(&self, now: Instant, window: Window) -> Option<(Instant, Arc<T>)> {
        let min = window.min_age();
        self.entries
            .iter()
            .find(|(t, _)| *t <= now && now.duration_since(*t) < min)
            .map(|(t, s)| (*t, s.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_with(ages_ms: &[u64], now: Instant) -> Ring<u64> {
        let mut r = Ring::default();
        for &a in ages_ms {
            r.push(now - Duration::from_millis(a), Arc::new(a));
        }
        r
    }

    #[test]
    fn default_window_takes_newest_at_least_100ms_old() {
        let now = Instant::now() + Duration::from_secs(10_000);
        let r = ring_with(&[5000, 300, 150, 50], now);
        let (_, s) = r.select(now, Window::Default).unwrap();
        assert_eq!(*s, 150);
        let r = ring_with(&[60, 30], now);
        assert!(r.select(now, Window::Default).is_none());
        assert_eq!(*r.nearest_younger(now, Window::Default).unwrap().1, 60);
    }

    #[test]
    fn explicit_window_takes_between_one_and_two_windows() {
        let now = Instant::now() + Duration::from_secs(10_000);
        let r = ring_with(&[9000, 5000, 3000, 1000], now);
        let w = Window::Exactly(Duration::from_secs(2));
        assert_eq!(*r.select(now, w).unwrap().1, 3000);
        let w = Window::Exactly(Duration::from_millis(1400));
        assert!(r.select(now, w).is_none(), "3000 ms is older than two windows of 1.4 s");
        assert_eq!(*r.nearest_younger(now, w).unwrap().1, 1000);
    }

    #[test]
    fn thinning_keeps_ring_small_and_covering() {
        // A call every 5 ms for 10 minutes.
        let start = Instant::now();
        let mut r = Ring::default();
        let mut now = start;
        for i in 0..120_000u64 {
            now = start + Duration::from_millis(5 * i);
            r.push(now, Arc::new(i));
        }
        assert!(r.len() < 100, "ring holds {} entries", r.len());
        for w_ms in [100u64, 250, 1000, 2000, 10_000, 60_000, 240_000] {
            let w = Window::Exactly(Duration::from_millis(w_ms));
            assert!(r.select(now, w).is_some(), "no base for a {w_ms} ms window");
        }
        assert!(r.select(now, Window::Default).is_some());
    }

    #[test]
    fn since_lists_the_newer_entries_oldest_first() {
        let now = Instant::now() + Duration::from_secs(10_000);
        let r = ring_with(&[9000, 5000, 3000, 1000], now);
        let got: Vec<u64> = r.since(now - Duration::from_millis(5000)).map(|(_, s)| **s).collect();
        assert_eq!(got, [5000, 3000, 1000], "the entry exactly at `since` included");
        assert_eq!(r.since(now + Duration::from_secs(1)).count(), 0);
        assert_eq!(r.since(now - Duration::from_secs(60)).count(), 4);
    }

    #[test]
    fn old_entries_expire() {
        let now = Instant::now() + Duration::from_secs(100_000);
        let r = ring_with(&[3 * 3600 * 1000, 10], now);
        assert_eq!(r.len(), 1);
    }
}
