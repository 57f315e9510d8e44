//! `/proc/loadavg`: load averages and the number of tasks.

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LoadAvg {
    pub load_1m: f64,
    pub load_5m: f64,
    pub load_15m: f64,
    /// Runnable tasks now (the number before the slash).
    pub runnable: Option<u64>,
    /// Tasks (processes and threads) that exist (the number after the slash).
    pub tasks: Option<u64>,
    /// The pid the kernel gave last, to a process or a thread, in the reader's pid namespace:
    /// the same at two reads means no task was made in between (bar the whole pid space
    /// going round to the same number).
    pub last_pid: Option<u64>,
}

impl LoadAvg {
    pub fn parse(text: &str) -> Option<LoadAvg> {
        let mut f = text.split_ascii_whitespace();
        let load_1m = f.next()?.parse().ok()?;
        let load_5m = f.next()?.parse().ok()?;
        let load_15m = f.next()?.parse().ok()?;
        let (runnable, tasks) = match f.next().and_then(|s| s.split_once('/')) {
            Some((r, t)) => (r.parse().ok(), t.parse().ok()),
            None => (None, None),
        };
        let last_pid = f.next().and_then(|s| s.parse().ok());
        Some(LoadAvg {
            load_1m,
            load_5m,
            load_15m,
            runnable,
            tasks,
            last_pid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let l = LoadAvg::parse("0.52 0.58 0.59 2/1034 12345\n").unwrap();
        assert_eq!((l.load_1m, l.load_5m, l.load_15m), (0.52, 0.58, 0.59));
        assert_eq!((l.runnable, l.tasks, l.last_pid), (Some(2), Some(1034), Some(12345)));
        assert_eq!(LoadAvg::parse("0.1 0.2\n"), None);
        assert_eq!(LoadAvg::parse("0.1 0.2 0.3\n").unwrap().tasks, None);
        assert_eq!(LoadAvg::parse("0.1 0.2 0.3 1/9\n").unwrap().last_pid, None);
    }
}
