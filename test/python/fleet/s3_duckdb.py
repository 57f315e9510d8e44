"""DuckDB over S3 for the fleet tests and `make fleet-sim`: Python duckdb with the httpfs
extension from the `duckdb-ext-httpfs` PyPI package (it holds httpfs built for exactly one
DuckDB version: 1.4.4, pinned in the Makefile), loaded by path, never downloaded.
"""

import glob
import os
import urllib.parse

import duckdb


def httpfs_path():
    """The httpfs extension file of the installed `duckdb-ext-httpfs` package, for the running
    duckdb's version."""
    import duckdb_ext  # the package's module (a namespace holding extensions/v<ver>/<platform>/)

    version = "v" + duckdb.__version__
    roots = list(getattr(duckdb_ext, "__path__", [])) or [os.path.dirname(duckdb_ext.__file__)]
    for root in roots:
        found = glob.glob(os.path.join(root, "extensions", version, "*", "httpfs.duckdb_extension"))
        if found:
            return found[0]
    raise RuntimeError(f"no httpfs for duckdb {duckdb.__version__} in duckdb-ext-httpfs ({roots}): check the pins")


def connect(s3, log_http=False):
    """A fresh in-memory DuckDB (no cache shared with another connection) that reads the
    server `s3` (an S3Server) through httpfs, with the secret docs/fleet.md shows."""
    con = duckdb.connect(config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
    con.execute(f"LOAD '{httpfs_path()}'")
    con.execute(
        f"""CREATE SECRET fleet (TYPE s3, KEY_ID '{s3.client_key_id}', SECRET '{s3.client_secret}',
            REGION '{s3.region}', ENDPOINT '{s3.host_port}', USE_SSL false, URL_STYLE 'path')"""
    )
    if log_http:
        con.execute("CALL enable_logging('HTTP')")
    return con


def http_requests(con):
    """Every HTTP request DuckDB's log holds: dicts of method, path, query (dict), status and
    the response's Content-Length (0 when absent)."""
    out = []
    for method, url, status, length in con.execute(
        "SELECT request.type, request.url, response.status, response.headers['Content-Length'] "
        "FROM duckdb_logs_parsed('HTTP') ORDER BY timestamp"
    ).fetchall():
        parts = urllib.parse.urlsplit(url)
        out.append(
            {
                "method": method,
                "path": urllib.parse.unquote(parts.path),
                "query": dict(urllib.parse.parse_qsl(parts.query)),
                "status": status,
                "bytes": int(length or 0),
            }
        )
    return out


def summarize(requests, bucket, keys):
    """LIST requests, objects listed (the keys under each listed prefix, all pages), GET/HEAD
    requests, objects read and bytes fetched (object bodies, not listings) of `requests`."""
    lists = [r for r in requests if r["method"] == "GET" and "list-type" in r["query"]]
    prefixes = {r["query"].get("prefix", "") for r in lists}
    listed = sum(1 for k in keys for p in prefixes if k.startswith(p))
    gets = [r for r in requests if r["method"] == "GET" and "list-type" not in r["query"]]
    heads = [r for r in requests if r["method"] == "HEAD"]
    read = {r["path"].removeprefix(f"/{bucket}/") for r in gets}
    return {
        "list_requests": len(lists),
        "objects_listed": listed,
        "get_requests": len(gets),
        "head_requests": len(heads),
        "objects_read": len(read),
        "bytes_fetched": sum(r["bytes"] for r in gets),
        "list_bytes": sum(r["bytes"] for r in lists),
    }
