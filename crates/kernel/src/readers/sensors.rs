//! Temperatures and fans from `/sys/class/hwmon` and `/sys/class/thermal` (the facts and
//! readings of `system_sensors()`; sysmon-core's `tables::sensors` makes the rows).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::procfs::{KeptFile, Roots, read_trimmed};

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

/// What a sensor measures, and so what its input file holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SensorKind {
    /// A temperature: millidegrees Celsius (hwmon `tempN_input`, thermal zone `temp`).
    #[default]
    Temperature,
    /// A fan: revolutions per minute (hwmon `fanN_input`).
    Fan,
}

/// One sensor's facts, as listed at the last scan.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sensor {
    /// Stable id: `<chip>/<input>` for hwmon (`coretemp/temp2`, `nct6775/fan1`),
    /// `thermal/<zone>` for thermal zones.
    pub sensor: String,
    /// The chip's driver name (hwmon `name`), or the thermal zone's `type`.
    pub chip: Option<String>,
    /// The sysfs directory: `hwmonN` or `thermal_zoneN`.
    pub device: String,
    /// The input's label (`tempN_label`), or a thermal zone's `type`.
    pub label: Option<String>,
    /// High threshold (`tempN_max`, or a thermal zone's `hot` trip point).
    pub high_celsius: Option<f64>,
    /// Critical threshold (`tempN_crit`, or a thermal zone's `critical` trip point).
    pub critical_celsius: Option<f64>,
    pub kind: SensorKind,
}

/// One sensor read now: its facts and its value (`None` where the input cannot be read or
/// holds garbage, and for the other kind's value).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SensorReading {
    pub sensor: Sensor,
    /// Temperature now, for a [`SensorKind::Temperature`].
    pub temp_celsius: Option<f64>,
    /// Fan speed now, for a [`SensorKind::Fan`].
    pub fan_rpm: Option<u64>,
}

/// One sensor: its facts, and its input file kept open.
#[derive(Debug)]
struct Slot {
    sensor: Sensor,
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
    /// Every sensor's reading now (`now` is the caller's clock, for the rescan).
    pub fn read(&mut self, roots: &Roots, now: Instant) -> Vec<SensorReading> {
        if self.scanned.is_none_or(|t| now.saturating_duration_since(t) >= RESCAN) {
            self.slots = scan(roots);
            self.scanned = Some(now);
        }
        let mut vanished = false;
        let readings = self
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
                let mut r = SensorReading {
                    sensor: s.sensor.clone(),
                    ..SensorReading::default()
                };
                match s.sensor.kind {
                    SensorKind::Temperature => r.temp_celsius = text.and_then(parse_millidegrees),
                    SensorKind::Fan => r.fan_rpm = text.and_then(|t| t.parse::<u64>().ok()),
                }
                r
            })
            .collect();
        if vanished {
            self.scanned = None;
        }
        readings
    }
}

/// Text of millidegrees as degrees Celsius.
fn parse_millidegrees(text: &str) -> Option<f64> {
    text.trim().parse::<i64>().ok().map(|m| m as f64 / 1000.0)
}

/// Lists every sensor below `roots.sys`: its facts, and its input file.
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
            let sensor = Sensor {
                sensor: format!("{chip_id}/{input}"),
                chip: chip.clone(),
                device: dev.clone(),
                label,
                ..Sensor::default()
            };
            if input.starts_with("temp") {
                out.push(Slot {
                    sensor: Sensor {
                        high_celsius: millidegrees(&attr("max")),
                        critical_celsius: millidegrees(&attr("crit")),
                        kind: SensorKind::Temperature,
                        ..sensor
                    },
                    input: KeptFile::new(attr("input")),
                });
            } else if input.starts_with("fan") {
                out.push(Slot {
                    sensor: Sensor {
                        kind: SensorKind::Fan,
                        ..sensor
                    },
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
            sensor: Sensor {
                sensor: format!("thermal/{zone}"),
                chip: kind.clone(),
                device: zone.clone(),
                label: kind,
                high_celsius: high,
                critical_celsius: crit,
                kind: SensorKind::Temperature,
            },
            input: KeptFile::new(dir.join("temp")),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let ids = |rs: &[SensorReading]| rs.iter().map(|r| r.sensor.sensor.clone()).collect::<Vec<_>>();
        let t0 = Instant::now();
        let mut reader = SensorReader::default();
        let a = reader.read(&roots, t0);
        assert_eq!(ids(&a), ["coretemp/temp1", "coretemp/temp2", "coretemp/temp10"]);
        assert_eq!(a[0].temp_celsius, Some(45.0));
        assert_eq!(a[0].sensor.high_celsius, Some(80.0));

        // A value changes and a chip appears: the value is read now, the chip at the rescan.
        std::fs::write(chip.join("temp1_input"), "46500\n").unwrap();
        let nvme = sys.join("class/hwmon/hwmon3");
        std::fs::create_dir_all(&nvme).unwrap();
        std::fs::write(nvme.join("name"), "nvme\n").unwrap();
        std::fs::write(nvme.join("temp1_input"), "30850\n").unwrap();
        let b = reader.read(&roots, t0 + Duration::from_secs(1));
        assert_eq!(b[0].temp_celsius, Some(46.5), "values are read at every call");
        assert_eq!(b.len(), 3, "the list is kept until the rescan");
        let c = reader.read(&roots, t0 + RESCAN);
        assert_eq!(ids(&c)[3], "nvme/temp1", "listed at the rescan, in natural order");
        assert_eq!(c[3].temp_celsius, Some(30.85));

        // A chip goes: listed until the next rescan (here a kept descriptor of a deleted
        // regular file still reads; sysfs answers ENODEV, as below).
        std::fs::remove_dir_all(&nvme).unwrap();
        assert_eq!(reader.read(&roots, t0 + RESCAN + Duration::from_secs(1)).len(), 4);
        let gone = sys.join("class/hwmon/hwmon5");
        std::fs::create_dir_all(&gone).unwrap();
        std::os::unix::fs::symlink(sys.join("nowhere"), gone.join("temp1_input")).unwrap();
        let later = t0 + RESCAN * 2;
        let d = reader.read(&roots, later);
        assert_eq!(ids(&d)[3], "hwmon5/temp1");
        assert_eq!(d[3].temp_celsius, None, "an input that cannot be read is NULL");
        assert!(
            reader.scanned.is_none(),
            "an input that vanished makes the next call list again"
        );
        std::fs::remove_dir_all(&gone).unwrap();
        let e = reader.read(&roots, later);
        assert_eq!(ids(&e), ["coretemp/temp1", "coretemp/temp2", "coretemp/temp10"]);
        std::fs::remove_dir_all(&sys).unwrap();
    }

    #[test]
    fn kinds_and_values_of_the_fixture() {
        let r = SensorReader::default().read(&Roots::test_fixture("modern"), Instant::now());
        let fan = r.iter().find(|r| r.sensor.sensor == "nct6775/fan1").unwrap();
        assert_eq!(fan.sensor.kind, SensorKind::Fan);
        assert_eq!((fan.fan_rpm, fan.temp_celsius), (Some(1250), None));
        let zone = r.iter().find(|r| r.sensor.sensor == "thermal/thermal_zone0").unwrap();
        assert_eq!(zone.sensor.kind, SensorKind::Temperature);
        assert_eq!((zone.temp_celsius, zone.fan_rpm), (Some(42.0), None));
    }
}
