"""The anonymized CSV: what goes in, how it is written, and that it streams.

Both ways out are exercised, ``manage.py export_testimonies`` and the panel's export
page, because both use the one code path in ``submissions/export.py``.
"""

from __future__ import annotations

import csv
import http.client
import io
import os
import re
import socket
import subprocess
import sys
import threading
import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.http import StreamingHttpResponse
from hypothesis import given, settings
from hypothesis import strategies as st

from submissions.choices import Consent, Status
from submissions.export import ExportPlan, quoted_row
from submissions.models import AuditEvent, Testimony
from tests.panel import PANEL, staff, verified_client
from tests.servers import free_port, hidden, wait_for

ROOT = Path(__file__).resolve().parent.parent
HEADER = "record,received_week,language,forms_of_violence,age_group,region,teller,consent,text"
BOM = b"\xef\xbb\xbf"
MARKER = "ORIGINAL-ONLY-MARKER-Әйгерім"
MONDAY = date(2023, 12, 4)  # ISO week 2023-W49
FIELD = r'"(?:[^"]|"")*"'
RECORD = rf"{FIELD}(?:,{FIELD}){{8}}\r\n"
FORMULA_STARTS = set("=+-@\t\r\n\0")


def sealed(
    campaign_text: str | None,
    *,
    status: str = Status.APPROVED,
    consent: str = Consent.QUOTE,
    forms: tuple[str, ...] = (),
    day: date = MONDAY,
) -> Testimony:
    """An unsaved testimony sealed through the real path; all share one combination of
    quasi-identifiers, so that k=5 keeps every row of a small data set."""
    record = Testimony(
        language="kk",
        received_on=day,
        age_group="25_34",
        region="KZ-71",
        teller="survivor",
        consent=consent,
        status=status,
    )
    record.violence_forms = list(forms)
    record.seal_text(f"{MARKER} {campaign_text}")
    if campaign_text is not None:
        record.seal_campaign_text(campaign_text)
    return record


@pytest.fixture
def sample(db) -> list[Testimony]:
    # Three groups of five rows that share every exported answer, so that k=5 keeps them.
    records = [
        sealed(f"quoted-{n}: he said [name]", forms=("physical", "economic")) for n in range(5)
    ]
    records.append(sealed('She said "stop", then,\r\nleft\nagain', forms=("harassment",)))
    records += [sealed(f"harassment-{n}", forms=("harassment",)) for n in range(4)]
    records += [sealed(f"statistics-{n}", consent=Consent.STATISTICS) for n in range(5)]
    records += [sealed(f"new-{n}", status=Status.NEW) for n in range(3)]
    records += [sealed(f"rejected-{n}", status=Status.REJECTED) for n in range(3)]
    records.append(sealed("without-consent", consent=""))
    return Testimony.objects.bulk_create(records)


def csv_of(plan: ExportPlan, *, bom: bool = True) -> Iterator[bytes]:
    """Both passes of ``plan``, as start() runs them, without putting it on record."""
    spool, unopened = plan.spool()
    assert unopened == 0
    return ExportPlan.written(spool, bom=bom)


def export_by_command(tmp_path: Path, **options) -> bytes:
    path = tmp_path / f"export-{uuid.uuid4().hex}.csv"
    call_command("export_testimonies", output=str(path), stderr=io.StringIO(), **options)
    return path.read_bytes()


def export_by_panel(client, **data) -> StreamingHttpResponse:
    return client.post(f"{PANEL}export/", {"k": 5, "bom": "on", **data})


def both_ways(tmp_path: Path, client) -> list[bytes]:
    """The same export by the command and by the panel."""
    return [export_by_command(tmp_path), b"".join(export_by_panel(client).streaming_content)]


def rows(raw: bytes) -> list[dict[str, str]]:
    text = raw.removeprefix(BOM).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.fixture
def campaigner(db):
    return verified_client(*staff("campaigner", "campaign"))


# --- the file's shape ------------------------------------------------------------------


@pytest.mark.django_db
def test_header_is_exactly_the_documented_columns(sample, tmp_path, campaigner):
    for raw in both_ways(tmp_path, campaigner):
        first_line = raw.removeprefix(BOM).split(b"\r\n")[0].decode()
        assert first_line == ",".join(f'"{name}"' for name in HEADER.split(","))


@pytest.mark.django_db
def test_bom_by_default_and_gone_when_asked(sample, tmp_path, campaigner):
    assert export_by_command(tmp_path).startswith(BOM + b'"record"')
    assert export_by_command(tmp_path, no_bom=True).startswith(b'"record"')

    with_bom = b"".join(export_by_panel(campaigner).streaming_content)
    without = b"".join(campaigner.post(f"{PANEL}export/", {"k": 5}).streaming_content)
    assert with_bom.startswith(BOM + b'"record"')
    assert without.startswith(b'"record"')


@pytest.mark.django_db
def test_every_field_is_quoted_quotes_doubled_and_lines_end_in_crlf(sample, tmp_path):
    raw = export_by_command(tmp_path, no_bom=True)

    text = raw.decode("utf-8")
    assert re.fullmatch(rf"(?:{RECORD})+", text), "not RFC 4180 with every field quoted"
    assert '"She said ""stop"", then,\r\nleft\nagain"' in text
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert all(len(row) == 9 for row in parsed)
    assert 'She said "stop", then,\r\nleft\nagain' in [row[8] for row in parsed]


# --- what goes in ----------------------------------------------------------------------


@pytest.mark.django_db
def test_only_approved_consented_rows_with_campaign_text_only(sample, tmp_path, campaigner):
    for raw in both_ways(tmp_path, campaigner):
        exported = rows(raw)
        decoded = raw.decode("utf-8")

        assert len(exported) == 15
        assert MARKER not in decoded
        for absent in ("new-", "rejected-", "without-consent", "statistics-"):
            assert absent not in decoded
        quoted = sorted(row["text"] for row in exported if row["consent"] == "quote")
        assert quoted == sorted(
            [f"quoted-{n}: he said [name]" for n in range(5)]
            + [f"harassment-{n}" for n in range(4)]
            + ['She said "stop", then,\r\nleft\nagain']
        )
        statistics = [row for row in exported if row["consent"] == "statistics"]
        assert len(statistics) == 5
        assert all(row["text"] == "" for row in statistics)


@pytest.mark.django_db
def test_received_week_is_an_iso_week_never_a_day(db, tmp_path):
    days = [MONDAY + timedelta(days=n) for n in range(-3, 4)]  # across two ISO weeks
    Testimony.objects.bulk_create([sealed(f"t{n}", day=day) for day in days for n in range(5)])

    exported = rows(export_by_command(tmp_path))

    assert {row["received_week"] for row in exported} == {"2023-W48", "2023-W49"}
    assert not any(re.search(r"\d{4}-\d{2}-\d{2}", ",".join(row.values())) for row in exported)


@pytest.mark.django_db
def test_forms_of_violence_are_joined_with_semicolons(sample, tmp_path):
    forms = {row["forms_of_violence"] for row in rows(export_by_command(tmp_path))}

    assert forms == {"economic; physical", "harassment", ""}


@pytest.mark.django_db
def test_record_ids_are_fresh_in_every_export_and_not_the_database_id(sample, tmp_path):
    first = {row["record"] for row in rows(export_by_command(tmp_path))}
    second = {row["record"] for row in rows(export_by_command(tmp_path))}

    assert len(first) == len(second) == 15
    assert not first & second
    for pk in Testimony.objects.values_list("id", flat=True):
        assert not any(record in pk.hex or record in str(pk) for record in first | second)


@pytest.mark.django_db
def test_row_order_differs_between_two_exports_of_the_same_data(db, tmp_path):
    Testimony.objects.bulk_create([sealed(f"row-{n:02d}") for n in range(50)])

    first = [row["text"] for row in rows(export_by_command(tmp_path))]
    second = [row["text"] for row in rows(export_by_command(tmp_path))]

    assert sorted(first) == sorted(second) == [f"row-{n:02d}" for n in range(50)]
    assert first != second


# --- safe to open ----------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_any_text_survives_defusing_and_quoting_and_can_be_restored(value):
    (parsed,) = csv.reader(io.StringIO(quoted_row([value, "after"]), newline=""))
    cell, after = parsed

    assert after == "after"
    assert cell.lstrip(" ")[:1] not in FORMULA_STARTS
    assert (cell[1:] if cell.startswith("'") else cell) == value


@pytest.mark.django_db
def test_formula_like_campaign_text_is_defused_in_the_file(db, tmp_path):
    dangerous = ['=HYPERLINK("http://evil.example","x")', "  +1+1", "-2", "@SUM(A1)"]
    dangerous += ["\tTAB", "\r\n=cmd", "\0nul", "'quoted"]
    harmless = ['"=in quotes"', "plain", " spaced"]
    Testimony.objects.bulk_create([sealed(text) for text in dangerous + harmless])

    exported = [row["text"] for row in rows(export_by_command(tmp_path, k=5))]

    assert sorted(exported) == sorted(["'" + text for text in dangerous] + harmless)
    assert not [cell for cell in exported if cell.lstrip(" ")[:1] in FORMULA_STARTS]


# --- audit and HTTP --------------------------------------------------------------------


@pytest.mark.django_db
def test_the_command_records_an_audit_event_with_rows_and_options(sample, tmp_path):
    export_by_command(tmp_path, no_bom=True)

    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORTED)
    assert event.actor == "manage.py export_testimonies"
    assert event.detail == {"rows": 15, "suppressed": 0, "k": 5, "bom": False}


@pytest.mark.django_db
def test_the_panel_streams_an_attachment_and_records_an_audit_event(sample, campaigner):
    response = export_by_panel(campaigner, k=6)

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    # With k=6 the two groups of five quotable rows show their forms of violence as
    # "withheld" and stand together; the five statistics rows are left out.
    exported = rows(b"".join(response.streaming_content))
    assert len(exported) == 10
    assert {row["forms_of_violence"] for row in exported} == {"withheld"}
    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORTED)
    assert event.actor == "campaigner"
    assert event.detail == {"rows": 10, "suppressed": 5, "k": 6, "bom": True}


def test_the_commands_file_is_readable_by_its_owner_only(sample, tmp_path):
    # Even over a file that was there before, readable by everyone:
    target = tmp_path / "export.csv"
    target.write_bytes(b"old")
    target.chmod(0o644)

    call_command("export_testimonies", output=str(target), stderr=io.StringIO())

    assert target.stat().st_mode & 0o777 == 0o600
    assert rows(target.read_bytes())


def test_the_command_leaves_the_permissions_of_what_is_not_a_file_alone(sample, tmp_path):
    # A pipe (or /dev/null) is written to as it is: its permissions belong to others.
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe, 0o644)
    received = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()))
    reader.start()

    call_command("export_testimonies", output=str(pipe), stderr=io.StringIO())
    reader.join(timeout=30)

    assert pipe.stat().st_mode & 0o777 == 0o644
    assert rows(received[0])


@pytest.mark.django_db(transaction=True)
def test_the_plan_and_the_file_outside_any_transaction(settings):
    """The export page's preview plans in autocommit, outside the export's snapshot; on
    PostgreSQL its cursor must outlive the commit that ends its query."""
    settings.UNTOLD_EXPORT_K = 2
    Testimony.objects.bulk_create(
        [sealed(f"text {n}", day=MONDAY + timedelta(days=7 * (n % 3))) for n in range(6)]
    )

    plan = ExportPlan.build(Testimony.objects.exportable(), k=2)
    written = b"".join(csv_of(plan, bom=False))

    assert (plan.rows, plan.suppressed) == (6, 0)
    assert sorted(row["text"] for row in rows(written)) == [f"text {n}" for n in range(6)]


# --- flat memory -----------------------------------------------------------------------


def peak_while_streaming() -> int:
    plan = ExportPlan.build(Testimony.objects.exportable(), k=5)
    tracemalloc.start()
    try:
        size = sum(len(chunk) for chunk in csv_of(plan))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert size > plan.rows * 1000
    return peak


@pytest.mark.django_db
def test_memory_while_streaming_does_not_grow_with_the_number_of_rows(db):
    text = "Бәрі үйленгеннен кейін басталды. " * 35  # about 1 KB
    Testimony.objects.bulk_create([sealed(text) for _ in range(1000)], batch_size=500)
    peak_1000 = peak_while_streaming()
    Testimony.objects.bulk_create([sealed(text) for _ in range(3000)], batch_size=500)
    peak_4000 = peak_while_streaming()

    assert peak_4000 < 1.5 * peak_1000 + 1024 * 1024, (peak_1000, peak_4000)


# --- a download cut short --------------------------------------------------------------

SERVER_SETUP = """
import io, sys
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
from tests.panel import staff, verified_client

call_command("migrate", verbosity=0)
call_command("seed_demo", count=int(sys.argv[1]), status="approved", size=2000,
             random_seed=1, stdout=io.StringIO())
client = verified_client(*staff("campaigner", "campaign"))
print(client.cookies[settings.UNTOLD_KEYS_COOKIE_NAME].value)
print(client.cookies[settings.SESSION_COOKIE_NAME].value)
"""
# A thin line to a slow client: small send buffers, set on the listening socket and so
# inherited by every connection, keep the kernel from absorbing the whole file, and the
# worker waits on the client as it would on a real slow download.
SERVER_CONFIG = """
import socket


def when_ready(server):
    for listener in server.LISTENERS:
        listener.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
"""


class SlowReader(http.client.HTTPConnection):
    """A client on a thin line: a small receive buffer, so the server soon waits on it."""

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        self.sock.settimeout(self.timeout)
        self.sock.connect((self.host, self.port))


def wait_for_log(
    log: Path, text: str, process: subprocess.Popen, seconds: float, *, after: int = 0
) -> bool:
    """Whether ``text`` shows up in the log past its first ``after`` characters before
    the process ends or ``seconds`` pass."""

    def seen() -> bool:
        return text in log.read_text()[after:]

    wait_for(lambda: seen() or process.poll() is not None, seconds=seconds)
    return seen()


def test_a_download_cut_off_by_the_worker_timeout_is_an_error_for_the_client(tmp_path, key_pair):
    """gunicorn's sync worker with a one-second timeout and a client that reads too
    slowly for a CSV of about a megabyte: the worker is killed mid-stream. The client
    must see a broken chunked body (IncompleteRead or a reset), never a clean end that
    would pass for a whole file.

    The server gets a migrated SQLite file of its own, whatever database the suite uses,
    so that nothing it writes touches the suite's database."""
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "untold.settings",
        "UNTOLD_DEBUG": "1",
        # Sessions are signed with it: the setup process and the server must share it.
        "UNTOLD_SECRET_KEY": "cut-off-test-" + uuid.uuid4().hex * 2,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cutoff.sqlite3'}",
        "UNTOLD_PUBLIC_KEYS": key_pair.public_text,
        "UNTOLD_PRIVATE_KEY_FILES": str(key_pair.private_file),
        "UNTOLD_ALLOWED_HOSTS": "127.0.0.1",
    }
    setup = subprocess.run(
        [sys.executable, "-c", SERVER_SETUP, "600"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert setup.returncode == 0, setup.stderr
    keys, session = setup.stdout.strip().splitlines()[-2:]
    config = tmp_path / "gunicorn.conf.py"
    config.write_text(SERVER_CONFIG)
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    log = log_path.open("w")
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "untold.wsgi:application", "-c", str(config)),
            *("--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", "sync"),
            # Loaded once in the arbiter, so that booting a worker never counts against
            # the one-second timeout.
            *("--timeout", "1", "--preload"),
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        assert wait_for_log(log_path, "Booting worker", server, 30), log_path.read_text()
        page = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        page.request(
            "GET", f"{PANEL}export/", headers={"Cookie": f"sessionid={session}; untold-keys={keys}"}
        )
        answer = page.getresponse()
        html = answer.read().decode()
        assert answer.status == 200, html
        csrf = re.search(r"csrftoken=([^;]+)", answer.getheader("Set-Cookie")).group(1)
        token = hidden(html, "csrfmiddlewaretoken")
        page.close()

        # A worker may already have been replaced on a busy machine; only a timeout
        # after this point counts.
        before = len(log_path.read_text())
        download = SlowReader("127.0.0.1", port, timeout=10)
        download.request(
            "POST",
            f"{PANEL}export/",
            body=urlencode({"k": 5, "bom": "on", "csrfmiddlewaretoken": token}),
            headers={
                "Cookie": f"sessionid={session}; untold-keys={keys}; csrftoken={csrf}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        response = download.getresponse()
        assert response.status == 200
        assert response.getheader("Transfer-Encoding") == "chunked"
        assert response.getheader("Content-Length") is None
        killed = wait_for_log(log_path, "WORKER TIMEOUT", server, 15, after=before)
        assert killed, log_path.read_text()

        received = bytearray()
        with pytest.raises((http.client.IncompleteRead, ConnectionError)):
            while chunk := response.read1(64 * 1024):
                received += chunk
        assert received.startswith(BOM + b'"record"')
        download.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
