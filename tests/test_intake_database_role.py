"""The PostgreSQL role that docs/deploy.md gives the intake host is enough to take and
withdraw testimonies, and not enough to read a sealed value."""

from __future__ import annotations

import pytest
from django.db import connection

from submissions.models import Testimony
from tests.servers import server_env, shell

ROLE = "untold_intake_probe"
# The grants exactly as docs/deploy.md lists them.
GRANTS = f"""
GRANT USAGE ON SCHEMA public TO {ROLE};
GRANT INSERT ON submissions_testimony TO {ROLE};
GRANT SELECT (id, receipt_digest), DELETE ON submissions_testimony TO {ROLE};
"""
INTAKE_SCRIPT = """
import re
from django.db import connection
from django.test import Client

client = Client(HTTP_HOST="localhost")
page = client.get("/en/").content.decode()
served = re.search(r'name="served" value="([^"]+)"', page).group(1)
data = {"text": "sent through the intake role", "consent": "quote",
        "served": served}
for _ in range(2):
    assert client.post("/en/", data).status_code == 302
    code = client.cookies["receipt_en"].value.split(":")[0]
    client.get("/en/thanks/")
withdrawn = client.post("/en/withdraw/", {"code": code, "confirmed": "1"})
print("withdraw", withdrawn.status_code)
try:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sealed_text FROM submissions_testimony")
    print("read sealed: allowed")
except Exception as error:
    print("read sealed:", type(error).__name__)
"""


@pytest.mark.django_db(transaction=True)
def test_the_intake_role_can_take_and_withdraw_but_not_read(key_pair):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")
    with connection.cursor() as cursor:
        cursor.execute(f"DROP ROLE IF EXISTS {ROLE}")
        cursor.execute(f"CREATE ROLE {ROLE} LOGIN")
        cursor.execute(GRANTS)
    settings_dict = connection.settings_dict
    env = server_env(
        key_pair.public_text,
        UNTOLD_ROLE="intake",
        DATABASE_URL=(
            f"postgres://{ROLE}@{settings_dict['HOST'] or '127.0.0.1'}:"
            f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
        ),
    )
    try:
        result = shell(INTAKE_SCRIPT, env=env)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"REVOKE ALL ON submissions_testimony FROM {ROLE}")
            cursor.execute(f"REVOKE ALL ON SCHEMA public FROM {ROLE}")
            cursor.execute(f"DROP ROLE {ROLE}")

    assert "withdraw 200" in result.stdout, result.stdout + result.stderr
    assert "read sealed: ProgrammingError" in result.stdout
    # Two were sent, one withdrawn: the other is stored whole and opens here.
    assert [t.open_text() for t in Testimony.objects.all()] == ["sent through the intake role"]
