//! Wall-clock time as sysmon stores it.

/// A point in time, as microseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub micros: i64,
}

impl Timestamp {
    pub fn from_micros(micros: i64) -> Self {
        Timestamp { micros }
    }

    pub fn from_system_time(t: std::time::SystemTime) -> Self {
        let micros = match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
        };
        Timestamp { micros }
    }

    pub fn now() -> Self {
        Self::from_system_time(std::time::SystemTime::now())
    }
}
