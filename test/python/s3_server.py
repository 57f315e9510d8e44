"""A local S3-compatible server for tests: moto's `moto_server` on 127.0.0.1.

    with S3Server() as s3:                 # or the pytest fixture `s3_server` (conftest)
        s3.client().put_object(Bucket=s3.bucket, Key="k", Body=b"v")
        s3.endpoint                        # 'http://127.0.0.1:<port>'
        s3.env()                           # AWS_* variables for a child process

The server listens on 127.0.0.1 only, on a free port, and stops by itself: when the context
exits, at interpreter exit (atexit), and when the test process dies without either (the kernel
kills it through PR_SET_PDEATHSIG, set in the child before it runs moto_server). Credentials are
fake: moto accepts any key.

`moto_server` is looked up in SYSMON_MOTO_SERVER, next to the running Python, then in the
repository's `.venv-fleet` (`make configure` installs it there), so tests run by another venv
can use it too.
"""

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEY_ID = "sysmon-test-key"
SECRET = "sysmon-test-secret"
REGION = "us-east-1"
PR_SET_PDEATHSIG = 1


def moto_server_path():
    for candidate in (
        os.environ.get("SYSMON_MOTO_SERVER"),
        os.path.join(os.path.dirname(sys.executable), "moto_server"),
        os.path.join(ROOT, ".venv-fleet", "bin", "moto_server"),
        shutil.which("moto_server"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("moto_server not found: run `make configure` (it installs moto[server] into .venv-fleet)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    # Runs in the child between fork and exec: SIGKILL it when the thread that started it dies.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class S3Server:
    """One moto_server process; `bucket` is created at start."""

    client_key_id = KEY_ID
    client_secret = SECRET
    region = REGION

    def __init__(self, bucket="sysmon-fleet", start_timeout=60.0, env=None):
        """`bucket=None` creates none; `env`: extra environment variables for moto_server."""
        self.bucket = bucket
        self.extra_env = env or {}
        self.start_timeout = start_timeout
        self.proc = None
        self.port = None
        self.log_path = None

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def host_port(self):
        return f"127.0.0.1:{self.port}"

    def env(self):
        """AWS variables that point a child process (boto3, sysmon's recorder) at this server."""
        return {
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }

    def client(self):
        import boto3  # only the fleet venv has it; imported here so the module loads anywhere

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.client_key_id,
            aws_secret_access_key=self.client_secret,
            region_name=REGION,
        )

    def start(self):
        exe = moto_server_path()
        last = None
        for _ in range(3):  # a port taken between free_port() and the bind: try another
            self.port = free_port()
            self.log_path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"moto-{os.getpid()}-{self.port}.log")
            log = open(self.log_path, "wb")
            self.proc = subprocess.Popen(
                [exe, "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(os.environ, **self.extra_env),
                preexec_fn=_die_with_parent,
            )
            log.close()
            atexit.register(self.stop)
            if self._wait_ready():
                if self.bucket is not None:
                    self._create_bucket()
                return self
            last = self._log_tail()
            self.stop()
        raise RuntimeError(f"moto_server did not start: {last}")

    def _wait_ready(self):
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=2):
                    return True
            except urllib.error.HTTPError:
                return True  # it answers
            except OSError:
                time.sleep(0.1)
        return False

    def _create_bucket(self):
        self.client().create_bucket(Bucket=self.bucket)

    def _log_tail(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self):
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGCONT)  # a test may have paused it to simulate an outage
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def upload_tree(self, local_dir, prefix=""):
        """Uploads every `*.parquet` file under `local_dir` to `prefix/<same relative path>`
        (what the shipper puts in the bucket: no `.lock`, no temporary files). Returns the keys."""
        client = self.client()
        keys = []
        for dirpath, _, files in os.walk(local_dir):
            for name in sorted(files):
                if not name.endswith(".parquet") or name.startswith("."):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, local_dir).replace(os.sep, "/")
                key = f"{prefix.rstrip('/')}/{rel}" if prefix else rel
                client.upload_file(path, self.bucket, key)
                keys.append(key)
        return sorted(keys)

    def keys(self, prefix=""):
        paginator = self.client().get_paginator("list_objects_v2")
        out = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            out.extend(o["Key"] for o in page.get("Contents", []))
        return sorted(out)



def bucketless_server(key_id, secret, extra_env=None):
    """A started moto_server without a bucket, its client signing as `key_id`/`secret`; skips the
    calling test where moto_server is not installed. `extra_env` goes to moto_server."""
    import pytest

    try:
        moto_server_path()
    except RuntimeError as e:
        pytest.skip(str(e))
    s = S3Server(bucket=None, env=extra_env)
    s.client_key_id, s.client_secret = key_id, secret
    return s.start()


def set_aws_env(monkeypatch, key_id, secret):
    """The AWS variables the recorder reads, for these credentials (no endpoint, profile or token)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_REGION", REGION)
    for v in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT", "AWS_ALLOW_HTTP", "AWS_PROFILE", "AWS_SESSION_TOKEN",
              "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(v, raising=False)

if __name__ == "__main__":
    # A manual check: start, print the endpoint, stop on Ctrl-C.
    with S3Server() as s3:
        print(s3.endpoint, s3.bucket, flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
