//! `system_sensors()`: temperatures and fans from `/sys/class/hwmon` and `/sys/class/thermal`.

use std::io;

use super::{HostPath, Now, Table};
use crate::host;
use crate::live::LiveState;
use std::path::Path;

use crate::procfs::{Roots, read_trimmed};
use crate::schema::Timestamp;

crate::declare_table! {
    /// One row per temperature input (`tempN_input`) and fan input (`fanN_input`) of every
    /// hwmon chip, and one per thermal zone. Many virtual machines expose none: zero rows is
    /// the correct answer there.
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

/// A sysfs millidegree value as degrees Celsius.
fn millidegrees(path: &Path) -> Option<f64> {
    read_trimmed(path)?
        .trim()
        .parse::<i64>()
        .ok()
        .map(|m| m as f64 / 1000.0)
}

/// Entries of `dir` whose name starts with `prefix`, sorted naturally (`hwmon2` before `hwmon10`).
fn entries(dir: &Path, prefix: &str) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    v.sort_by_key(|n| natural_key(n));
    v
}

fn natural_key(name: &str) -> (String, u64, String) {
    let start = name.find(|c: char| c.is_ascii_digit()).unwrap_or(name.len());
    let digits: String = name[start..].chars().take_while(char::is_ascii_digit).collect();
    let rest = name[start + digits.len()..].to_string();
    (name[..start].to_string(), digits.parse().unwrap_or(0), rest)
}

/// Reads every sensor below `roots.sys`.
pub fn collect(roots: &Roots, ts: Timestamp, hostname: &str) -> Vec<SensorsRow> {
    let mut out = Vec::new();
    let hwmon = roots.sys("class/hwmon");
    for dev in entries(&hwmon, "hwmon") {
        let base = hwmon.join(&dev);
        // Old drivers keep their attributes under `device/`.
        let attr_dir = if base.join("name").exists() || !base.join("device/name").exists() {
            base.clone()
        } else {
            base.join("device")
        };
        let chip = read_trimmed(&attr_dir.join("name")).filter(|s| !s.is_empty());
        let chip_id = chip.clone().unwrap_or_else(|| dev.clone());
        let row = |sensor: String, label, temp, high, crit, fan| SensorsRow {
            ts,
            hostname: hostname.to_string(),
            sensor,
            chip: chip.clone(),
            device: dev.clone(),
            label,
            temp_celsius: temp,
            high_celsius: high,
            critical_celsius: crit,
            fan_rpm: fan,
        };
        let files = entries(&attr_dir, "");
        for f in &files {
            let Some(input) = f.strip_suffix("_input") else {
                continue;
            };
            let attr = |suffix: &str| attr_dir.join(format!("{input}_{suffix}"));
            let label = read_trimmed(&attr("label")).filter(|s| !s.is_empty());
            if input.starts_with("temp") {
                out.push(row(
                    format!("{chip_id}/{input}"),
                    label,
                    millidegrees(&attr("input")),
                    millidegrees(&attr("max")),
                    millidegrees(&attr("crit")),
                    None,
                ));
            } else if input.starts_with("fan") {
                let rpm = read_trimmed(&attr("input")).and_then(|s| s.trim().parse::<u64>().ok());
                out.push(row(format!("{chip_id}/{input}"), label, None, None, None, rpm));
            }
        }
    }
    let thermal = roots.sys("class/thermal");
    for zone in entries(&thermal, "thermal_zone") {
        let dir = thermal.join(&zone);
        let kind = read_trimmed(&dir.join("type")).filter(|s| !s.is_empty());
        let (mut high, mut crit) = (None, None);
        for trip in entries(&dir, "trip_point_").iter().filter(|n| n.ends_with("_type")) {
            let temp = dir.join(trip.replace("_type", "_temp"));
            match read_trimmed(&dir.join(trip)).as_deref() {
                Some("critical") => crit = crit.or_else(|| millidegrees(&temp)),
                Some("hot") => high = high.or_else(|| millidegrees(&temp)),
                _ => {}
            }
        }
        out.push(SensorsRow {
            ts,
            hostname: hostname.to_string(),
            sensor: format!("thermal/{zone}"),
            chip: kind.clone(),
            device: zone.clone(),
            label: kind,
            temp_celsius: millidegrees(&dir.join("temp")),
            high_celsius: high,
            critical_celsius: crit,
            fan_rpm: None,
        });
    }
    out
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
        Ok(collect(state.roots(), Timestamp::now(), &host::hostname()))
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
