//! One registry of numbered background things (recorders, HTTP servers, and what comes next),
//! written once: ids, look-ups, the check `stop_*` makes in bind, the rows of the listing
//! function, and stopping them all at exit.
//!
//! The process object owns one registry per kind and hands it to what starts and stops
//! entries of that kind (`recorder::start(&live, &recorders, config)`): nothing here is
//! process-global.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sysmon_kernel::sync::lock;

/// Where an entry is in its life: what the `state` column of `recordings()` and `servers()`
/// says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Running,
    Stopped,
    /// Ended by itself on an error (the entry's `last_error` says which).
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Stopped => "stopped",
            State::Failed => "failed",
        }
    }
}

/// What a registry holds: something with an id that runs in the background until stopped.
pub trait Entry: Send + Sync + 'static {
    /// The row of the kind's listing function (`recordings()`, `servers()`).
    type Row;
    /// The kind's name in messages: `recorder`, `server`.
    const NOUN: &'static str;
    /// The listing function, as messages name it: `recordings()`, `servers()`.
    const LISTING: &'static str;

    fn id(&self) -> i64;
    fn state(&self) -> State;
    fn row(&self) -> Self::Row;
    /// Asks the entry's threads to stop; returns at once.
    fn request_stop(&self);
    /// Waits at most `timeout` for the entry's threads to finish; whether they did.
    fn wait_finished(&self, timeout: Duration) -> bool;
    /// What stopping still has to do once the threads finished (a final upload), before
    /// `deadline`. Called by [`Registry::stop_all`] after every entry's threads finished.
    fn finish(&self, _deadline: Instant) {}
}

/// The entries of one kind, in the order they started.
#[derive(Debug)]
pub struct Registry<T> {
    list: Mutex<Vec<Arc<T>>>,
    next_id: AtomicI64,
    /// Held while an entry starts, so two starts cannot both pass a check that the other's
    /// entry would fail (two recorders of one directory).
    starting: Mutex<()>,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Registry {
            list: Mutex::new(Vec::new()),
            next_id: AtomicI64::new(1),
            starting: Mutex::new(()),
        }
    }
}

impl<T: Entry> Registry<T> {
    /// The id of the next entry (ids start at 1 and are never reused).
    pub fn next_id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::SeqCst)
    }

    /// Held by a start from its checks until [`Self::add`].
    pub fn starting(&self) -> MutexGuard<'_, ()> {
        lock(&self.starting)
    }

    pub fn add(&self, entry: Arc<T>) {
        lock(&self.list).push(entry);
    }

    /// Every entry, oldest first.
    pub fn all(&self) -> Vec<Arc<T>> {
        lock(&self.list).clone()
    }

    /// The entry with this id, if any.
    pub fn get(&self, id: i64) -> Option<Arc<T>> {
        lock(&self.list).iter().find(|e| e.id() == id).cloned()
    }

    /// The running entry `id` (safe in bind), or an error saying why not.
    pub fn check_stoppable(&self, id: i64) -> Result<Arc<T>, String> {
        let noun = T::NOUN;
        match self.get(id) {
            None => {
                let ids: Vec<String> = lock(&self.list).iter().map(|e| e.id().to_string()).collect();
                Err(match ids.is_empty() {
                    true => format!("no {noun} has id {id}: no {noun} was started in this process"),
                    false => format!("no {noun} has id {id}; ids of this process: {}", ids.join(", ")),
                })
            }
            Some(e) => match e.state() {
                State::Running => Ok(e),
                state => Err(format!("{noun} {id} is already {}; see {}", state.as_str(), T::LISTING)),
            },
        }
    }

    /// Every entry's row, oldest first.
    pub fn rows(&self) -> Vec<T::Row> {
        self.all().iter().map(|e| e.row()).collect()
    }

    /// Stops every entry, waiting at most `timeout` in all: first every entry's threads (all
    /// asked at once), then what each still has to finish, within what is left.
    pub fn stop_all(&self, timeout: Duration) {
        let all = self.all();
        for e in &all {
            e.request_stop();
        }
        let deadline = Instant::now() + timeout;
        for e in &all {
            e.wait_finished(deadline.saturating_duration_since(Instant::now()));
        }
        for e in &all {
            if e.wait_finished(Duration::ZERO) {
                e.finish(deadline);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[derive(Default)]
    struct Job {
        id: i64,
        stop: AtomicBool,
        finished: AtomicBool,
    }

    impl Entry for Job {
        type Row = (i64, bool);
        const NOUN: &'static str = "job";
        const LISTING: &'static str = "jobs()";
        fn id(&self) -> i64 {
            self.id
        }
        fn state(&self) -> State {
            match self.stop.load(Ordering::SeqCst) {
                true => State::Stopped,
                false => State::Running,
            }
        }
        fn row(&self) -> (i64, bool) {
            (self.id, self.stop.load(Ordering::SeqCst))
        }
        fn request_stop(&self) {
            self.stop.store(true, Ordering::SeqCst);
        }
        fn wait_finished(&self, _: Duration) -> bool {
            self.stop.load(Ordering::SeqCst)
        }
        fn finish(&self, _: Instant) {
            self.finished.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn ids_lookups_and_messages() {
        let r: Registry<Job> = Registry::default();
        assert_eq!(
            r.check_stoppable(3).err().unwrap(),
            "no job has id 3: no job was started in this process"
        );
        for _ in 0..2 {
            let id = r.next_id();
            r.add(Arc::new(Job { id, ..Job::default() }));
        }
        assert_eq!(r.rows(), vec![(1, false), (2, false)]);
        assert_eq!(r.check_stoppable(2).unwrap().id, 2);
        assert_eq!(
            r.check_stoppable(7).err().unwrap(),
            "no job has id 7; ids of this process: 1, 2"
        );
        r.get(1).unwrap().request_stop();
        assert_eq!(
            r.check_stoppable(1).err().unwrap(),
            "job 1 is already stopped; see jobs()"
        );
    }

    #[test]
    fn stop_all_stops_then_finishes_each() {
        let r: Registry<Job> = Registry::default();
        for _ in 0..3 {
            let id = r.next_id();
            r.add(Arc::new(Job { id, ..Job::default() }));
        }
        r.stop_all(Duration::from_secs(1));
        assert!(
            r.all()
                .iter()
                .all(|j| j.stop.load(Ordering::SeqCst) && j.finished.load(Ordering::SeqCst))
        );
        assert_eq!(r.next_id(), 4, "ids are never reused");
    }
}
