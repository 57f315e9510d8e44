//! `/proc/pressure/{cpu,memory,io,irq}`: pressure stall information (Linux 4.20+, when enabled).

/// One line of a pressure file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PressureLine {
    /// `true` for `full`, `false` for `some`.
    pub full: bool,
    pub avg10_pct: f64,
    pub avg60_pct: f64,
    pub avg300_pct: f64,
    /// Total stall time, microseconds.
    pub total_us: u64,
}

impl PressureLine {
    pub fn kind(&self) -> &'static str {
        if self.full { "full" } else { "some" }
    }
}

/// Parses a pressure file; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<PressureLine> {
    let mut out = Vec::with_capacity(2);
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let full = match f.next() {
            Some("some") => false,
            Some("full") => true,
            _ => continue,
        };
        let (mut a10, mut a60, mut a300, mut total) = (None, None, None, None);
        for kv in f {
            match kv.split_once('=') {
                Some(("avg10", v)) => a10 = v.parse().ok(),
                Some(("avg60", v)) => a60 = v.parse().ok(),
                Some(("avg300", v)) => a300 = v.parse().ok(),
                Some(("total", v)) => total = v.parse().ok(),
                _ => {}
            }
        }
        if let (Some(avg10_pct), Some(avg60_pct), Some(avg300_pct), Some(total_us)) = (a10, a60, a300, total) {
            out.push(PressureLine {
                full,
                avg10_pct,
                avg60_pct,
                avg300_pct,
                total_us,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_some_and_full() {
        let v = super::parse(
            "some avg10=3.25 avg60=3.00 avg300=0.87 total=3128854\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
        );
        assert_eq!(v.len(), 2);
        assert!(!v[0].full);
        assert_eq!(v[0].avg10_pct, 3.25);
        assert_eq!(v[0].total_us, 3128854);
        assert_eq!(v[1].kind(), "full");
        assert!(super::parse("some avg10=1\nbogus\n").is_empty());
    }
}
