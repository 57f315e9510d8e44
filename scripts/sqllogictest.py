#!/usr/bin/env python3
"""Minimal runner for DuckDB's sqllogictest format, on the Python `duckdb` module of the
interpreter that runs it (so each venv tests its own pinned DuckDB).

    python scripts/sqllogictest.py --extension build/release/sysmon.duckdb_extension [test/sql ...]

Each file gets a fresh in-memory database. Records are separated by blank lines:

    # comment
    require sysmon              LOAD the extension (any other `require X` skips the file)
    statement ok                SQL follows, must succeed
    statement error             SQL follows, must fail; after an optional `----` line, the
                                expected text must occur in the error (`<REGEX>:` prefix: re.search)
    query ITR [rowsort|nosort]  SQL, `----`, expected rows (values separated by tabs)
    halt                        stop the file here

A file stops at its first failure. Last line: `N passed, N failed[, N skipped]` (files).
"""

import argparse
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb


@dataclass
class Record:
    line: int  # 1-based line of the record's first line
    header: list[str]
    sql: str = ""
    expected: list[str] = field(default_factory=list)
    has_separator: bool = False


class Skip(Exception):
    pass


class Failure(Exception):
    pass


def parse(path: Path) -> list[Record]:
    """Split a file into records: blocks of non-blank lines, comment lines dropped at the start."""
    records, block, start = [], [], 0
    lines = path.read_text().splitlines() + [""]
    for number, line in enumerate(lines, 1):
        if line.strip() == "":
            # `require` and `halt` are one-line records, even without a blank line after them.
            while len(block) > 1 and block[0].split()[0] in ("require", "halt"):
                records.append(to_record(start, block[:1]))
                block, start = block[1:], start + 1
            if block:
                records.append(to_record(start, block))
                block = []
        elif not block and line.lstrip().startswith("#"):
            continue
        else:
            if not block:
                start = number
            block.append(line)
    return records


def to_record(start: int, block: list[str]) -> Record:
    record = Record(line=start, header=block[0].split())
    body = block[1:]
    if "----" in body:
        cut = body.index("----")
        record.sql, record.expected, record.has_separator = "\n".join(body[:cut]), body[cut + 1:], True
    else:
        record.sql = "\n".join(body)
    return record


def render(value) -> str:
    """Render a value the way DuckDB's sqllogictest prints it."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value != "" else "(empty)"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render_nested(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"'{k}': {render_nested(v)}" for k, v in value.items()) + "}"
    return str(value)


def render_nested(value) -> str:
    """Inside lists and structs, strings are printed bare and '' is not `(empty)`."""
    return value if isinstance(value, str) else render(value)


def same_value(actual: str, expected: str, column_type: str) -> bool:
    if actual == expected:
        return True
    if column_type == "R":  # floats: tolerate last-digit differences
        try:
            a, e = float(actual), float(expected)
        except ValueError:
            return False
        return math.isclose(a, e, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(e))
    return False


def expected_rows(record: Record, ncols: int) -> list[list[str]]:
    rows = []
    for line in record.expected:
        if "\t" in line:
            rows.append(line.split("\t"))
        elif ncols == 1:
            rows.append([line])
        else:
            raise Failure(f"expected row {line!r} has no tabs but the query has {ncols} columns")
    return rows


def run_statement(con, sql: str):
    con.execute(sql)
    return con.fetchall() if con.description else []


def check(con, record: Record, extension: str) -> bool:
    """Run one record; returns False on `halt`. Raises Failure or Skip."""
    kind = record.header[0]
    if kind == "halt":
        return False
    if kind == "require":
        name = record.header[1] if len(record.header) > 1 else ""
        if name != "sysmon":
            raise Skip(f"require {name}")
        con.execute("LOAD '" + extension.replace("'", "''") + "'")
    elif kind == "statement" and record.header[1:2] == ["ok"]:
        try:
            run_statement(con, record.sql)
        except duckdb.Error as e:
            raise Failure(f"expected success, got error:\n{e}")
    elif kind == "statement" and record.header[1:2] == ["error"]:
        try:
            run_statement(con, record.sql)
        except duckdb.Error as e:
            want, got = "\n".join(record.expected).strip(), str(e)
            if want.startswith("<REGEX>:"):
                ok = re.search(want[len("<REGEX>:"):], got, re.DOTALL) is not None
            else:
                ok = want in got
            if not ok:
                raise Failure(f"expected an error containing:\n{want}\nactual error:\n{got}")
        else:
            raise Failure("expected an error, but the statement succeeded")
    elif kind == "query" and len(record.header) > 1:
        types, sort_mode = record.header[1], (record.header[2] if len(record.header) > 2 else "nosort")
        if sort_mode not in ("nosort", "rowsort"):
            raise Failure(f"unsupported sort mode {sort_mode!r}")
        try:
            result = run_statement(con, record.sql)
            ncols = len(con.description or [])
        except duckdb.Error as e:
            raise Failure(f"query failed:\n{e}")
        if ncols != len(types):
            raise Failure(f"query returns {ncols} columns, header says {len(types)} ({types})")
        actual = [[render(v) for v in row] for row in result]
        expected = expected_rows(record, ncols)
        if sort_mode == "rowsort":
            actual, expected = sorted(actual), sorted(expected)
        same = len(actual) == len(expected) and all(
            len(a) == len(e) and all(same_value(x, y, t) for x, y, t in zip(a, e, types))
            for a, e in zip(actual, expected))
        if not same:
            show = lambda rows: "\n".join("\t".join(r) for r in rows) or "(no rows)"  # noqa: E731
            raise Failure(f"expected:\n{show(expected)}\nactual:\n{show(actual)}")
    else:
        raise Failure(f"unknown record type: {' '.join(record.header)}")
    return True


def run_file(path: Path, extension: str) -> str:
    """Returns 'passed', 'failed' or 'skipped'."""
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    try:
        for record in parse(path):
            try:
                if not check(con, record, extension):
                    break
            except Failure as f:
                print(f"FAIL {path}:{record.line}: {' '.join(record.header)}")
                if record.sql:
                    print("  SQL:\n" + "\n".join("    " + s for s in record.sql.splitlines()))
                print("\n".join("  " + s for s in str(f).splitlines()))
                return "failed"
            except duckdb.Error as e:  # e.g. LOAD failed
                print(f"FAIL {path}:{record.line}: {' '.join(record.header)}\n  {e}")
                return "failed"
    except Skip as s:
        print(f"SKIP {path} ({s})")
        return "skipped"
    finally:
        con.close()
    print(f"ok   {path}")
    return "passed"


def collect(paths: list[str]) -> list[Path]:
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(x for x in p.rglob("*") if x.suffix in (".test", ".test_slow"))
        elif p.is_file():
            files.append(p)
        else:
            sys.exit(f"error: no such file or directory: {p}")
    return files


def main() -> int:
    ap = argparse.ArgumentParser(description="Run sqllogictest files on the Python duckdb module.")
    ap.add_argument("--extension", required=True, help="path to sysmon.duckdb_extension")
    ap.add_argument("paths", nargs="*", default=["test/sql"], help="test files or directories")
    args = ap.parse_args()

    extension = str(Path(args.extension).resolve())
    print(f"duckdb {duckdb.__version__} (python {sys.executable}), extension {extension}")
    files = collect(args.paths)
    if not files:
        print("error: no test files found")
        return 1
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for path in files:
        counts[run_file(path, extension)] += 1
    summary = f"{counts['passed']} passed, {counts['failed']} failed"
    if counts["skipped"]:
        summary += f", {counts['skipped']} skipped"
    print(summary)
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
