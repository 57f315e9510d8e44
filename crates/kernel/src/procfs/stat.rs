//! `/proc/stat`: CPU time by mode (total and per CPU), context switches, interrupts, forks,
//! runnable and blocked tasks, boot time.

use super::parse_u64;

/// CPU time by mode, in clock ticks (`USER_HZ`, see `clock_ticks_per_sec`).
///
/// Kernels before 2.6.11 lack `steal`, before 2.6.24 `guest`, before 2.6.33 `guest_nice`:
/// those are `None` there. `guest` and `guest_nice` are already counted inside `user` and
/// `nice`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: Option<u64>,
    pub irq: Option<u64>,
    pub softirq: Option<u64>,
    pub steal: Option<u64>,
    pub guest: Option<u64>,
    pub guest_nice: Option<u64>,
}

impl CpuTimes {
    /// Parses the numbers after `cpu`/`cpuN`; `None` if fewer than the four fields every kernel has.
    pub fn parse<'a>(mut fields: impl Iterator<Item = &'a str>) -> Option<CpuTimes> {
        let mut next = || fields.next().and_then(parse_u64);
        let user = next()?;
        let nice = next()?;
        let system = next()?;
        let idle = next()?;
        Some(CpuTimes {
            user,
            nice,
            system,
            idle,
            iowait: next(),
            irq: next(),
            softirq: next(),
            steal: next(),
            guest: next(),
            guest_nice: next(),
        })
    }

    /// All time that passed, in ticks: every mode but guest and guest_nice (already in user and
    /// nice). Saturates rather than overflowing on nonsense input.
    pub fn total(&self) -> u64 {
        [
            self.user,
            self.nice,
            self.system,
            self.idle,
            self.iowait.unwrap_or(0),
            self.irq.unwrap_or(0),
            self.softirq.unwrap_or(0),
            self.steal.unwrap_or(0),
        ]
        .into_iter()
        .fold(0u64, u64::saturating_add)
    }
}

/// One logical CPU's line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuLine {
    /// The N of `cpuN`.
    pub cpu: u32,
    pub times: CpuTimes,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    /// The aggregate `cpu` line.
    pub total: Option<CpuTimes>,
    /// One entry per online CPU, in the kernel's order.
    pub cpus: Vec<CpuLine>,
    /// `ctxt`: context switches since boot.
    pub context_switches: Option<u64>,
    /// First number of `intr`: interrupts serviced since boot.
    pub interrupts: Option<u64>,
    /// `processes`: forks since boot.
    pub forks: Option<u64>,
    pub procs_running: Option<u64>,
    pub procs_blocked: Option<u64>,
    /// `btime`: boot time, seconds since the Unix epoch.
    pub boot_time: Option<u64>,
}

impl Stat {
    /// Parses the text of `/proc/stat`, reusing `self.cpus`'s allocation.
    pub fn parse_into(&mut self, text: &str) {
        self.total = None;
        self.cpus.clear();
        self.context_switches = None;
        self.interrupts = None;
        self.forks = None;
        self.procs_running = None;
        self.procs_blocked = None;
        self.boot_time = None;
        for line in text.lines() {
            let mut fields = line.split_ascii_whitespace();
            let Some(key) = fields.next() else { continue };
            if let Some(rest) = key.strip_prefix("cpu") {
                if rest.is_empty() {
                    self.total = CpuTimes::parse(fields);
                } else if let (Ok(cpu), Some(times)) = (rest.parse(), CpuTimes::parse(fields)) {
                    self.cpus.push(CpuLine { cpu, times });
                }
                continue;
            }
            let value = fields.next().and_then(parse_u64);
            match key {
                "ctxt" => self.context_switches = value,
                "intr" => self.interrupts = value,
                "processes" => self.forks = value,
                "procs_running" => self.procs_running = value,
                "procs_blocked" => self.procs_blocked = value,
                "btime" => self.boot_time = value,
                _ => {}
            }
        }
    }

    pub fn parse(text: &str) -> Stat {
        let mut s = Stat::default();
        s.parse_into(text);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODERN: &str = "cpu  10132153 290696 3084719 46828483 16683 0 25195 0 175628 0
cpu0 1393280 32966 572056 13343292 6130 0 17875 0 23933 0
cpu1 1335302 29598 536201 13417300 4016 0 2549 0 21563 0
intr 199292 20 0 0
ctxt 4321
btime 1700000000
processes 555
procs_running 3
procs_blocked 1
softirq 1 2 3
";

    #[test]
    fn parses_modern_kernel() {
        let s = Stat::parse(MODERN);
        let t = s.total.unwrap();
        assert_eq!(t.user, 10132153);
        assert_eq!(t.guest, Some(175628));
        assert_eq!(t.guest_nice, Some(0));
        assert_eq!(t.total(), 10132153 + 290696 + 3084719 + 46828483 + 16683 + 25195);
        assert_eq!(s.cpus.len(), 2);
        assert_eq!(s.cpus[1].cpu, 1);
        assert_eq!(s.cpus[1].times.idle, 13417300);
        assert_eq!(s.interrupts, Some(199292));
        assert_eq!(s.context_switches, Some(4321));
        assert_eq!(s.forks, Some(555));
        assert_eq!(s.procs_running, Some(3));
        assert_eq!(s.procs_blocked, Some(1));
        assert_eq!(s.boot_time, Some(1700000000));
    }

    #[test]
    fn old_kernel_lacks_steal_and_guest() {
        let s = Stat::parse("cpu 1 2 3 4 5 6 7\ncpu0 1 2 3 4 5 6 7\nctxt 9\n");
        let t = s.total.unwrap();
        assert_eq!(t.softirq, Some(7));
        assert_eq!(t.steal, None);
        assert_eq!(t.guest, None);
        assert_eq!(t.guest_nice, None);
        assert_eq!(s.procs_blocked, None);
        assert_eq!(s.boot_time, None);
    }

    #[test]
    fn malformed_and_truncated_lines_are_skipped() {
        let s = Stat::parse("cpu 1 2\ncpuX 1 2 3 4\ncpu3 1 2 3 4\nctxt\nintr abc\ncpu4 1 2 3 4 5 6 7 8 9 10 11 12\n");
        assert_eq!(s.total, None);
        assert_eq!(s.cpus.len(), 2);
        assert_eq!(s.cpus[0].cpu, 3);
        assert_eq!(s.cpus[0].times.iowait, None);
        assert_eq!(s.context_switches, None);
        assert_eq!(s.interrupts, None);
        assert_eq!(Stat::parse(""), Stat::default());
    }
}
