"""The README's snippets run as written on a fresh clone.

Every ```sql and ```python block of README.md runs, in the README's order, in one fresh Python
process (so recorder and server ids start at 1, as the tour says) whose working directory is an
empty temporary folder holding the extension at the README's relative path,
`build/release/sysmon.duckdb_extension` (a link to the build under test), so relative paths
(`'history'`, `'report.html'`) land in that folder. Each statement is run and fetched; a statement
that fails, or a query that should answer rows and answers none, fails the test and names the
README line. The shell lines that run the pinned duckdb shell (`.venv/bin/duckdb -unsigned -c
"..."`) run in that shell when `SYSMON_DUCKDB_CLI` is set, else their SQL runs in Python. The
```sh blocks may name only make targets that the Makefile has, and the first screen says how to
build the extension before its first `LOAD`.
"""

import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = os.path.join(ROOT, "README.md")
EXT_REL = "build/release/sysmon.duckdb_extension"
SHELL_LINE = re.compile(r'^\.venv/bin/duckdb -unsigned -c "(.*)"$')

# Run in the child process: the blocks as JSON on stdin, one connection for the SQL ones.
RUNNER = r'''
import json, sys, time
import duckdb

# Functions whose answer may rightly be empty on some hosts (no disks listed, no sensors, ...).
MAY_BE_EMPTY = ("system_disks(", "system_sensors(", "system_gpus(", "system_users(",
                "system_pressure(", "system_cgroups(", "system_sockets(", "alert_transitions(")

def statements(con, sql):
    try:
        return [(s, None) for s in con.extract_statements(sql)]
    except AttributeError:  # an old client without extract_statements
        return [(s + ";", None) for s in sql.split(";\n") if s.strip()]

blocks = json.load(sys.stdin)
con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
for b in blocks:
    where = f"README.md line {b['line']} ({b['lang']})"
    try:
        if b["lang"] == "python":
            exec(compile(b["code"], where, "exec"), {"__name__": "__readme__"})
            continue
        for stmt, _ in statements(con, b["code"]):
            text = getattr(stmt, "query", stmt)
            cur = con.execute(stmt)
            rows = cur.fetchall() if cur.description else []
            code = "\n".join(l for l in text.splitlines() if not l.strip().startswith("--")).strip()
            first = code.split(None, 1)[0].upper() if code else ""
            if first in ("SELECT", "FROM", "WITH") and not rows and not any(f in text for f in MAY_BE_EMPTY):
                raise AssertionError(f"no rows from: {text.strip()}")
            if "record_metrics(" in text:
                # The tour reads what the recorder took: wait (with a deadline, not a fixed
                # sleep) until it has a few samples.
                deadline = time.monotonic() + 60
                while con.execute("SELECT coalesce(min(samples_taken), 0) FROM recordings() WHERE state = 'running'").fetchone()[0] < 3:
                    if time.monotonic() > deadline:
                        raise AssertionError("the recorder took fewer than 3 samples in 60 s")
                    time.sleep(0.05)
    except Exception as e:
        print(f"{where} failed: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
left = con.execute("SELECT count(*) FROM recordings() WHERE state = 'running'").fetchone()[0]
left += con.execute("SELECT count(*) FROM servers() WHERE state = 'running'").fetchone()[0]
if left:
    print(f"README.md leaves {left} recorder(s) or server(s) running: stop them in the snippets", file=sys.stderr)
    sys.exit(1)
print("ran", len(blocks), "blocks")
'''


def fenced_blocks(text):
    """(language, code, line of the opening fence) of every fenced block."""
    out = []
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S):
        out.append((m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1))
    return out


def makefile_targets():
    targets = set()
    with open(os.path.join(ROOT, "Makefile")) as f:
        for line in f:
            m = re.match(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", line)
            if m:
                targets.add(m.group(1))
    return targets


def runnable_blocks(text):
    """The blocks the child runs: sql and python blocks, and the SQL of the shell lines."""
    out = []
    for lang, code, line in fenced_blocks(text):
        if lang in ("sql", "python"):
            out.append({"lang": lang, "code": code, "line": line})
        elif lang == "sh":
            for i, l in enumerate(code.splitlines()):
                m = SHELL_LINE.match(l.strip())
                if m:
                    out.append({"lang": "shell", "code": m.group(1), "line": line + 1 + i})
    return out


def run_blocks(blocks, ext, cwd, timeout=120):
    os.makedirs(os.path.join(cwd, os.path.dirname(EXT_REL)), exist_ok=True)
    link = os.path.join(cwd, EXT_REL)
    if not os.path.exists(link):
        os.symlink(ext, link)
    cli = os.environ.get("SYSMON_DUCKDB_CLI")
    in_python = []
    for b in blocks:
        if b["lang"] == "shell" and cli:
            # As written, in the pinned shell: `.venv/bin/duckdb -unsigned -c "<sql>"`.
            r = subprocess.run([cli, "-unsigned", "-c", b["code"]], cwd=cwd, capture_output=True,
                               text=True, timeout=timeout)
            if r.returncode != 0 or "Error" in r.stderr:
                return 1, f"README.md line {b['line']} (duckdb shell) failed: {r.stderr}{r.stdout}"
        else:
            in_python.append({**b, "lang": "sql" if b["lang"] == "shell" else b["lang"]})
    r = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(in_python), cwd=cwd,
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


@pytest.fixture(scope="module")
def readme():
    with open(README) as f:
        return f.read()


def test_readme_snippets_run_as_written(readme, ext, tmp_path):
    blocks = runnable_blocks(readme)
    langs = [b["lang"] for b in blocks]
    assert langs.count("sql") >= 5 and "python" in langs, langs
    rc, out = run_blocks(blocks, ext, str(tmp_path))
    assert rc == 0, out
    # The tour's recording really is on disk where its relative path says.
    assert list((tmp_path / "history" / "metrics").glob("host=*/date=*/*.parquet"))
    assert (tmp_path / "report.html").stat().st_size > 0


def test_a_broken_snippet_fails_the_runner(ext, tmp_path):
    rc, out = run_blocks([{"lang": "sql", "code": f"LOAD '{EXT_REL}';\nSELECT * FROM system_no_such();\n",
                           "line": 7}], ext, str(tmp_path))
    assert rc != 0 and "README.md line 7" in out, out
    rc, out = run_blocks([{"lang": "sql", "code": f"LOAD '{EXT_REL}';\nSELECT * FROM record_metrics('h', INTERVAL 1 SECOND);\n",
                           "line": 9}], ext, str(tmp_path))
    assert rc != 0 and "running" in out, out


def test_readme_shell_snippets_name_existing_make_targets(readme):
    targets = makefile_targets()
    named = []
    for lang, code, line in fenced_blocks(readme):
        if lang != "sh":
            continue
        for target in re.findall(r"(?:^|[;&|]\s*)make\s+([A-Za-z0-9_.-]+)", code, re.M):
            named.append(target)
            assert target in targets, f"README.md line {line}: `make {target}` is not a Makefile target"
    assert {"run", "test"} <= set(named), named


def test_readme_says_how_to_build_before_the_first_load(readme):
    first_load = readme.index("LOAD ")
    first_block = fenced_blocks(readme)[0]
    assert first_block[0] == "sh" and re.search(r"^make (run|release)\b", first_block[1], re.M), first_block
    assert readme.index(first_block[1]) < first_load
    assert "-unsigned" in readme[:first_load + 200] and "allow_unsigned_extensions" in readme[:first_load + 1000]


def test_readme_links_every_doc(readme):
    docs = os.path.join(ROOT, "docs")
    for name in sorted(os.listdir(docs)):
        if name.endswith(".md"):
            assert f"(docs/{name})" in readme, f"README.md does not link docs/{name}"
    for target in re.findall(r"\]\(((?:docs/)[^)#]*)", readme):
        assert os.path.exists(os.path.join(ROOT, target)), f"README.md links a missing {target}"
