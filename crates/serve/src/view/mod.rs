//! What the dashboard server answers besides `/metrics`: the page, its built-in assets, and
//! the JSON it draws from (see `docs/view.md`).
//!
//! * `/`: the dashboard ([`assets`]), uPlot built in from a pinned npm package;
//! * `/assets/<name>`: only the files built into the binary;
//! * `/api/live`: one JSON snapshot of the host ([`live`]);
//! * `/api/hosts`: the hosts recorded under the server's `dir` ([`history::hosts`]; in a bucket,
//!   [`bucket::Bucket::hosts`]);
//! * `/api/history?table=&host=&from=&to=&width=`: a recorded table over a range, downsampled
//!   per pixel to min/avg/max ([`history`]).
//!
//! No route runs SQL: history is read from the Parquet files with the parquet crate. The HTTP
//! server (`crate`) checks method, token and path before it calls [`route`].

pub mod assets;
pub mod bucket;
#[doc(hidden)]
pub mod history;
pub mod json;
pub mod live;
pub mod query;
pub mod report;

use std::path::Path;

/// An answer to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// What a route reads: the live state, and the recording when the server has one (a local
/// directory, or a bucket).
pub struct ViewContext<'a> {
    pub live: &'a sysmon_live::LiveState,
    pub dir: Option<&'a Path>,
    pub bucket: Option<&'a bucket::Bucket>,
}

pub const JSON: &str = "application/json";

impl Reply {
    pub fn json(body: String) -> Reply {
        Reply {
            status: 200,
            content_type: JSON,
            body: body.into_bytes(),
        }
    }

    /// `{"error": message}` with `status`.
    pub fn error(status: u16, message: &str) -> Reply {
        let mut out = String::from("{\"error\":");
        json::string(&mut out, message);
        out.push('}');
        Reply {
            status,
            content_type: JSON,
            body: out.into_bytes(),
        }
    }
}

/// `/`, `/assets/...`, `/api/...`; `None` when the path is not one of the view's routes.
pub fn route(ctx: &ViewContext<'_>, path: &str, query: &str) -> Option<Reply> {
    match path {
        "/" | "/index.html" => Some(with_query(query, &[], |_| Ok(assets::dashboard()))),
        "/api/live" => Some(with_query(query, &[], |_| {
            live::snapshot(ctx.live).map(Reply::json).map_err(|e| (500, e))
        })),
        "/api/hosts" => Some(with_query(query, &[], |_| {
            history::hosts_json(ctx.dir).map(Reply::json).map_err(|e| (500, e))
        })),
        "/api/history" => Some(with_query(query, history::PARAMS, |q| {
            let Some(dir) = ctx.dir else {
                return Err((
                    404,
                    "this server has no recording directory: start it with serve_metrics(dir := '...')".into(),
                ));
            };
            let req = history::Request::parse(q, sysmon_tables::schema::Timestamp::now().micros / 1000)
                .map_err(|e| (400, e))?;
            history::read(dir, &req)
                .map(|h| Reply::json(h.to_json()))
                .map_err(|e| (e.status(), e.to_string()))
        })),
        _ => path.strip_prefix("/assets/").map(|name| match assets::get(name) {
            Some(a) if query.is_empty() => Reply {
                status: 200,
                content_type: a.content_type,
                body: a.bytes.to_vec(),
            },
            Some(_) => Reply::error(400, "assets take no query parameters"),
            None => Reply::error(404, &format!("no built-in asset '{name}'")),
        }),
    }
}

/// [`route`], with `/api/hosts` and `/api/history` read from the bucket when the server reads
/// one (awaited on the server's runtime).
pub async fn route_async(ctx: &ViewContext<'_>, path: &str, query: &str) -> Option<Reply> {
    let Some(b) = ctx.bucket else {
        return route(ctx, path, query);
    };
    match path {
        "/api/hosts" => Some(match query::Query::parse(query, &[]) {
            Err(e) => Reply::error(400, &e),
            Ok(_) => match b.hosts().await {
                Ok(list) => Reply::json(history::hosts_json_of(&b.location.shown, &list)),
                Err(e) => Reply::error(502, &e),
            },
        }),
        "/api/history" => {
            let req = query::Query::parse(query, history::PARAMS)
                .and_then(|q| history::Request::parse(&q, sysmon_tables::schema::Timestamp::now().micros / 1000));
            Some(match req {
                Err(e) => Reply::error(400, &e),
                Ok(req) => match b.read(&req).await {
                    Ok(h) => Reply::json(h.to_json()),
                    Err(history::Error::Io(e)) => Reply::error(502, &e),
                    Err(e) => Reply::error(e.status(), &e.to_string()),
                },
            })
        }
        _ => route(ctx, path, query),
    }
}

/// Parses `query` (accepting only `accepted` names, plus `token`, which the server reads) and
/// answers with `f`, or with the error `f` gives.
fn with_query(query: &str, accepted: &[&str], f: impl FnOnce(&query::Query) -> Result<Reply, (u16, String)>) -> Reply {
    match query::Query::parse(query, accepted) {
        Err(e) => Reply::error(400, &e),
        Ok(q) => f(&q).unwrap_or_else(|(status, msg)| Reply::error(status, &msg)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sysmon_kernel::procfs::Roots;

    #[test]
    fn routes() {
        let state = sysmon_live::LiveState::new(Roots::test_fixture("modern"));
        let ctx = ViewContext {
            live: &state,
            dir: None,
            bucket: None,
        };
        let page = route(&ctx, "/", "token=abc").unwrap();
        assert_eq!((page.status, page.content_type), (200, "text/html; charset=utf-8"));
        assert!(String::from_utf8_lossy(&page.body).contains("/assets/uPlot.iife.min.js"));
        let js = route(&ctx, "/assets/uPlot.iife.min.js", "").unwrap();
        assert_eq!(js.status, 200);
        assert_eq!(route(&ctx, "/assets/nope.js", "").unwrap().status, 404);
        assert_eq!(route(&ctx, "/assets/../etc/passwd", "").unwrap().status, 404);
        assert!(route(&ctx, "/metrics", "").is_none());
        assert!(route(&ctx, "/etc/passwd", "").is_none());
        let bad = route(&ctx, "/api/live", "x=1").unwrap();
        assert_eq!(bad.status, 400);
        assert!(String::from_utf8_lossy(&bad.body).contains("unknown parameter 'x'"));
        let h = route(&ctx, "/api/history", "table=metrics").unwrap();
        assert_eq!(h.status, 404, "{}", String::from_utf8_lossy(&h.body));
        let hosts = route(&ctx, "/api/hosts", "").unwrap();
        assert_eq!(String::from_utf8_lossy(&hosts.body), r#"{"dir":null,"hosts":[]}"#);
    }
}
