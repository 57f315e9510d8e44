# sysmon: build, test and install the DuckDB extension.
#
# Every tested client version is pinned here and nowhere else.
#   DUCKDB_PY_VERSION:  Python `duckdb` in .venv (the main client)
#   DUCKDB_CLI_VERSION: `duckdb-cli` shell in .venv, and Python `duckdb` in .venv-15
#   DUCKDB_LTS_VERSION: Python `duckdb` in .venv-lts
DUCKDB_PY_VERSION   := 2.0.1
DUCKDB_CLI_VERSION  := 1.5.6
DUCKDB_LTS_VERSION  := 1.4.5
PYTEST_VERSION      := 9.2.0
PYTZ_VERSION        := 2026.6
PYARROW_VERSION     := 26.0.1
# DevTools-protocol client of the browser tests (test/python/browser.py drives Debian's chromium).
WEBSOCKET_CLIENT_VERSION := 1.8.0
# Node.js client (npm versions of @duckdb/node-api carry an -r.N suffix), in ./node_modules.
DUCKDB_NODE_VERSION := 1.5.6-r.1
# Reading the fleet (issue 9): .venv-fleet holds Python duckdb 1.4.4 with the httpfs extension
# from PyPI's duckdb-ext-httpfs (built for exactly that version), moto's S3 server, boto3,
# pyarrow, pyspark (with Debian's openjdk-17-jre-headless) and pytest.
DUCKDB_FLEET_VERSION := 1.4.4
DUCKDB_HTTPFS_VERSION := 1.4.4.20260205
MOTO_VERSION        := 5.2.5
BOTO3_VERSION       := 1.44.5
PYSPARK_VERSION     := 4.3.0
# Oldest DuckDB C API the extension is built against (written into the footer).
DUCKDB_CAPI_VERSION := v1.2.0

PYTHON   ?= python3
VENV     := .venv
VENV_15  := .venv-15
VENV_LTS := .venv-lts
VENVS    := $(VENV) $(VENV_15) $(VENV_LTS)
VENV_FLEET := .venv-fleet
PY       := $(VENV)/bin/python
PIP_INSTALL := pip install --quiet --disable-pip-version-check

# Where cargo writes (CARGO_TARGET_DIR when set, as for a worktree that builds apart).
CARGO_TARGET := $(or $(CARGO_TARGET_DIR),target)

RELEASE_EXT := build/release/sysmon.duckdb_extension
DEBUG_EXT   := build/debug/sysmon.duckdb_extension
# The recorder as a service (core/src/bin/sysmon-record.rs, docs/recorder.md), next to the extension.
RELEASE_RECORD := build/release/sysmon-record
# Where cargo writes: target/, or $CARGO_TARGET_DIR when set.
CARGO_TARGET := $(or $(CARGO_TARGET_DIR),target)

# cargo lives in ~/.cargo/bin on rustup installs, which is not always on PATH.
export PATH := $(HOME)/.cargo/bin:$(PATH)
MAKEFLAGS += --no-print-directory

# Recursive (=) so it is only evaluated inside recipes, after `configure` has run.
PLATFORM = $(shell $(PY) -c "import duckdb; print(duckdb.execute('PRAGMA platform').fetchone()[0])")

.DEFAULT_GOAL := release
.PHONY: configure release debug run repository install lint test-unit test-sql test-python test-node test fuzz bench docs clean stress soak test-fleet fleet-sim

# ---------------------------------------------------------------- environments

configure: $(addsuffix /.stamp,$(VENVS)) $(VENV_FLEET)/.stamp

# Stamps depend on the Makefile, so changing a pin re-runs pip (a no-op when satisfied).
$(VENV)/.stamp: Makefile
	test -x $(VENV)/bin/pip || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/$(PIP_INSTALL) duckdb==$(DUCKDB_PY_VERSION) duckdb-cli==$(DUCKDB_CLI_VERSION) \
		pytest==$(PYTEST_VERSION) pytz==$(PYTZ_VERSION) pyarrow==$(PYARROW_VERSION) \
		websocket-client==$(WEBSOCKET_CLIENT_VERSION) moto[server]==$(MOTO_VERSION) boto3==$(BOTO3_VERSION)
	touch $@

$(VENV_15)/.stamp: Makefile
	test -x $(VENV_15)/bin/pip || $(PYTHON) -m venv $(VENV_15)
	$(VENV_15)/bin/$(PIP_INSTALL) duckdb==$(DUCKDB_CLI_VERSION) pytest==$(PYTEST_VERSION) pytz==$(PYTZ_VERSION)
	touch $@

$(VENV_LTS)/.stamp: Makefile
	test -x $(VENV_LTS)/bin/pip || $(PYTHON) -m venv $(VENV_LTS)
	$(VENV_LTS)/bin/$(PIP_INSTALL) duckdb==$(DUCKDB_LTS_VERSION) pytest==$(PYTEST_VERSION) pytz==$(PYTZ_VERSION)
	touch $@

$(VENV_FLEET)/.stamp: Makefile
	test -x $(VENV_FLEET)/bin/pip || $(PYTHON) -m venv $(VENV_FLEET)
	$(VENV_FLEET)/bin/$(PIP_INSTALL) duckdb==$(DUCKDB_FLEET_VERSION) duckdb-ext-httpfs==$(DUCKDB_HTTPFS_VERSION) \
		moto[server]==$(MOTO_VERSION) boto3==$(BOTO3_VERSION) pyarrow==$(PYARROW_VERSION) \
		pyspark==$(PYSPARK_VERSION) pytest==$(PYTEST_VERSION) pytz==$(PYTZ_VERSION)
	touch $@

# Project-local, no package.json: the pin above is the only place the version is written.
node_modules/.stamp: Makefile
	npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error @duckdb/node-api@$(DUCKDB_NODE_VERSION)
	touch $@

# ---------------------------------------------------------------- build

# The extension version: v<workspace.package.version of Cargo.toml>, with -<git hash>[-dirty]
# unless HEAD is the tag of that version (scripts/version.py). The one string goes into the
# metadata footer and, through SYSMON_EXTENSION_VERSION, into system_info().extension_version.
# Override with `make EXTENSION_VERSION=v1.2.3`.
EXTENSION_VERSION ?= $(shell $(PYTHON) scripts/version.py)
APPEND_METADATA = $(PY) scripts/append_metadata.py --platform $(PLATFORM) \
	--duckdb-capi-version $(DUCKDB_CAPI_VERSION) --extension-version $(EXTENSION_VERSION)

release: configure
	SYSMON_EXTENSION_VERSION=$(EXTENSION_VERSION) cargo build --release -p sysmon
	$(APPEND_METADATA) --input $(CARGO_TARGET)/release/libsysmon.so --output $(RELEASE_EXT)
	cargo build --release -p sysmon-core --bin sysmon-record
	install -m 755 $(CARGO_TARGET)/release/sysmon-record $(RELEASE_RECORD)
	cargo build --release -p sysmon-cli && cp $(CARGO_TARGET)/release/sysmon build/release/sysmon  # `sysmon top`, `sysmon record`

debug: configure
	SYSMON_EXTENSION_VERSION=$(EXTENSION_VERSION) cargo build -p sysmon
	$(APPEND_METADATA) --input $(CARGO_TARGET)/debug/libsysmon.so --output $(DEBUG_EXT)

run: release
	$(VENV)/bin/duckdb -unsigned -line -c "LOAD '$(RELEASE_EXT)'; SELECT * FROM system_info(); SELECT * FROM system_metrics();"

# ---------------------------------------------------------------- repository and install

# An extension repository for `INSTALL sysmon FROM '<dir>'`: the release build under
# v<duckdb version>/<platform>/ (plain and .gz) for each pinned DuckDB, each installed and
# loaded once from it by that client (scripts/repository.py).
REPOSITORY := build/repository

repository: release
	@for venv in $(VENVS); do \
		$$venv/bin/python scripts/repository.py $(RELEASE_EXT) $(REPOSITORY) || exit 1; \
	done

# Each pinned client installs from the repository itself (FORCE INSTALL sysmon FROM), so DuckDB
# picks its own directory (~/.duckdb/extensions/v<version>/<platform>/) and records the
# repository for UPDATE EXTENSIONS. The 1.5.6 shell shares its directory with .venv-15.
install: repository
	@for venv in $(VENVS); do \
		$$venv/bin/python scripts/install_extension.py $(REPOSITORY) || exit 1; \
	done

# ---------------------------------------------------------------- checks

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(PYTHON) scripts/module_cycles.py

test-unit:
	cargo test --workspace

test-sql: release
	@for venv in $(VENVS); do \
		echo "== sqllogictest with $$venv"; \
		$$venv/bin/python scripts/sqllogictest.py --extension $(RELEASE_EXT) test/sql || exit 1; \
	done

test-python: release
	@for venv in $(VENVS); do \
		echo "== pytest with $$venv"; \
		SYSMON_EXTENSION=$(abspath $(RELEASE_EXT)) SYSMON_DUCKDB_CLI=$(abspath $(VENV)/bin/duckdb) \
			SYSMON_RECORD_BIN=$(abspath $(RELEASE_RECORD)) SYSMON_BIN=$(abspath build/release/sysmon) \
			$$venv/bin/python -m pytest -q test/python --ignore=test/python/fleet || exit 1; \
	done

# Reading the fleet: a recording made by the release build (with the main client) put into a
# moto_server on 127.0.0.1 and read back by DuckDB 1.4.4 + httpfs, pyarrow and Spark (needs java).
test-fleet: release $(VENV_FLEET)/.stamp
	@command -v java >/dev/null || { echo "test-fleet: java not found (Debian: apt-get install openjdk-17-jre-headless)" >&2; exit 1; }
	SYSMON_EXTENSION=$(abspath $(RELEASE_EXT)) SYSMON_RECORD_PYTHON=$(abspath $(PY)) \
		$(VENV_FLEET)/bin/python -m pytest -q test/python/fleet

# 100 hosts x one day at 1 Hz written by the recorder's writer, uploaded to moto, queried by
# DuckDB over S3 in two layouts (scripts/fleet_sim.py; a few minutes).
FLEET_HOSTS ?= 100
fleet-sim: $(VENV_FLEET)/.stamp
	cargo build --release -p sysmon-testkit --example fleet_day
	$(VENV_FLEET)/bin/python scripts/fleet_sim.py --hosts $(FLEET_HOSTS)

# The parsers' property tests (crates/kernel/src/procfs/fuzz.rs) with many more cases than the short
# run inside `make test-unit`: `make fuzz FUZZ_CASES=1000000`.
FUZZ_CASES ?= 20000
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) cargo test -p sysmon-kernel --lib -- procfs::fuzz

# Node.js: every live table, a two-second recording read back, INSTALL from the repository.
test-node: repository node_modules/.stamp
	SYSMON_EXTENSION=$(abspath $(RELEASE_EXT)) SYSMON_REPOSITORY=$(abspath $(REPOSITORY)) \
		node --test test/node/test_sysmon.mjs

# Load and long-run checks (scripts/stress.py, scripts/soak.py). `make test` runs short ones;
# there (a loaded 2-core CI box) missed ticks get a generous bound: the 8 query threads take
# the CPUs from the 10 ms sampling thread (docs/benchmarks.md, "Stress and soak").
STRESS_SECONDS        ?= 60
STRESS_MAX_MISSED_PCT ?= 1
MINUTES               ?= 10

stress: release
	STRESS_SECONDS=$(STRESS_SECONDS) STRESS_MAX_MISSED_PCT=$(STRESS_MAX_MISSED_PCT) \
		$(PY) scripts/stress.py --extension $(RELEASE_EXT)

soak: release
	$(PY) scripts/soak.py --extension $(RELEASE_EXT) --minutes $(MINUTES)

# One step at a time, stopping at the first failure (also under `make -j`).
test:
	$(MAKE) lint
	$(MAKE) test-unit
	$(MAKE) release
	$(MAKE) test-sql
	$(MAKE) test-python
	$(MAKE) test-fleet
	$(MAKE) test-node
	$(MAKE) stress STRESS_SECONDS=20 STRESS_MAX_MISSED_PCT=50
	$(MAKE) soak MINUTES=1

# ---------------------------------------------------------------- misc

bench: release
	cargo bench -p sysmon-core
	$(PY) scripts/bench_sql.py --extension $(RELEASE_EXT)
	$(PY) scripts/bench_recorder.py
	$(PY) scripts/bench_serve.py --extension $(RELEASE_EXT)
	$(PY) scripts/bench_alerts.py --extension $(RELEASE_EXT)
	rm -rf target/sysmon-bench/recorded-day
	cargo run --release -q -p sysmon-testkit --example fleet_day -- target/sysmon-bench/recorded-day --hosts 1 --history 0 > /dev/null
	$(PY) scripts/bench_read_recording.py --extension $(RELEASE_EXT) --dir target/sysmon-bench/recorded-day
	$(PY) scripts/bench_replay.py --bin build/release/sysmon --dir target/sysmon-bench/recorded-day
	$(PY) scripts/bench_top.py --bin build/release/sysmon  # exits 1 over top's (or htop's) CPU or 20 MiB (docs/benchmarks.md)

docs:
	cargo run -q -p sysmon-core --example gen_docs -- --write .

clean:
	cargo clean
	rm -rf build .pytest_cache
