"""Submission throughput: the real form POST against a bare view, in the same run.

The real path is the whole of what a person's POST costs: CSRF, the two rate-limit
keys on Redis, validation, sealing (HPKE + AES-GCM) and the PostgreSQL insert. The bare
path is a Django view behind the same middleware that saves the plaintext and nothing
else. Both are served by one gunicorn with 2 sync workers, debug off, on a database of
their own (``untold_bench_submit``, made and dropped here) and Redis db 11 (flushed).

Prints requests per second and p50/p99 latency at 1 and 8 concurrent connections, and
the ratio real/bare. Target (issue 6): the real path costs at most 1.3x the bare one.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "untold_bench_submit"
PG = "postgres://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/11"
SECONDS = 8
TARGET = 1.3
TEXT = "Ол менің жалақымды алып, тек нанға ақша беретін. " * 20  # about 1 KB


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env() -> dict[str, str]:
    keys = dict(
        line.split("=", 1)
        for line in (ROOT / ".dev/keys/untold.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(ROOT)),
        "PYTHONPATH": str(ROOT),
        "UNTOLD_SECRET_KEY": secrets.token_urlsafe(50),
        "UNTOLD_PUBLIC_KEYS": keys["UNTOLD_PUBLIC_KEYS"],
        "UNTOLD_CLOSES_AT": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
        "UNTOLD_ALLOWED_HOSTS": "127.0.0.1",
        "UNTOLD_ROLE": "intake",
        "UNTOLD_SSL_REDIRECT": "0",
        # Evaluated on every request, never reached: the benchmark measures their cost.
        "UNTOLD_RATE_PER_CLIENT": "1000000/h",
        "UNTOLD_RATE_SITE": "1000000/h",
        "DATABASE_URL": f"{PG}/{DATABASE}",
        "REDIS_URL": REDIS,
    }


class Session:
    """One browser: a CSRF cookie, the form's tokens, a fresh connection per request
    (gunicorn's sync workers close every connection)."""

    def __init__(self, port: int) -> None:
        self.port = port
        page, cookie = self.request("GET", "/en/")
        self.cookie = cookie
        self.csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        self.served = re.search(r'name="served" value="([^"]+)"', page).group(1)

    def request(self, method: str, path: str, body: str = "") -> tuple[str, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Host": "127.0.0.1", "X-Forwarded-Proto": "https"}
        if method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Cookie"] = self.cookie
            headers["Origin"] = "null"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read().decode()
        cookie = (response.getheader("Set-Cookie") or "").split(";")[0]
        connection.close()
        if response.status not in (200, 302):
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]}")
        return data, cookie

    def post(self, path: str) -> None:
        body = urlencode(
            {
                "csrfmiddlewaretoken": self.csrf,
                "served": self.served,
                "text": TEXT + secrets.token_hex(4),
                "consent": "quote",
                "understood": "on",
                "forms_of_violence": "economic",
            }
        )
        self.request("POST", path, body)


def load(port: int, path: str, clients: int) -> dict[str, float]:
    sessions = [Session(port) for _ in range(clients)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    stop = time.monotonic() + SECONDS

    def run(index: int) -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            sessions[index].post(path)
            latencies[index].append(time.perf_counter() - started)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    merged = sorted(value for values in latencies for value in values)
    return {
        "rps": len(merged) / elapsed,
        "p50": statistics.median(merged) * 1000,
        "p99": merged[min(len(merged) - 1, int(len(merged) * 0.99))] * 1000,
    }


def main() -> int:
    admin = psycopg.connect(f"{PG}/postgres", autocommit=True)
    admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    admin.execute(f"CREATE DATABASE {DATABASE}")
    env = server_env()
    for command in (["migrate", "-v0"], ["collectstatic", "--no-input", "-v0"]):
        subprocess.run([sys.executable, "manage.py", *command], env=env, cwd=ROOT, check=True)
    subprocess.run(["redis-cli", "-n", "11", "flushdb"], check=True, capture_output=True)
    port = free_port()
    log_path = Path(tempfile.mkdtemp(prefix="untold-bench-")) / "gunicorn.log"
    log = log_path.open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "bench.bare:application",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        for _ in range(100):
            try:
                Session(port)
                break
            except OSError:
                time.sleep(0.1)
        results = {}
        for clients in (1, 8):
            for name, path in (("bare", "/bare/"), ("real", "/en/")):
                load(port, path, clients)  # warm-up run, not counted: fills caches and pools
                results[(name, clients)] = load(port, path, clients)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        subprocess.run(["redis-cli", "-n", "11", "flushdb"], capture_output=True)

    print(f"\nsubmission, gunicorn 2 workers, PostgreSQL + Redis, {SECONDS} s per run")
    print(f"{'path':<6}{'clients':>8}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for (name, clients), figures in sorted(results.items(), key=lambda item: item[0][::-1]):
        print(
            f"{name:<6}{clients:>8}{figures['rps']:>10.1f}{figures['p50']:>10.2f}"
            f"{figures['p99']:>10.2f}"
        )
    missed = False
    for clients in (1, 8):
        real, bare = results[("real", clients)], results[("bare", clients)]
        cost = bare["rps"] / real["rps"]
        missed |= cost > TARGET
        print(
            f"real/bare at {clients} client(s): cost {cost:.2f}x by throughput, "
            f"{real['p50'] / bare['p50']:.2f}x by p50 "
            f"(target <= {TARGET}x: {'PASS' if cost <= TARGET else 'MISS'})"
        )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
