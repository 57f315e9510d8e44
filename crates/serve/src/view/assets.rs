//! The files the dashboard and the report are made of, built into the binary: nothing is
//! fetched when a page is viewed or when the project is built.
//!
//! uPlot (MIT, by Leon Sorokin) is vendored unchanged from its npm package, pinned in
//! `assets/vendor/uplot/PIN.txt` with each file's sha256, which a test checks.

use super::Reply;

/// A built-in file.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

pub const UPLOT_JS: &[u8] = include_bytes!("assets/vendor/uplot/uPlot.iife.min.js");
pub const UPLOT_CSS: &[u8] = include_bytes!("assets/vendor/uplot/uPlot.min.css");
pub const UPLOT_LICENSE: &[u8] = include_bytes!("assets/vendor/uplot/LICENSE");
pub const SYSMON_JS: &[u8] = include_bytes!("assets/sysmon.js");
pub const SYSMON_CSS: &[u8] = include_bytes!("assets/sysmon.css");
pub const INDEX_HTML: &[u8] = include_bytes!("assets/index.html");

/// Every file `/assets/<name>` serves.
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "uPlot.iife.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: UPLOT_JS,
    },
    Asset {
        name: "uPlot.min.css",
        content_type: "text/css; charset=utf-8",
        bytes: UPLOT_CSS,
    },
    Asset {
        name: "uPlot.LICENSE.txt",
        content_type: "text/plain; charset=utf-8",
        bytes: UPLOT_LICENSE,
    },
    Asset {
        name: "sysmon.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: SYSMON_JS,
    },
    Asset {
        name: "sysmon.css",
        content_type: "text/css; charset=utf-8",
        bytes: SYSMON_CSS,
    },
];

/// The built-in file `name`; `None` for anything else.
pub fn get(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// `/`: the dashboard page.
pub fn dashboard() -> Reply {
    Reply {
        status: 200,
        content_type: "text/html; charset=utf-8",
        body: INDEX_HTML.to_vec(),
    }
}

/// The bytes the built-in files add to the binary.
pub fn total_bytes() -> usize {
    ASSETS.iter().map(|a| a.bytes.len()).sum::<usize>() + INDEX_HTML.len()
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::process::{Command, Stdio};

    use super::*;

    fn sha256(bytes: &[u8]) -> String {
        let mut child = Command::new("sha256sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sha256sum (coreutils)");
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout).unwrap()[..64].to_string()
    }

    /// The vendored uPlot is the pinned npm package's, unchanged.
    #[test]
    fn vendored_uplot_matches_its_pin() {
        let pin = include_str!("assets/vendor/uplot/PIN.txt");
        for (name, bytes) in [
            ("uPlot.iife.min.js", UPLOT_JS),
            ("uPlot.min.css", UPLOT_CSS),
            ("LICENSE", UPLOT_LICENSE),
        ] {
            let line = pin
                .lines()
                .find(|l| l.ends_with(&format!("  {name}")))
                .unwrap_or_else(|| panic!("PIN.txt has no hash of {name}"));
            assert_eq!(&line[..64], sha256(bytes), "{name} differs from the pinned package");
        }
        assert!(pin.starts_with("uPlot 1.6.32 "));
        assert!(String::from_utf8_lossy(UPLOT_LICENSE).starts_with("The MIT License"));
    }

    #[test]
    fn the_page_links_only_built_in_assets() {
        let html = String::from_utf8_lossy(INDEX_HTML);
        for part in html.split("/assets/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(get(name).is_some(), "{name}");
        }
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(total_bytes() < 100_000, "{}", total_bytes());
    }
}
