"""No races in the panel's writes, and one snapshot per export (PostgreSQL).

Two moderators, or a moderator and a withdrawal, act on the same rows at once. A bulk
approval locks the rows it changes and judges each again once it has the lock: a
campaign text blanked meanwhile keeps a story from being approved without one, and an
approval made meanwhile is not recorded twice. An export reads its plan and its rows
from one snapshot, so a withdrawal in between cannot leave a group smaller than k.
"""

from __future__ import annotations

import csv
import io
import threading

import pytest
from django.db import connection, connections

from submissions.export import start as start_export
from submissions.models import AuditEvent, Testimony
from tests.conftest import another_connection, new_testimony, wait_for_a_waiting_lock

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's row locks"),
    pytest.mark.django_db(transaction=True, databases=["default", "snapshot"]),
]
Action = AuditEvent.Action


def approve_in_thread(pk) -> None:
    try:
        Testimony.objects.filter(pk=pk).approve(by="mod")
    finally:
        connection.close()  # this thread's own connection


def while_another_holds(statement: str, pk) -> None:
    """Run ``statement`` on another connection without committing, start an approval of
    ``pk`` meanwhile, wait until the approval waits for that row, then commit."""
    other = another_connection()
    other.execute(statement, [pk])
    approving = threading.Thread(target=approve_in_thread, args=(pk,))
    approving.start()
    try:
        wait_for_a_waiting_lock(other)
    finally:
        other.commit()
        other.close()
        approving.join(timeout=30)


def test_a_campaign_text_blanked_meanwhile_keeps_the_story_unapproved():
    story = new_testimony("The original.", "The campaign text.")

    while_another_holds(
        "UPDATE submissions_testimony SET sealed_campaign_text = NULL WHERE id = %s", story.pk
    )

    story.refresh_from_db()
    assert story.status == "new"
    assert story.sealed_campaign_text is None
    assert not AuditEvent.objects.filter(action=Action.APPROVED).exists()


def test_an_approval_made_meanwhile_is_not_recorded_again():
    story = new_testimony("The original.", "The campaign text.")

    while_another_holds(
        "UPDATE submissions_testimony SET status = 'approved' WHERE id = %s", story.pk
    )

    story.refresh_from_db()
    assert story.status == "approved"
    assert not AuditEvent.objects.filter(action=Action.APPROVED).exists()


def test_a_withdrawal_between_plan_and_stream_leaves_no_group_below_k():
    # Given five stories sharing every exported answer, exactly k=5,
    stories = [
        new_testimony(f"story {n}", f"campaign text {n}", status="approved", teller="witness")
        for n in range(5)
    ]

    # when one is withdrawn after the export has planned and before it streams,
    plan, chunks = start_export(k=5, bom=False, actor="campaigner")
    withdrawal = another_connection()
    withdrawal.execute("DELETE FROM submissions_testimony WHERE id = %s", [stories[0].pk])
    withdrawal.commit()
    withdrawal.close()
    data = b"".join(chunks).decode()

    # the file holds the five rows its plan counted, as they were when it planned.
    rows = list(csv.DictReader(io.StringIO(data, newline="")))
    assert plan.rows == len(rows) == 5
    assert Testimony.objects.count() == 4
    # and its snapshot's transaction is over.
    assert not connections["snapshot"].in_atomic_block
