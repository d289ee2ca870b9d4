"""A rotation killed mid-run (kill -9, workers and all) is finished by the next run.

Real processes on a database file of their own: ``rotate_keys`` with two forked
workers is stopped with SIGKILL while slices are committed and others are in flight;
the next run moves what is left, and every value then opens with the new key alone.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys

from tests.conftest import KeyPair
from tests.servers import ROOT, manage, server_env, wait_for

STORIES = 1200
ON_KEY = "SELECT count(*) FROM submissions_testimony WHERE substr(sealed_text, 4, 8) = ?"


def test_a_rotation_killed_mid_run_is_finished_by_the_next(
    tmp_path, key_pair: KeyPair, second_key_pair: KeyPair
):
    database = tmp_path / "rotation.sqlite3"
    old = server_env(
        key_pair.public_text,
        DATABASE_URL=f"sqlite:///{database}",
        UNTOLD_PRIVATE_KEY_FILES=str(key_pair.private_file),
    )
    manage("migrate", "--no-input", "-v0", env=old)
    manage("seed_demo", "--count", str(STORIES), "--size", "100", env=old)
    rotating = {
        **old,
        "UNTOLD_PUBLIC_KEYS": second_key_pair.public_text,
        "UNTOLD_PRIVATE_KEY_FILES": f"{second_key_pair.private_file},{key_pair.private_file}",
    }
    moved_on = sqlite3.connect(database, timeout=30, isolation_level=None)

    def on_new_key() -> int:
        return moved_on.execute(ON_KEY, [second_key_pair.key_id]).fetchone()[0]

    # Given a rotation under way, in two workers, with some slices committed,
    run = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "rotate_keys", "--batch-size", "20"],
        env={**rotating, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert wait_for(lambda: on_new_key() > 0, seconds=60, step=0.005)
        # when it is killed while its workers wait to write (this connection holds the
        # database's write lock, so no further slice can commit meanwhile),
        moved_on.execute("BEGIN IMMEDIATE")
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
        moved_on.execute("ROLLBACK")
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    killed_at = on_new_key()
    assert 0 < killed_at < STORIES

    # the next run moves the rest and reports nothing left on the old key,
    finished = manage("rotate_keys", "--batch-size", "20", env=rotating)
    assert "0 could not be opened; 0 records still name another key." in finished.stdout
    assert on_new_key() == STORIES

    # and every value opens with the new key alone.
    alone = {**rotating, "UNTOLD_PRIVATE_KEY_FILES": str(second_key_pair.private_file)}
    manage("check_keys", env=alone)
    moved_on.close()
