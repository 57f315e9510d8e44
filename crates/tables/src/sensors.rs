//! `system_sensors()`: temperatures and fans from `/sys/class/hwmon` and `/sys/class/thermal`.

use std::io;
use std::time::Instant;

use super::{HostPath, Now, Table};
use sysmon_kernel::host;
use sysmon_live::LiveState;

use crate::schema::Timestamp;
use sysmon_kernel::procfs::Roots;
pub use sysmon_kernel::readers::sensors::{RESCAN, Sensor, SensorKind, SensorReader, SensorReading};

crate::declare_table! {
    /// One row per temperature input (`tempN_input`) and fan input (`fanN_input`) of every
    /// hwmon chip, and one per thermal zone. Many virtual machines expose none: zero rows is
    /// the correct answer there. The values are read at every call; the list of inputs, their
    /// labels and their thresholds are read again every 60 s and as soon as an input vanishes,
    /// so a chip that appears is listed within a minute.
    pub struct SensorsRow => "system_sensors", recorded as "sensors" every interval {
        /// When the sensors were read.
        ts: Timestamp [""],
        /// Host name at that time.
        hostname: String [""],
        /// Stable id: `<chip>/<input>` for hwmon (`coretemp/temp2`, `nct6775/fan1`), `thermal/<zone>` for thermal zones.
        sensor: String [""],
        /// The chip's driver name (hwmon `name`, e.g. `coretemp`, `nvme`, `k10temp`), or the thermal zone's `type`.
        chip: Option<String> [""],
        /// The sysfs directory: `hwmonN` or `thermal_zoneN`.
        device: String [""],
        /// The input's label (`tempN_label`, e.g. `Package id 0`, `Core 1`); NULL where the driver gives none.
        label: Option<String> [""],
        /// Temperature now; NULL for fan rows and unreadable inputs.
        temp_celsius: Option<f64> ["celsius"],
        /// High threshold (`tempN_max`, or a thermal zone's `hot` trip point); NULL where none.
        high_celsius: Option<f64> ["celsius"],
        /// Critical threshold (`tempN_crit`, or a thermal zone's `critical` trip point); NULL where none.
        critical_celsius: Option<f64> ["celsius"],
        /// Fan speed; NULL for temperature rows.
        fan_rpm: Option<u64> ["rpm"],
    }
}

/// A reading of the kernel's [`SensorReader`] as a row at `ts` on `hostname`.
pub fn row(r: SensorReading, ts: Timestamp, hostname: &str) -> SensorsRow {
    let Sensor {
        sensor,
        chip,
        device,
        label,
        high_celsius,
        critical_celsius,
        kind: _,
    } = r.sensor;
    SensorsRow {
        ts,
        hostname: hostname.to_string(),
        sensor,
        chip,
        device,
        label,
        temp_celsius: r.temp_celsius,
        high_celsius,
        critical_celsius,
        fan_rpm: r.fan_rpm,
    }
}

/// The sensors' rows now, read through `reader` (`now` is the caller's clock, for the rescan).
pub fn rows(reader: &mut SensorReader, roots: &Roots, now: Instant, ts: Timestamp, hostname: &str) -> Vec<SensorsRow> {
    reader
        .read(roots, now)
        .into_iter()
        .map(|r| row(r, ts, hostname))
        .collect()
}

/// Reads every sensor below `roots.sys` once (a fresh [`SensorReader`]).
pub fn collect(roots: &Roots, ts: Timestamp, hostname: &str) -> Vec<SensorsRow> {
    rows(&mut SensorReader::default(), roots, Instant::now(), ts, hostname)
}

/// `system_sensors()`.
pub struct Sensors;

impl Table for Sensors {
    type Row = SensorsRow;
    type Options = ();
    type Input = Now;
    const SUMMARY: &'static str =
        "One row per temperature or fan input and thermal zone; none on most virtual machines.";
    const EXAMPLE: &'static str = "SELECT sensor, label, temp_celsius, critical_celsius, fan_rpm FROM system_sensors()";
    const FILES: &'static [&'static str] = &["/sys/class/hwmon", "/sys/class/thermal"];
    const HOST_PATHS: &'static [HostPath] = &[HostPath::Sys];

    fn rows(_: &Now, state: &LiveState, _: &()) -> io::Result<Vec<SensorsRow>> {
        let now = state.now();
        Ok(rows(
            &mut state.sensors(),
            state.roots(),
            now,
            Timestamp::now(),
            &host::hostname(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hwmon_and_thermal_fixture() {
        let r = collect(&Roots::test_fixture("modern"), Timestamp::from_micros(0), "h");
        let ids: Vec<_> = r.iter().map(|r| r.sensor.as_str()).collect();
        assert_eq!(
            ids,
            [
                "coretemp/temp1",
                "coretemp/temp2",
                "coretemp/temp10",
                "nct6775/fan1",
                "nct6775/temp1",
                "hwmon10/temp1",
                "thermal/thermal_zone0"
            ]
        );
        let pkg = &r[0];
        assert_eq!(pkg.label.as_deref(), Some("Package id 0"));
        assert_eq!(pkg.temp_celsius, Some(45.0));
        assert_eq!(pkg.high_celsius, Some(80.0));
        assert_eq!(pkg.critical_celsius, Some(100.0));
        assert_eq!(pkg.fan_rpm, None);
        assert_eq!(r[1].temp_celsius, Some(-5.5), "negative millidegrees");
        assert_eq!(r[1].high_celsius, None);
        assert_eq!(r[2].temp_celsius, None, "garbage input is NULL");
        assert_eq!(r[3].fan_rpm, Some(1250));
        assert_eq!(r[3].temp_celsius, None);
        assert_eq!(r[3].label.as_deref(), Some("CPU fän"));
        assert_eq!(
            r[4].chip.as_deref(),
            Some("nct6775"),
            "old layout: attributes under device/"
        );
        assert_eq!(r[5].chip, None, "no name file");
        let z = &r[6];
        assert_eq!(z.chip.as_deref(), Some("x86_pkg_temp"));
        assert_eq!(z.temp_celsius, Some(42.0));
        assert_eq!(z.critical_celsius, Some(105.0));
        assert_eq!(z.high_celsius, None);
    }

    #[test]
    fn no_sensors_no_rows() {
        assert!(collect(&Roots::test_fixture("old-kernel"), Timestamp::from_micros(0), "h").is_empty());
    }
}
