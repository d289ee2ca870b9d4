"""Submission throughput: the real form POST against a bare view and against the
typical path a Django team would build instead, in the same run.

The real path is the whole of what a person's POST costs: CSRF, the two rate-limit
keys on Redis, validation, sealing (HPKE + AES-GCM) and the PostgreSQL insert. The bare
path is a Django view behind the same middleware that saves the plaintext and nothing
else. Between them, /steps/... add one part of the real path at a time (bench/bare.py),
to show where the difference goes. The typical path (bench/typical.py) is what a team
would assemble from maintained parts: a ModelForm, django-ratelimit's decorator on
Django's RedisCache per address and site-wide, and a Fernet-encrypted text field
(django-fernet-encrypted-fields). All are served by one gunicorn with 2 sync workers,
debug off, on a database of their own (``untold_bench_submit``, or the name given by
``UNTOLD_BENCH_DATABASE`` with ``_submit``, made and dropped here) and Redis db 11 (or
``UNTOLD_BENCH_REDIS_URL``; flushed).

The paths take turns in many short rounds, in a shuffled order, rather than one long
run each: this machine's speed drifts by a third from one minute to the next, and a
path measured in a slow minute against one measured in a fast minute would show the
drift, not the code. Prints requests per
second and p50/p99 latency at 1 and 8 concurrent connections, each path's cost over
the bare one, and the range of the real path's cost over the rounds. Targets (issue
14): the real path costs at most 0.75x the typical one, and at most 1.5x the bare one.
"""

from __future__ import annotations

import http.client
import os
import random
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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DATABASE = os.environ.get("UNTOLD_BENCH_DATABASE", "untold_bench") + "_submit"
PG = "postgres://postgres@127.0.0.1:5432"
REDIS = os.environ.get("UNTOLD_BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
ROUNDS = 20
ROUND_SECONDS = 0.5
OVER_BARE = 1.5
UNDER_TYPICAL = 0.75
BODIES = 64  # different stories each session sends in turn
TEXT = "Ол менің жалақымды алып, тек нанға ақша беретін. " * 20  # about 1 KB


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env(database_url: str) -> dict[str, str]:
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
        "UNTOLD_BACKUP_DAYS": "30",
        "UNTOLD_ORGANISATION": "Untold benchmark",
        "UNTOLD_CONTACT": "bench@example.org",
        "UNTOLD_SSL_REDIRECT": "0",
        # Evaluated on every request, never reached: the benchmark measures their cost.
        "UNTOLD_RATE_PER_CLIENT": "1000000/h",
        "UNTOLD_RATE_SITE": "1000000/h",
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS,
    }


class Session:
    """One browser: a CSRF cookie and the form's tokens, then posts as a lean load
    generator sends them. Each post is a new connection (gunicorn's sync workers close
    every one), and its bytes were made before the rounds began. The client shares the
    machine's two cores with the server. So its own work per request (urlencoding her
    text, http.client's header parsing) would be counted in every path's time alike,
    and would squeeze the ratios toward 1."""

    def __init__(self, port: int) -> None:
        self.port = port
        page, self.cookie = self.get("/en/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        served = re.search(r'name="served" value="([^"]+)"', page).group(1)
        # Stories that differ, as the people's do; made once, sent in turn.
        self.bodies = [
            urlencode(
                {
                    "csrfmiddlewaretoken": csrf,
                    "served": served,
                    "text": TEXT + secrets.token_hex(4),
                    "consent": "quote",
                    "forms_of_violence": "economic",
                }
            ).encode()
            for _ in range(BODIES)
        ]
        self.requests = {path: self.made(path) for path in PATHS.values()}
        self.sent = 0

    def get(self, path: str) -> tuple[str, str]:
        """The page at ``path`` and the cookie it sets."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request("GET", path, headers={"Host": "127.0.0.1", "X-Forwarded-Proto": "https"})
        response = connection.getresponse()
        data = response.read().decode()
        cookie = (response.getheader("Set-Cookie") or "").split(";")[0]
        connection.close()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {data[:300]}")
        return data, cookie

    def made(self, path: str) -> list[bytes]:
        """The bytes of every post to ``path``, as the browser sends the form."""
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Origin: https://127.0.0.1\r\nCookie: {self.cookie}\r\nConnection: close\r\n"
        ).encode()
        return [head + b"Content-Length: %d\r\n\r\n" % len(body) + body for body in self.bodies]

    def post(self, path: str) -> None:
        self.sent += 1
        request = self.requests[path][self.sent % BODIES]
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as connection:
            connection.sendall(request)
            answer = b"".join(iter(lambda: connection.recv(65536), b""))
        status = answer[9:12]
        if status not in (b"200", b"302"):
            raise RuntimeError(f"POST {path}: {answer[:300]!r}")


PATHS = {
    "bare": "/bare/",
    "+ csrf": "/steps/csrf/",
    "+ rate limit": "/steps/rate-limit/",
    "+ validation": "/steps/validation/",
    "+ sealing": "/steps/sealing/",
    "real": "/en/",
    "typical": "/typical/",
}


def load(sessions: list[Session], path: str, seconds: float) -> tuple[int, float, list[float]]:
    """Each session posts to ``path`` in turn, as fast as answers come, for ``seconds``:
    return the number of requests, the time taken and every latency."""
    latencies: list[list[float]] = [[] for _ in sessions]
    stop = time.monotonic() + seconds

    def run(index: int) -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            sessions[index].post(path)
            latencies[index].append(time.perf_counter() - started)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sessions))]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    merged = [value for values in latencies for value in values]
    return len(merged), time.monotonic() - began, merged


def measure(
    port: int, clients: int, paths: tuple[str, ...] = tuple(PATHS), rounds: int = ROUNDS
) -> dict[str, dict[str, object]]:
    """``paths`` in turn, ``rounds`` times; figures over all rounds, and each round's
    rate."""
    sessions = [Session(port) for _ in range(clients)]
    for name in paths:
        load(sessions, PATHS[name], 1)  # warm-up, not counted: fills caches and pools
    runs: dict[str, list[tuple[int, float, list[float]]]] = {name: [] for name in paths}
    turns = random.Random(clients)  # noqa: S311 (an order of turns, the same in every run)
    for _ in range(rounds):
        for name in turns.sample(list(paths), len(paths)):
            runs[name].append(load(sessions, PATHS[name], ROUND_SECONDS))
    figures = {}
    for name, taken in runs.items():
        latencies = sorted(value for _, _, values in taken for value in values)
        figures[name] = {
            "rps": sum(count for count, _, _ in taken) / sum(took for _, took, _ in taken),
            "round_rps": [count / took for count, took, _ in taken],
            "p50": statistics.median(latencies) * 1000,
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        }
    return figures


@contextmanager
def serving(database_url: str) -> Iterator[int]:
    """bench/bare.py under gunicorn (2 sync workers) on ``database_url``, migrated, with
    the typical path's table; Redis flushed before and after. Yields the port."""
    env = server_env(database_url)
    create = ["shell", "-v0", "-c", "from bench.typical import create_table; create_table()"]
    for command in (["migrate", "-v0"], ["collectstatic", "--no-input", "-v0"], create):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            env=env,
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    flush = ["redis-cli", "-u", REDIS, "flushdb"]
    subprocess.run(flush, check=True, capture_output=True)
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
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
        subprocess.run(flush, capture_output=True)


def main() -> int:
    admin = psycopg.connect(f"{PG}/postgres", autocommit=True)
    admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    admin.execute(f"CREATE DATABASE {DATABASE}")
    try:
        with serving(f"{PG}/{DATABASE}") as port:
            results = {clients: measure(port, clients) for clients in (1, 8)}
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")

    print(
        f"\nsubmission, gunicorn 2 workers, PostgreSQL + Redis, "
        f"{ROUNDS} interleaved rounds of {ROUND_SECONDS} s per path"
    )
    print(f"{'path':<14}{'clients':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'cost':>8}")
    missed = False
    for clients, figures in results.items():
        bare = figures["bare"]
        for name, row in figures.items():
            print(
                f"{name:<14}{clients:>8}{row['rps']:>9.1f}{row['p50']:>9.2f}"
                f"{row['p99']:>9.2f}{bare['rps'] / row['rps']:>7.2f}x"
            )
        real = figures["real"]
        for other, target in (("bare", OVER_BARE), ("typical", UNDER_TYPICAL)):
            base = figures[other]
            cost = base["rps"] / real["rps"]
            by_round = sorted(
                b / r for b, r in zip(base["round_rps"], real["round_rps"], strict=True)
            )
            ok = cost <= target
            missed |= not ok
            print(
                f"real/{other} at {clients} client(s): cost {cost:.2f}x by throughput "
                f"({by_round[0]:.2f}-{by_round[-1]:.2f}x over the rounds), "
                f"{real['p50'] / base['p50']:.2f}x by p50 "
                f"(target <= {target}x: {'PASS' if ok else 'MISS'})"
            )
        print()
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
