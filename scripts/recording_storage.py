#!/usr/bin/env python3
"""Storage of a real recording, table by table (issue 11): bytes per value as recorded, and the
same rows re-encoded each way worth measuring (with pyarrow, one file per table, zstd 3, data
page v2, as a finished day is written):

* `sysmon encodings`: the recorder's per-column rule (integers and timestamps
  DELTA_BINARY_PACKED, gauges BYTE_STREAM_SPLIT, cumulative CPU seconds PLAIN, strings with a
  dictionary), rows in arrival order (every row of one tick together);
* `... sorted by key, ts`: the same, rows sorted by the table's text columns other than
  `hostname` (cpu, device, interface, mount point...) and then `ts`, so that each series is
  contiguous;
* `... + dictionary on everything`: parquet's default dictionary on every column (falls back
  to the column's encoding when the dictionary grows too big);
* DuckDB's `COPY (FORMAT parquet, COMPRESSION zstd)` of the rows, the baseline.

    python3 scripts/recording_storage.py /var/lib/sysmon [--table metrics ...]
"""

import argparse
import glob
import os
import tempfile

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def encodings(schema, dictionary):
    enc = {}
    for f in schema:
        t = f.type
        if pa.types.is_integer(t) or pa.types.is_timestamp(t):
            enc[f.name] = "DELTA_BINARY_PACKED"
        elif pa.types.is_floating(t):
            cumulative = f.name.startswith("cpu_") and f.name.endswith("_seconds")
            enc[f.name] = "PLAIN" if cumulative else "BYTE_STREAM_SPLIT"
    if dictionary:
        return None, True
    return enc, [n for n in schema.names if n not in enc]


def write(table, path, dictionary=False):
    enc, dict_cols = encodings(table.schema, dictionary)
    kwargs = dict(compression="zstd", compression_level=3, data_page_version="2.0", row_group_size=128 * 1024,
                  store_schema=False)
    if enc is not None:
        kwargs.update(use_dictionary=dict_cols, column_encoding=enc)
    pq.write_table(table, path, **kwargs)
    return os.path.getsize(path)


def sort_keys(table):
    """The series key: the text columns other than `hostname`, and `cpu` (the recorder's rule)."""
    keys = [n for n, t in zip(table.schema.names, table.schema.types)
            if ((pa.types.is_string(t) or pa.types.is_large_string(t)) and n != "hostname") or n == "cpu"]
    return [(k, "ascending") for k in keys] + [("ts", "ascending")]


CANDIDATES = {
    "int": ["DELTA_BINARY_PACKED", "PLAIN", "dict"],
    "float": ["BYTE_STREAM_SPLIT", "PLAIN", "dict"],
}


def per_column_best(table, out):
    """Each column's compressed size under each candidate encoding: {column: {encoding: bytes}}."""
    sizes = {}
    for kind, encs in CANDIDATES.items():
        cols = [f.name for f in table.schema
                if (kind == "int" and (pa.types.is_integer(f.type) or pa.types.is_timestamp(f.type)))
                or (kind == "float" and pa.types.is_floating(f.type))]
        if not cols:
            continue
        for e in encs:
            path = os.path.join(out, f"cand-{kind}-{e}.parquet")
            kwargs = dict(compression="zstd", compression_level=3, data_page_version="2.0", store_schema=False)
            if e == "dict":
                kwargs.update(use_dictionary=cols)
            else:
                kwargs.update(use_dictionary=False, column_encoding={c: e for c in cols})
            pq.write_table(table.select(cols), path, **kwargs)
            md = pq.read_metadata(path)
            for rg in range(md.num_row_groups):
                for i, c in enumerate(cols):
                    sizes.setdefault(c, {}).setdefault(e, 0)
                    sizes[c][e] += md.row_group(rg).column(i).total_compressed_size
    return sizes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--table", action="append")
    ap.add_argument("--columns", action="store_true", help="also print each column's best encoding (sorted rows)")
    args = ap.parse_args()
    tables = args.table or sorted(d for d in os.listdir(args.dir) if os.path.isdir(os.path.join(args.dir, d)))
    con = duckdb.connect()
    out = tempfile.mkdtemp(prefix="sysmon-storage-")
    totals = {}
    print(f"{'table':<14} {'rows':>8} {'cols':>4} {'recorded B/v':>12} {'sysmon enc':>10} {'sorted':>8} "
          f"{'sorted+dict':>11} {'duckdb zstd':>11}  files")
    for name in tables:
        files = sorted(glob.glob(os.path.join(args.dir, name, "host=*", "date=*", "*.parquet")))
        if not files:
            continue
        recorded = sum(os.path.getsize(f) for f in files)
        t = pa.concat_tables([pq.read_table(f) for f in files]).sort_by([("ts", "ascending")])
        rows, cols = t.num_rows, t.num_columns
        values = rows * cols
        s = {"recorded": recorded}
        s["sysmon enc"] = write(t, os.path.join(out, f"{name}-enc.parquet"))
        ts = t.sort_by(sort_keys(t))
        s["sorted"] = write(ts, os.path.join(out, f"{name}-sorted.parquet"))
        s["sorted+dict"] = write(ts, os.path.join(out, f"{name}-sorted-dict.parquet"), dictionary=True)
        src = os.path.join(out, f"{name}-src.parquet")
        pq.write_table(t, src)
        dst = os.path.join(out, f"{name}-duckdb.parquet")
        con.execute(f"COPY (SELECT * FROM read_parquet('{src}')) TO '{dst}' (FORMAT parquet, COMPRESSION zstd)")
        s["duckdb zstd"] = os.path.getsize(dst)
        if args.columns:
            best = per_column_best(ts, out)
            wins = {}
            for c, by in best.items():
                w = min(by, key=by.get)
                wins.setdefault(w, []).append(f"{c} {by[w]}/{by[CANDIDATES['int'][0]] if CANDIDATES['int'][0] in by else by[CANDIDATES['float'][0]]}")
            for w, cs in wins.items():
                print(f"    {name}: best {w} (bytes best/rule): " + ", ".join(cs))
        for k, v in s.items():
            totals.setdefault(k, [0, 0])
            totals[k][0] += v
            totals[k][1] += values
        print(f"{name:<14} {rows:>8} {cols:>4} {recorded / values:>12.3f} {s['sysmon enc'] / values:>10.3f} "
              f"{s['sorted'] / values:>8.3f} {s['sorted+dict'] / values:>11.3f} {s['duckdb zstd'] / values:>11.3f}  "
              f"{len(files)}")
    if totals:
        values = totals["recorded"][1]
        print(f"{'all':<14} {'':>8} {'':>4} " + " ".join(
            f"{totals[k][0] / values:>{w}.3f}" for k, w in
            [("recorded", 12), ("sysmon enc", 10), ("sorted", 8), ("sorted+dict", 11), ("duckdb zstd", 11)]))
        print(f"(bytes per value; total bytes: " + ", ".join(f"{k} {v[0]}" for k, v in totals.items()) + ")")


if __name__ == "__main__":
    main()
