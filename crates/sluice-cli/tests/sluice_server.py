"""`sluice serve` for this crate's Python suites (`clients/test_serve.py`,
`console/test_console.py`): a server on a free 127.0.0.1 port with a fresh
data directory, boto3 clients of it, and the PASS/FAIL bookkeeping each
suite ends with ("N passed, M failed")."""

import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import traceback

import boto3
import botocore.config

BIN = os.environ["SLUICE_BIN"]
RESULTS = []
SCRATCH = []


def scratch(prefix):
    """A fresh directory under the system's temp directory, removed with
    everything in it when the suite exits."""
    path = tempfile.mkdtemp(prefix=prefix)
    SCRATCH.append(path)
    return path


@atexit.register
def _remove_scratch():
    for path in SCRATCH:
        shutil.rmtree(path, ignore_errors=True)


class Server:
    """`sluice serve EXTRA...`; its stderr is kept in `log`, its stdout
    (rows of apps without an [[output]]) dropped."""

    def __init__(self, *extra, prefix="sluice-serve-"):
        self.dir = scratch(prefix)
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.dir, *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Apps print their own lines (streams created) before the address.
        seen = []
        m = None
        while m is None and len(seen) < 50:
            line = self.proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            m = re.search(r"on http://([0-9.]+:\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"no address from sluice serve: {seen!r}")
        self.endpoint = "http://" + m.group(1)
        # Drain stderr so a chatty server never blocks on a full pipe.
        self.log = list(seen)
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def client(self, service, key="test", secret="test"):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=botocore.config.Config(retries={"max_attempts": 1}),
        )

    def stop(self):
        """SIGTERM; the exit status must be 0. The data directory stays until
        the suite exits, for the test to read what the server left
        (delivered objects)."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        self.reader.join(timeout=5)
        if code != 0:
            raise AssertionError(f"sluice serve exited {code}: {''.join(self.log[-20:])}")


def test(fn):
    """Runs one test, recording and printing PASS or FAIL (with its trace)."""
    try:
        fn()
        RESULTS.append(True)
        print(f"PASS {fn.__name__}", flush=True)
    except Exception:
        RESULTS.append(False)
        print(f"FAIL {fn.__name__}", flush=True)
        traceback.print_exc()


def summary():
    """Prints "N passed, M failed" and exits 1 if any failed."""
    passed = sum(RESULTS)
    failed = len(RESULTS) - passed
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
