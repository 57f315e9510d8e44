//! `/proc/cpuinfo`: CPU model, clock and topology per logical CPU.

/// One `processor` block. Fields an architecture does not print are `None` (ARM has no
/// `model name` on older kernels and no `cpu MHz`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CpuInfo {
    pub processor: u32,
    pub model_name: Option<String>,
    pub mhz: Option<f64>,
    pub physical_id: Option<u32>,
    pub core_id: Option<u32>,
}

pub fn parse(text: &str) -> Vec<CpuInfo> {
    let mut out: Vec<CpuInfo> = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if key == "processor" {
            if let Ok(processor) = value.parse() {
                out.push(CpuInfo {
                    processor,
                    ..CpuInfo::default()
                });
            }
            continue;
        }
        let Some(cur) = out.last_mut() else { continue };
        match key {
            "model name" | "Processor" | "cpu model" if cur.model_name.is_none() && !value.is_empty() => {
                cur.model_name = Some(value.to_string())
            }
            "cpu MHz" => cur.mhz = value.parse().ok(),
            "physical id" => cur.physical_id = value.parse().ok(),
            "core id" => cur.core_id = value.parse().ok(),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_blocks() {
        let v = super::parse(
            "processor\t: 0\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2994.374\nphysical id\t: 0\ncore id\t\t: 0\n\n\
             processor\t: 1\nmodel name\t: AMD EPYC\ncpu MHz\t\t: bad\ncore id\t\t: 1\n",
        );
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].model_name.as_deref(), Some("AMD EPYC"));
        assert_eq!(v[0].mhz, Some(2994.374));
        assert_eq!(v[1].mhz, None);
        assert_eq!(v[1].physical_id, None);
        assert_eq!(v[1].core_id, Some(1));
    }
}
