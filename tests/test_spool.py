"""The export's spool: every record given back once, in a random order, and nothing of
them readable on disk."""

from __future__ import annotations

import os
from collections import Counter

import pytest
from cryptography.exceptions import InvalidTag

from submissions.spool import CHUNK_BYTES, ShuffledSpool

# Records as the export writes them: CSV lines, some with line breaks inside a quoted
# cell, some long enough to fill a chunk alone, one empty.
RECORDS = [
    f'"2023-W47","ru","Он запирал меня дома\r\nи забирал телефон {n}"\r\n'.encode()
    for n in range(300)
] + [b"x" * (CHUNK_BYTES + 5), b"", "Ол менің жалақымды алып".encode() * 50]


def spooled(records: list[bytes], buckets: int) -> ShuffledSpool:
    spool = ShuffledSpool(buckets)
    for record in records:
        spool.add(record)
    return spool


@pytest.mark.parametrize("buckets", [1, 3, 40])
def test_every_record_comes_back_once(buckets):
    with spooled(RECORDS, buckets) as spool:
        back = [record for bucket in spool.buckets() for record in bucket]

    assert Counter(back) == Counter(RECORDS)
    assert spool.sealed > 0, "some records were sealed on disk"


def test_nothing_on_disk_is_readable():
    with spooled(RECORDS, 3) as spool:
        on_disk = os.pread(spool.file.fileno(), spool.size + 1, 0)

        assert len(on_disk) == spool.size > sum(map(len, RECORDS)) // 2
        for word in ("запирал".encode(), "телефон".encode(), b"2023-W47", b"xxxxxxxx"):
            assert word not in on_disk


def test_a_changed_byte_on_disk_is_refused_not_read():
    with spooled(RECORDS, 1) as spool:
        os.pwrite(spool.file.fileno(), b"\x00", 100)

        with pytest.raises(InvalidTag):
            list(spool.buckets())


def test_the_order_is_random_and_differs_between_spools():
    records = [f"{n}\r\n".encode() for n in range(10)]
    firsts = Counter()
    orders = set()
    for _ in range(200):
        with spooled(records, 3) as spool:
            order = tuple(record for bucket in spool.buckets() for record in bucket)
        firsts[order[0]] += 1
        orders.add(order)

    # Each record comes first sometimes: a fixed or nearly fixed order would not (the
    # chance that a fair shuffle leaves one record never first is below 1e-8).
    assert set(firsts) == set(records), firsts
    assert len(orders) > 190


def test_a_spool_needs_a_bucket():
    with pytest.raises(ValueError, match="at least one bucket"):
        ShuffledSpool(0)


def test_the_file_has_no_name_on_disk_and_is_gone_once_closed():
    spool = spooled(RECORDS, 3)
    descriptor = spool.file.fileno()

    assert os.fstat(descriptor).st_nlink == 0  # unlinked as soon as it was made
    spool.close()
    with pytest.raises(OSError):
        os.fstat(descriptor)
