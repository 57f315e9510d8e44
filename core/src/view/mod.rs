//! The dashboard's routes (`/`, `/api/...`), answered for the server in [`crate::serve`].
//!
//! A placeholder on the `serve` branch with the agreed signature: `/` is a small page that
//! shows `/api/live`, `/api/live` a JSON snapshot of `system_metrics()`. The dashboard itself
//! (charts, history, assets) replaces this module when its branch is merged. No route runs SQL.

use std::fmt::Write as _;

use crate::ring::Window;
use crate::tables::{HostWindow, Table};

/// One answer.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// What a route may read.
pub struct ViewContext<'a> {
    pub live: &'a crate::live::LiveState,
    pub dir: Option<&'a std::path::Path>,
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sysmon</title></head>
<body><h1>sysmon</h1><pre id="live">loading…</pre>
<script>
async function tick() {
  const r = await fetch('api/live', {credentials: 'same-origin'});
  document.getElementById('live').textContent = JSON.stringify(await r.json(), null, 2);
}
tick(); setInterval(tick, 1000);
</script></body></html>
"#;

/// `/`, `/assets/...`, `/api/...`; None when the path is not one of the view's routes.
pub fn route(ctx: &ViewContext<'_>, path: &str, _query: &str) -> Option<Reply> {
    match path {
        "/" => Some(Reply {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: PAGE.as_bytes().to_vec(),
        }),
        "/api/live" => Some(live(ctx)),
        _ => None,
    }
}

fn num(out: &mut String, name: &str, v: Option<f64>) {
    match v {
        Some(v) if v.is_finite() => {
            let _ = write!(out, "\"{name}\":{v},");
        }
        _ => {
            let _ = write!(out, "\"{name}\":null,");
        }
    }
}

fn live(ctx: &ViewContext<'_>) -> Reply {
    let rows = ctx
        .live
        .window_pair(Window::Default)
        .and_then(|(base, now)| crate::tables::metrics::Metrics::rows(&HostWindow { base, now }, ctx.live, &()));
    let row = match rows {
        Ok(mut r) => r.pop(),
        Err(e) => {
            return Reply {
                status: 500,
                content_type: "application/json",
                body: format!("{{\"error\":{:?}}}", e.to_string()).into_bytes(),
            };
        }
    };
    let mut s = String::from("{");
    if let Some(m) = row {
        let _ = write!(s, "\"ts_us\":{},", m.ts.micros);
        num(&mut s, "cpu_busy_pct", m.cpu.cpu_busy_pct);
        num(&mut s, "load_1m", m.load_1m);
        num(&mut s, "mem_total_bytes", m.mem_total_bytes.map(|v| v as f64));
        num(&mut s, "mem_used_bytes", m.mem_used_bytes.map(|v| v as f64));
        num(&mut s, "swap_used_bytes", m.swap_used_bytes.map(|v| v as f64));
    }
    let _ = write!(s, "\"history\":{}", ctx.dir.is_some());
    s.push('}');
    Reply {
        status: 200,
        content_type: "application/json",
        body: s.into_bytes(),
    }
}
