"""INSTALL sysmon FROM an extension repository (scripts/repository.py, `make repository`): from a
folder, over http, through custom_extension_repository, UPDATE EXTENSIONS, and in the pinned shell.

Every test installs into its own extension_directory under tmp_path, never ~/.duckdb.
"""

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from conftest import extension_path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from append_metadata import FIELD_SIZE, FOOTER_SIZE, SIGNATURE_SIZE, footer  # noqa: E402
from repository import client_target, publish, sql_text  # noqa: E402
from version import cargo_version  # noqa: E402


def footer_fields(path: Path) -> list[str]:
    """The eight metadata fields of an extension file, field 0 (magic) first."""
    data = path.read_bytes()
    meta = data[-(8 * FIELD_SIZE + SIGNATURE_SIZE):-SIGNATURE_SIZE]
    fields = [meta[i * FIELD_SIZE:(i + 1) * FIELD_SIZE].rstrip(b"\0").decode() for i in range(8)]
    return list(reversed(fields))


def with_version(src: Path, dst: Path, version: str) -> Path:
    """A copy of the extension `src` whose footer says `version` (the same library otherwise)."""
    fields = footer_fields(src)
    dst.write_bytes(src.read_bytes()[:-FOOTER_SIZE] + footer(fields[1], fields[2], version))
    return dst


@pytest.fixture
def target():
    return client_target(duckdb.connect())


@pytest.fixture
def repo(tmp_path, target):
    publish(Path(extension_path()), tmp_path / "repo", *target)
    return tmp_path / "repo"


@pytest.fixture
def ext_dir(tmp_path):
    return tmp_path / "ext"


@pytest.fixture
def fresh(ext_dir):
    """A connection whose extensions live in ext_dir."""
    con = duckdb.connect(config={"allow_unsigned_extensions": "true", "extension_directory": str(ext_dir)})
    yield con
    con.close()


class Server:
    """An http server on 127.0.0.1 serving `root`, recording the paths asked for; stops on exit."""

    def __init__(self, root: Path):
        self.paths = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                outer.paths.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def installed(con):
    return con.execute(
        "SELECT installed, install_path, extension_version, installed_from FROM duckdb_extensions() "
        "WHERE extension_name = 'sysmon'"
    ).fetchone()


def check_loaded(con, ext_dir: Path):
    is_installed, path, version, _ = installed(con)
    assert is_installed and Path(path).is_relative_to(ext_dir), path
    assert con.execute("SELECT count(*), any_value(extension_version) FROM system_info()").fetchone() == (1, version)


def test_repository_layout(repo, target):
    version, platform = target
    folder = repo / version / platform
    assert sorted(p.name for p in folder.iterdir()) == ["sysmon.duckdb_extension", "sysmon.duckdb_extension.gz"]
    assert footer_fields(folder / "sysmon.duckdb_extension")[1] == platform


@pytest.mark.parametrize("keep", ["sysmon.duckdb_extension", "sysmon.duckdb_extension.gz"])
def test_install_from_folder(fresh, ext_dir, repo, target, keep):
    # A folder repository reads the plain file or the .gz: each one alone must work.
    folder = repo.joinpath(*target)
    for f in folder.iterdir():
        if f.name != keep:
            f.unlink()
    fresh.execute(f"INSTALL sysmon FROM {sql_text(str(repo))}")
    fresh.execute("LOAD sysmon")
    check_loaded(fresh, ext_dir)
    assert installed(fresh)[3] == str(repo)


def test_install_over_http(fresh, ext_dir, repo, target):
    with Server(repo) as server:
        fresh.execute(f"INSTALL sysmon FROM {sql_text(server.url)}")
    fresh.execute("LOAD sysmon")
    check_loaded(fresh, ext_dir)
    version, platform = target
    assert f"/{version}/{platform}/sysmon.duckdb_extension.gz" in server.paths


def test_install_from_custom_extension_repository(fresh, ext_dir, repo):
    fresh.execute(f"SET custom_extension_repository = {sql_text(str(repo))}")
    fresh.execute("INSTALL sysmon")
    fresh.execute("LOAD sysmon")
    check_loaded(fresh, ext_dir)


def test_update_extensions_sees_a_newer_build(tmp_path, fresh, repo, target):
    version, platform = target
    fresh.execute(f"INSTALL sysmon FROM {sql_text(str(repo))}")
    before = installed(fresh)[2]
    assert before.startswith(cargo_version()), before
    # A newer build: the same library with the next patch version in its footer.
    major, minor, patch = cargo_version().removeprefix("v").split(".")
    newer = f"v{major}.{minor}.{int(patch) + 1}"
    publish(with_version(Path(extension_path()), tmp_path / "sysmon.duckdb_extension", newer), repo, version, platform)

    def update():
        cur = fresh.execute("UPDATE EXTENSIONS")
        names = [d[0] for d in cur.description]
        return [{k: r[names.index(k)] for k in ("extension_name", "update_result", "previous_version",
                                                 "current_version")} for r in cur.fetchall()]

    # DuckDB compares the version strings: a different one is an update.
    assert update() == [{"extension_name": "sysmon", "update_result": "UPDATED",
                         "previous_version": before, "current_version": newer}]
    assert installed(fresh)[2] == newer
    assert [r["update_result"] for r in update()] == ["NO_UPDATE_AVAILABLE"]


def shell(sql: str, cwd: Path) -> str:
    cli = os.environ.get("SYSMON_DUCKDB_CLI")
    if not cli:
        pytest.skip("SYSMON_DUCKDB_CLI is not set")
    out = subprocess.run([cli, "-unsigned", "-noheader", "-list", "-c", sql], cwd=cwd,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("over_http", [False, True])
def test_install_in_the_pinned_shell(tmp_path, over_http):
    version, platform = shell("SELECT library_version, platform FROM pragma_version(), pragma_platform();",
                              tmp_path).strip().split("|")
    repo = tmp_path / "repo"
    publish(Path(extension_path()), repo, version, platform)
    ext_dir = tmp_path / "ext"

    def install(source):
        return shell(f"SET extension_directory = {sql_text(str(ext_dir))}; INSTALL sysmon FROM {sql_text(source)}; "
                     "LOAD sysmon; SELECT count(*) FROM system_info();", tmp_path)

    if over_http:
        with Server(repo) as server:
            out = install(server.url)
    else:
        out = install(str(repo))
    assert out.strip() == "1"
    assert (ext_dir / version / platform / "sysmon.duckdb_extension").is_file()


def test_description_yml_is_the_crates():
    # description.yml (the community-extensions descriptor) against the required fields of their
    # schema, and its version against Cargo.toml: nothing else writes it.
    root = Path(__file__).resolve().parents[2]
    fields, section = {}, None
    for line in (root / "description.yml").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            section = line.rstrip(":")
        elif line.startswith("  ") and not line.startswith("   ") and ":" in line:
            key, value = line.strip().split(":", 1)
            fields[f"{section}.{key}"] = value.strip().strip('"')
    assert fields["extension.name"] == "sysmon"
    assert "v" + fields["extension.version"] == cargo_version()
    assert fields["extension.build"] == "cargo" and fields["extension.language"] == "Rust"
    assert fields["extension.description"] and "extension.maintainers" in fields
    assert re.fullmatch(r"[a-zA-Z0-9_-]+/[a-zA-Z0-9_.-]+", fields["repo.github"])
    assert re.fullmatch(r"[a-f0-9]{40}|v?[0-9]+\.[0-9]+\.?[0-9]*.*|[a-z0-9_.-]+", fields["repo.ref"])
