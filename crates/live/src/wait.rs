//! How long a sysmon call may wait inside a query, and the wait itself.
//!
//! DuckDB cancels a query (`con.interrupt()`, Ctrl-C in the shell) by setting a flag that only
//! DuckDB's own operators read: its C API (the stable v1.2.0 surface sysmon is built against,
//! and the unstable one up to DuckDB 2.0) gives a table function no way to see that flag, and a
//! scan call that has not returned cannot be stopped. So the rule is: no call waits longer than
//! [`BOUND`] unless it can notice an interrupt; a wait that would be longer is refused at once
//! with an error that says what to do instead. docs/tables.md's "Windows" section states the rule.

use std::io;
use std::time::{Duration, Instant};

use crate::Clock;
use crate::ring::Window;
use sysmon_kernel::interval::describe;

/// The longest wait a call may make when it cannot notice an interrupt (defined in the kernel
/// crate, whose netlink dumps are bounded by it too).
pub use sysmon_kernel::bound::BOUND;
/// A wait sleeps in slices this long, checking for an interrupt between them.
pub const SLICE: Duration = Duration::from_millis(50);

/// Why a wait did not happen or did not finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Reaching the deadline needs this long, more than the bound.
    TooLong(Duration),
    /// `is_interrupted` said so during the wait.
    Interrupted,
}

/// Sleeps until `deadline` in slices of at most [`SLICE`], asking `is_interrupted` before each.
/// A deadline further away than `bound` is refused at once, without sleeping.
pub fn until(
    clock: &dyn Clock,
    deadline: Instant,
    bound: Duration,
    is_interrupted: &mut dyn FnMut() -> bool,
) -> Result<(), Refused> {
    let needed = deadline.saturating_duration_since(clock.now());
    if needed > bound {
        return Err(Refused::TooLong(needed));
    }
    loop {
        if is_interrupted() {
            return Err(Refused::Interrupted);
        }
        let left = deadline.saturating_duration_since(clock.now());
        if left.is_zero() {
            return Ok(());
        }
        clock.sleep_until(clock.now() + left.min(SLICE));
    }
}

/// The recorder call that keeps host samples (for the windows of the host-wide tables).
pub const HOST_RECORDER: &str = "record_metrics('<dir>', INTERVAL '1 second')";
/// The recorder call that keeps process CPU times (for `system_processes` windows).
pub const PROCESS_RECORDER: &str = "record_metrics('<dir>', INTERVAL '1 second', tables := ['processes'], \
     process_interval := INTERVAL '1 second')";

/// Waits on `clock` until a window's base sample is old enough (`ready_at`), or
/// refuses with an error that says what to do. `oldest` gives the oldest sample kept for this
/// kind of window (asked only when refusing); `recorder` is the recorder call that would keep
/// samples.
///
/// No DuckDB version tells a table function about an interrupt (see the module text), so the
/// wait is bounded by [`BOUND`] and never interrupted.
pub fn for_base(
    clock: &dyn Clock,
    ready_at: Instant,
    window: Window,
    oldest: impl FnOnce() -> Option<Instant>,
    recorder: &str,
) -> io::Result<()> {
    until(clock, ready_at, BOUND, &mut || false).map_err(|refused| {
        let age = oldest().map(|t| clock.now().saturating_duration_since(t));
        refusal_error(refused, window, age, recorder)
    })
}

/// The error of a refused window wait.
pub fn refusal_error(refused: Refused, window: Window, oldest_age: Option<Duration>, recorder: &str) -> io::Error {
    let w = describe(window.min_age());
    let text = match refused {
        Refused::Interrupted => format!("interrupted while waiting for a sample {w} old"),
        Refused::TooLong(needed) => {
            // A window is accepted up to an hour (half the ring's span).
            let longest = match oldest_age.map(|a| a.min(crate::ring::MAX_AGE / 2)) {
                Some(age) if age >= crate::ring::DEFAULT_MIN_WINDOW => {
                    format!("the longest window available now is {}", seconds(age, false))
                }
                _ => "no window longer than the default is available yet".to_string(),
            };
            format!(
                "a \"window\" of {w} needs a sample taken {w} to twice that ago, and none is kept ({longest}); \
                 waiting {} inside the query could not be cancelled, and sysmon never waits more than {} \
                 in a query. Ask again in {} (this call's sample is kept), use a shorter window, or start a \
                 recorder ({recorder}) so that samples are kept in the background",
                seconds(needed, true),
                describe(BOUND),
                seconds(needed, true),
            )
        }
    };
    io::Error::new(io::ErrorKind::WouldBlock, text)
}

/// A duration for people, rounded up or down: tenths of seconds under a minute (`4.3 s`),
/// else minutes and whole seconds (`116 min 40 s`).
fn seconds(d: Duration, up: bool) -> String {
    let ms = d.as_millis();
    let tenths = if up { ms.div_ceil(100) } else { ms / 100 };
    if tenths < 600 {
        return format!("{}.{} s", tenths / 10, tenths % 10);
    }
    let s = if up { ms.div_ceil(1000) } else { ms / 1000 };
    match (s / 60, s % 60) {
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::SystemClock;
    use sysmon_kernel::sync::lock;

    /// A clock that moves only when slept on, recording every sleep.
    #[derive(Debug)]
    struct FakeClock {
        now: Mutex<Instant>,
        sleeps: Mutex<u32>,
        slept: Mutex<Duration>,
    }

    impl FakeClock {
        fn new() -> Self {
            FakeClock {
                now: Mutex::new(Instant::now()),
                sleeps: Mutex::new(0),
                slept: Mutex::new(Duration::ZERO),
            }
        }

        fn set(&self, t: Instant) {
            *lock(&self.now) = t;
        }

        fn sleeps(&self) -> u32 {
            *lock(&self.sleeps)
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Instant {
            *lock(&self.now)
        }

        fn sleep_until(&self, deadline: Instant) {
            let d = deadline.saturating_duration_since(self.now());
            assert!(d <= SLICE && !d.is_zero(), "slept {d:?}");
            self.set(deadline);
            *lock(&self.sleeps) += 1;
            *lock(&self.slept) += d;
        }
    }

    #[test]
    fn waits_in_slices_until_the_deadline() {
        let c = FakeClock::new();
        let deadline = c.now() + Duration::from_millis(730);
        assert_eq!(until(&c, deadline, BOUND, &mut || false), Ok(()));
        assert_eq!(c.now(), deadline);
        assert_eq!(*lock(&c.slept), Duration::from_millis(730));
        assert_eq!(c.sleeps(), 15, "14 slices of 50 ms and one of 30 ms");
    }

    #[test]
    fn a_past_deadline_does_not_sleep() {
        let c = FakeClock::new();
        let deadline = c.now();
        c.set(c.now() + Duration::from_secs(5));
        assert_eq!(until(&c, deadline, BOUND, &mut || false), Ok(()));
        assert_eq!(c.sleeps(), 0);
    }

    #[test]
    fn a_deadline_past_the_bound_is_refused_without_sleeping() {
        let c = FakeClock::new();
        let deadline = c.now() + Duration::from_secs(3600);
        assert_eq!(
            until(&c, deadline, BOUND, &mut || false),
            Err(Refused::TooLong(Duration::from_secs(3600)))
        );
        assert_eq!(c.sleeps(), 0);
        // Exactly the bound is still waited.
        let deadline = c.now() + BOUND;
        assert_eq!(until(&c, deadline, BOUND, &mut || false), Ok(()));
    }

    #[test]
    fn an_interrupt_ends_the_wait_within_a_slice() {
        let c = FakeClock::new();
        let start = c.now();
        let deadline = start + Duration::from_secs(3600);
        let mut asked = 0;
        let got = until(&c, deadline, Duration::MAX, &mut || {
            asked += 1;
            c.now() >= start + Duration::from_millis(120)
        });
        assert_eq!(got, Err(Refused::Interrupted));
        assert_eq!(c.now(), start + Duration::from_millis(150), "noticed at the next slice");
        assert_eq!(asked, 4);
    }

    #[test]
    fn real_clock_waits_briefly() {
        let t = Instant::now();
        assert!(until(&SystemClock, t + Duration::from_millis(30), BOUND, &mut || false).is_ok());
        assert!(t.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn for_base_refuses_an_hour_at_once_and_says_what_to_do() {
        let c = FakeClock::new();
        let t = c.now();
        let hour = Window::Exactly(Duration::from_secs(3600));
        let err = for_base(&c, t + Duration::from_secs(3600), hour, || Some(t), HOST_RECORDER).unwrap_err();
        assert_eq!(c.sleeps(), 0, "refused without waiting");
        let text = err.to_string();
        for part in [
            "\"window\" of 1 hour needs a sample taken 1 hour to twice that ago",
            "Ask again in",
            "shorter window",
            "record_metrics('<dir>', INTERVAL '1 second')",
            "more than 1 s",
            "no window longer than the default",
        ] {
            assert!(text.contains(part), "{part:?} missing from: {text}");
        }
    }

    #[test]
    fn live_windows_older_than_the_kept_history_are_refused_at_once() {
        // Nothing in a test process is an hour old: both live waits must refuse, not sleep.
        let hour = Window::Exactly(Duration::from_secs(3600));
        let t = Instant::now();
        let live = crate::LiveState::new(sysmon_kernel::procfs::Roots::default());
        let e = live.window_pair(hour).unwrap_err();
        assert!(e.to_string().contains(HOST_RECORDER), "{e}");
        let fields = sysmon_kernel::readers::processes::ProcessFields::default();
        let e = live.process_pair(hour, fields).unwrap_err();
        assert!(e.to_string().contains(PROCESS_RECORDER), "{e}");
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "a refusal waited {:?}",
            t.elapsed()
        );
    }

    #[test]
    fn refusal_names_the_longest_window_available() {
        let w = Window::Exactly(Duration::from_secs(600));
        let e = refusal_error(
            Refused::TooLong(Duration::from_millis(4210)),
            w,
            Some(Duration::from_millis(45_800)),
            "r",
        );
        let text = e.to_string();
        assert!(text.contains("the longest window available now is 45.8 s"), "{text}");
        assert!(text.contains("Ask again in 4.3 s"), "{text}");
        let e = refusal_error(
            Refused::TooLong(Duration::from_millis(3_500_001)),
            w,
            Some(Duration::from_secs(7000)),
            "r",
        );
        assert!(e.to_string().contains("available now is 60 min)"), "{e}");
        assert!(e.to_string().contains("Ask again in 58 min 21 s"), "{e}");
        let e = refusal_error(
            Refused::TooLong(Duration::from_secs(2)),
            w,
            Some(Duration::from_millis(150_999)),
            "r",
        );
        assert!(e.to_string().contains("available now is 2 min 30 s)"), "{e}");
    }
}
