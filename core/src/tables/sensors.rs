//! `system_sensors()`: temperatures and fans from `/sys/class/hwmon` and `/sys/class/thermal`.

use std::io;
use std::time::{Duration, Instant};

use super::{HostPath, Now, Table};
use crate::host;
use crate::live::LiveState;
use std::path::Path;

use crate::procfs::{KeptFile, Roots, read_trimmed};
use crate::schema::Timestamp;

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

/// A sysfs millidegree value as degrees Celsius.
fn millidegrees(path: &Path) -> Option<f64> {
    parse_millidegrees(&read_trimmed(path)?)
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

/// How often the list of sensors (chips, inputs, labels, thresholds) is read again; the values
/// are read at every call. Walking `/sys/class/hwmon` costs a folder listing and several path
/// look-ups per input, which was 15% of the recorder's sampling thread on a host with no
/// sensors at all (`docs/recorder.md`, round three).
pub const RESCAN: Duration = Duration::from_secs(60);

/// What an input's file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Millidegrees Celsius (hwmon `tempN_input`, thermal zone `temp`).
    Millidegrees,
    /// Revolutions per minute (hwmon `fanN_input`).
    Rpm,
}

/// One sensor: its row without the reading, and its input file kept open.
#[derive(Debug)]
struct Slot {
    row: SensorsRow,
    kind: Kind,
    input: KeptFile,
}

/// The sensors below a sysfs root, listed every [`RESCAN`] (and again as soon as an input
/// vanishes), with each input kept open and re-read with `pread` at every call.
#[derive(Debug, Default)]
pub struct SensorReader {
    slots: Vec<Slot>,
    scanned: Option<Instant>,
}

impl SensorReader {
    /// The sensors' rows now (`now` is the caller's clock, for the rescan).
    pub fn rows(&mut self, roots: &Roots, now: Instant, ts: Timestamp, hostname: &str) -> Vec<SensorsRow> {
        if self.scanned.is_none_or(|t| now.saturating_duration_since(t) >= RESCAN) {
            self.slots = scan(roots);
            self.scanned = Some(now);
        }
        let mut vanished = false;
        let rows = self
            .slots
            .iter_mut()
            .map(|s| {
                let text = match s.input.read() {
                    Ok(t) => Some(t.trim()),
                    Err(e) => {
                        vanished |= matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENODEV));
                        None
                    }
                };
                let mut row = SensorsRow {
                    ts,
                    hostname: hostname.to_string(),
                    ..s.row.clone()
                };
                match s.kind {
                    Kind::Millidegrees => row.temp_celsius = text.and_then(parse_millidegrees),
                    Kind::Rpm => row.fan_rpm = text.and_then(|t| t.parse::<u64>().ok()),
                }
                row
            })
            .collect();
        if vanished {
            self.scanned = None;
        }
        rows
    }
}

/// Text of millidegrees as degrees Celsius.
fn parse_millidegrees(text: &str) -> Option<f64> {
    text.trim().parse::<i64>().ok().map(|m| m as f64 / 1000.0)
}

/// Reads every sensor below `roots.sys` once (a fresh [`SensorReader`]).
pub fn collect(roots: &Roots, ts: Timestamp, hostname: &str) -> Vec<SensorsRow> {
    SensorReader::default().rows(roots, Instant::now(), ts, hostname)
}

/// Lists every sensor below `roots.sys`: its row without the reading, and its input file.
fn scan(roots: &Roots) -> Vec<Slot> {
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
        let files = entries(&attr_dir, "");
        for f in &files {
            let Some(input) = f.strip_suffix("_input") else {
                continue;
            };
            let attr = |suffix: &str| attr_dir.join(format!("{input}_{suffix}"));
            let label = read_trimmed(&attr("label")).filter(|s| !s.is_empty());
            let row = SensorsRow {
                sensor: format!("{chip_id}/{input}"),
                chip: chip.clone(),
                device: dev.clone(),
                label,
                ..SensorsRow::default()
            };
            if input.starts_with("temp") {
                out.push(Slot {
                    row: SensorsRow {
                        high_celsius: millidegrees(&attr("max")),
                        critical_celsius: millidegrees(&attr("crit")),
                        ..row
                    },
                    kind: Kind::Millidegrees,
                    input: KeptFile::new(attr("input")),
                });
            } else if input.starts_with("fan") {
                out.push(Slot {
                    row,
                    kind: Kind::Rpm,
                    input: KeptFile::new(attr("input")),
                });
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
        out.push(Slot {
            row: SensorsRow {
                sensor: format!("thermal/{zone}"),
                chip: kind.clone(),
                device: zone.clone(),
                label: kind,
                high_celsius: high,
                critical_celsius: crit,
                ..SensorsRow::default()
            },
            kind: Kind::Millidegrees,
            input: KeptFile::new(dir.join("temp")),
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
        let now = state.now();
        Ok(state
            .sensors()
            .rows(state.roots(), now, Timestamp::now(), &host::hostname()))
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
    fn reader_rereads_values_and_lists_again_every_rescan() {
        let sys = std::env::temp_dir().join(format!("sysmon-sensors-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&sys);
        let chip = sys.join("class/hwmon/hwmon0");
        std::fs::create_dir_all(&chip).unwrap();
        let fixture = Roots::test_fixture("modern").sys("class/hwmon/hwmon0");
        for f in std::fs::read_dir(&fixture).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), chip.join(f.file_name())).unwrap();
        }
        let roots = Roots {
            sys: sys.clone(),
            ..Roots::test_fixture("modern")
        };
        let ids = |rows: &[SensorsRow]| rows.iter().map(|r| r.sensor.clone()).collect::<Vec<_>>();
        let ts = Timestamp::from_micros(0);
        let t0 = Instant::now();
        let mut reader = SensorReader::default();
        let a = reader.rows(&roots, t0, ts, "h");
        assert_eq!(ids(&a), ["coretemp/temp1", "coretemp/temp2", "coretemp/temp10"]);
        assert_eq!(a[0].temp_celsius, Some(45.0));
        assert_eq!(a[0].high_celsius, Some(80.0));

        // A value changes and a chip appears: the value is read now, the chip at the rescan.
        std::fs::write(chip.join("temp1_input"), "46500\n").unwrap();
        let nvme = sys.join("class/hwmon/hwmon3");
        std::fs::create_dir_all(&nvme).unwrap();
        std::fs::write(nvme.join("name"), "nvme\n").unwrap();
        std::fs::write(nvme.join("temp1_input"), "30850\n").unwrap();
        let b = reader.rows(&roots, t0 + Duration::from_secs(1), ts, "h");
        assert_eq!(b[0].temp_celsius, Some(46.5), "values are read at every call");
        assert_eq!(b.len(), 3, "the list is kept until the rescan");
        let c = reader.rows(&roots, t0 + RESCAN, ts, "h");
        assert_eq!(ids(&c)[3], "nvme/temp1", "listed at the rescan, in natural order");
        assert_eq!(c[3].temp_celsius, Some(30.85));

        // A chip goes: listed until the next rescan (here a kept descriptor of a deleted
        // regular file still reads; sysfs answers ENODEV, as below).
        std::fs::remove_dir_all(&nvme).unwrap();
        assert_eq!(
            reader.rows(&roots, t0 + RESCAN + Duration::from_secs(1), ts, "h").len(),
            4
        );
        let gone = sys.join("class/hwmon/hwmon5");
        std::fs::create_dir_all(&gone).unwrap();
        std::os::unix::fs::symlink(sys.join("nowhere"), gone.join("temp1_input")).unwrap();
        let later = t0 + RESCAN * 2;
        let d = reader.rows(&roots, later, ts, "h");
        assert_eq!(ids(&d)[3], "hwmon5/temp1");
        assert_eq!(d[3].temp_celsius, None, "an input that cannot be read is NULL");
        assert!(
            reader.scanned.is_none(),
            "an input that vanished makes the next call list again"
        );
        std::fs::remove_dir_all(&gone).unwrap();
        let e = reader.rows(&roots, later, ts, "h");
        assert_eq!(ids(&e), ["coretemp/temp1", "coretemp/temp2", "coretemp/temp10"]);
        std::fs::remove_dir_all(&sys).unwrap();
    }

    #[test]
    fn no_sensors_no_rows() {
        assert!(collect(&Roots::test_fixture("old-kernel"), Timestamp::from_micros(0), "h").is_empty());
    }
}
