"""A spool for the export: records written in the order the database gives them, kept
on disk encrypted, and given back in a uniformly random order.

Threat: the records are campaign texts and answers, in the clear once opened. On disk
they are sealed (AES-256-GCM) under a key made for this spool, held only in this
object's memory: a file left behind by a killed worker, a copied disk or a backup of
the temporary directory opens nothing. The file is unlinked as soon as it is made.

The order: each record goes to one of ``buckets`` at random as it is added; the buckets
are read back in a random order, each shuffled in memory. A uniformly random bucket and
a uniformly random order within it make a uniformly random permutation, so two exports
cannot be joined by position. Memory stays flat: a bucket's records wait in memory until
they fill a chunk of ``CHUNK_BYTES``, and one bucket is read back at a time.

This module knows nothing about testimonies.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from array import array
from collections.abc import Iterator
from operator import itemgetter
from types import TracebackType

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CHUNK_BYTES = 16 * 1024
# How many random bucket numbers are drawn from the system at once.
DRAW = 4096


def shuffled(items: list) -> list:
    """The items in a uniformly random order, from one call to the system's random source
    (``SystemRandom.shuffle`` would make one call per item)."""
    keys = memoryview(secrets.token_bytes(8 * len(items))).cast("Q")
    return [item for _, item in sorted(zip(keys, items, strict=True), key=itemgetter(0))]


class ShuffledSpool:
    """Records (bytes) in, the same records out in a random order, bucket by bucket."""

    def __init__(self, buckets: int) -> None:
        if buckets < 1:
            raise ValueError("a spool needs at least one bucket")
        # Unbuffered: every write is a whole sealed chunk, and where it ends is counted.
        self.file = tempfile.TemporaryFile(buffering=0)  # noqa: SIM115 (closed by close())
        self.size = 0
        self.cipher = AESGCM(AESGCM.generate_key(bit_length=256))
        self.sealed = 0
        self.waiting: list[list[bytes]] = [[] for _ in range(buckets)]
        self.waiting_bytes = [0] * buckets
        # Per bucket, its sealed chunks: (offset, length, records, the nonce's number).
        self.chunks: list[list[tuple[int, int, int, int]]] = [[] for _ in range(buckets)]
        self.draws: list[int] = []

    def add(self, record: bytes) -> None:
        if not self.draws:
            # Lemire's multiply-shift maps a 32-bit number onto the buckets; it favours
            # some buckets by at most buckets / 2**32, far below anything an order shows.
            count = len(self.waiting)
            randoms = memoryview(secrets.token_bytes(4 * DRAW)).cast("I")
            self.draws = [(value * count) >> 32 for value in randoms]
        bucket = self.draws.pop()
        waiting = self.waiting[bucket]
        waiting.append(record)
        self.waiting_bytes[bucket] += len(record)
        if self.waiting_bytes[bucket] >= CHUNK_BYTES:
            self._seal(bucket)

    def _seal(self, bucket: int) -> None:
        records = self.waiting[bucket]
        lengths = array("I", map(len, records))
        plain = lengths.tobytes() + b"".join(records)
        self.sealed += 1
        nonce = self.sealed.to_bytes(12, "big")
        body = self.cipher.encrypt(nonce, plain, bucket.to_bytes(8, "big"))
        if self.file.write(body) != len(body):
            raise OSError("the export's spool could not be written whole")
        self.chunks[bucket].append((self.size, len(body), len(records), self.sealed))
        self.size += len(body)
        self.waiting[bucket] = []
        self.waiting_bytes[bucket] = 0

    def buckets(self) -> Iterator[list[bytes]]:
        """Each bucket's records, shuffled, the buckets in a random order. Read once."""
        order = shuffled(list(range(len(self.waiting))))
        for bucket in order:
            records = self.waiting[bucket]
            self.waiting[bucket] = []
            for offset, length, count, number in self.chunks[bucket]:
                body = os.pread(self.file.fileno(), length, offset)
                plain = self.cipher.decrypt(
                    number.to_bytes(12, "big"), body, bucket.to_bytes(8, "big")
                )
                lengths = array("I")
                lengths.frombytes(plain[: 4 * count])
                start = 4 * count
                for size in lengths:
                    records.append(plain[start : start + size])
                    start += size
            yield shuffled(records)

    def close(self) -> None:
        self.file.close()
        self.waiting = []
        self.chunks = []

    def __enter__(self) -> ShuffledSpool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
