"""Real servers for tests that cross process boundaries: gunicorn as in production, and a
private Redis and PostgreSQL that a test may stop without touching anyone else's.

Every server listens on a free loopback port, is started as a child of the test
process and is stopped by its own process id (gunicorn by the process group it
leads), whatever happens in the test. Every wait is bounded in time.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from glob import glob
from pathlib import Path
from urllib.parse import urlencode

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What a client sees when the server is gone or goes away mid-request.
NETWORK_ERRORS = (OSError, http.client.HTTPException)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], object], *, seconds: float, step: float = 0.1) -> bool:
    """Poll ``condition`` until it is true or ``seconds`` have passed; say which."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


def server_env(public_keys: str, **extra: str) -> dict[str, str]:
    """An environment built from nothing, so that no DATABASE_URL, REDIS_URL or UNTOLD_*
    variable of the shell running the tests leaks into a server."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/nonexistent"),
        "UNTOLD_DEBUG": "1",
        "UNTOLD_SECRET_KEY": "server-test-" + uuid.uuid4().hex * 2,
        "UNTOLD_PUBLIC_KEYS": public_keys,
        "UNTOLD_CLOSES_AT": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
        **extra,
    }


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``manage.py`` in a subprocess with exactly ``env``; fails the test if it fails."""
    result = run_manage(*args, env=env)
    if result.returncode != 0:
        pytest.fail(f"manage.py {' '.join(args[:1])} failed:\n{result.stdout}{result.stderr}")
    return result


def shell(script: str, *, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``manage.py shell -c script`` with exactly ``env``; the caller judges its output."""
    return run_manage("shell", "--no-imports", "-c", script, env=env)


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- gunicorn ----------------------------------------------------------------------------


class Gunicorn:
    """gunicorn serving untold.wsgi with ``workers`` processes of ``threads`` threads.

    The master leads a process group of its own (start_new_session), so ``kill()`` ends
    master and workers at once, as a crash or an OOM kill of the whole service would.
    Its stdout and stderr, where Django's log goes too, are kept in ``log_file``."""

    def __init__(
        self,
        env: dict[str, str],
        folder: Path,
        *,
        workers: int = 3,
        threads: int = 8,
        ready_path: str = "/en/",
    ) -> None:
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = folder / f"gunicorn-{self.port}.log"
        self.workers, self.threads, self.ready_path = workers, threads, ready_path
        self.process: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        with self.log_file.open("a") as log:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "gunicorn", "untold.wsgi:application"),
                    *("--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers)),
                    *("--threads", str(self.threads), "--worker-class", "gthread"),
                    *("--timeout", "60", "--graceful-timeout", "5"),
                ],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_until_serving()
        return self

    def wait_until_serving(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited:\n{self.log()}")
            try:
                # The URL is this local server's, http only.
                with urllib.request.urlopen(self.url + self.ready_path, timeout=5) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except NETWORK_ERRORS:
                time.sleep(0.2)
        pytest.fail(f"gunicorn did not answer within {seconds} s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL to master and workers: no request gets to finish, nothing is flushed."""
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def _signal_group(self, signum: int) -> None:
        # The group is the one this object started (start_new_session: pgid == pid).
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


@contextmanager
def gunicorn(env: dict[str, str], folder: Path, **options) -> Iterator[Gunicorn]:
    server = Gunicorn(env, folder, **options)
    try:
        yield server.start()
    finally:
        server.stop()


# --- A private Redis -----------------------------------------------------------------------


class PrivateRedis:
    """redis-server on a free port, without persistence, as a child process of the test."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed: cannot start a private Redis")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.process = subprocess.Popen(
            command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if not wait_for(self.answers, seconds=20):
            self.stop()
            pytest.fail(f"the private redis-server on port {self.port} did not answer")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stored_keys(self) -> list[bytes]:
        """Every key it holds (a handful at most in these tests)."""
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=5)
        try:
            return list(client.scan_iter(count=100))
        finally:
            client.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


# --- A private PostgreSQL ------------------------------------------------------------------


def postgres_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, or Debian's versioned folder."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    found = sorted(
        glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(re.search(r"/(\d+)/bin/", path).group(1)),
    )
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster in a temporary folder, on a free port, trusted
    from loopback only. initdb and pg_ctl refuse to run as root, so under root they
    run as the ``postgres`` OS user. ``stop()`` with ``immediate`` is a crash: no
    checkpoint, the next start recovers from the write-ahead log."""

    def __init__(self) -> None:
        binaries = postgres_binaries()
        if binaries is None:
            pytest.skip("initdb is not installed: cannot start a private PostgreSQL")
        self.initdb, self.pg_ctl = binaries / "initdb", binaries / "pg_ctl"
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root without a postgres OS user to run initdb as")
            self.user = "postgres"
        self.folder = Path(tempfile.mkdtemp(prefix="untold-pg-"))
        if self.user:
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self.data = self.folder / "data"
        self.port = free_port()
        try:
            self._run(
                *(self.initdb, "-D", self.data, "-U", "postgres", "--auth=trust"),
                *("--encoding=UTF8", "--no-locale", "--no-sync"),
            )
        except BaseException:
            self.remove()
            raise

    def _run(self, *command: object) -> None:
        result = subprocess.run(
            [str(part) for part in command],
            cwd=self.folder,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
            user=self.user,
            group=self.user,
            extra_groups=[] if self.user else None,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            log = self.folder / "log"
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            pytest.fail(f"{Path(command[0]).name} failed:\n{result.stdout}{result.stderr}{tail}")

    def start(self) -> None:
        # fsync off: these tests crash processes, never the machine, and the kernel
        # keeps what was written; it makes the 50-client load several times faster.
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            *(self.pg_ctl, "-D", self.data, "-o", options, "-l", self.folder / "log"),
            *("-w", "-t", "60", "start"),
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(self.pg_ctl, "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(self.url(database).replace("postgres://", "postgresql://", 1))

    def execute(self, sql: str) -> None:
        """One statement outside a transaction (CREATE and DROP DATABASE need that)."""
        with self.connect() as connection:
            connection.autocommit = True
            connection.execute(sql)

    def remove(self) -> None:
        """Stop it if it runs (by its own pg_ctl, else by the postmaster's pid) and
        delete the folder."""
        if self.is_running():
            try:
                self.stop("immediate")
            except BaseException:
                pid = int((self.data / "postmaster.pid").read_text().split()[0])
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.folder, ignore_errors=True)


# --- A browser without JavaScript ----------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """One person's browser: its own cookies, redirects not followed, optional headers
    (a user agent, a proxy's client-address header). Network failures are raised."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), NoRedirects()
        )
        if headers:
            self.opener.addheaders = list(headers.items())

    def get(self, path: str, timeout: float = 30) -> Answer:
        return self.open(urllib.request.Request(self.base_url + path), timeout)  # noqa: S310

    def post(self, path: str, fields: dict[str, str], timeout: float = 30) -> Answer:
        request = urllib.request.Request(  # noqa: S310  (this local server's http URL)
            self.base_url + path, data=urlencode(fields, doseq=True).encode(), method="POST"
        )
        return self.open(request, timeout)

    def open(self, request: urllib.request.Request, timeout: float) -> Answer:
        try:
            response = self.opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as error:
            response = error
        with response:
            return Answer(response.status, dict(response.headers), response.read().decode())

    def cookie(self, name: str) -> str | None:
        return next((cookie.value for cookie in self.cookies if cookie.name == name), None)


def hidden(page: str, name: str) -> str:
    """The value the server put in the page's form for this field."""
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no {name} field in the page"
    return found.group(1)


def hidden_fields(page: str, *names: str) -> dict[str, str]:
    """The values the server put in the page's form for these fields."""
    return {name: hidden(page, name) for name in names}


def story_fields(page: str, text: str) -> dict[str, str]:
    """The story form as a person fills it in, on the form page the server sent."""
    fields = hidden_fields(page, "csrfmiddlewaretoken", "served")
    return fields | {"text": text, "consent": "statistics"}


# --- Staff in another process's database ---------------------------------------------------

STAFF_SESSION = """
import time
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from submissions import custody
from submissions.panel.sessions import LOGIN_TIME_KEY
from tests.custody import give_keys
from tests.panel import PASSWORD, staff
user, device = staff({username!r}, {group!r})
client = Client()
client.force_login(user)
session = client.session
session[DEVICE_ID_SESSION_KEY] = device.persistent_id
session[LOGIN_TIME_KEY] = int(time.time())
stored, cookie = custody.sealed_for_session(give_keys(user, PASSWORD), user)
session[custody.SESSION_KEY] = stored
session.save()
print(f"sessionid={{session.session_key}}; untold-keys={{cookie}}")
"""


def staff_session(env: dict[str, str], username: str, group: str = "moderator") -> str:
    """A staff account with a confirmed authenticator, and a session that has passed
    password and code and holds the keys its group holds (granted from the key file
    ``env`` names), created in the database ``env`` names (sessions live there, not in
    the cache). Returns the Cookie header: the session and the keys cookie."""
    script = STAFF_SESSION.format(username=username, group=group)
    return manage("shell", "-c", script, env=env).stdout.strip().splitlines()[-1]
