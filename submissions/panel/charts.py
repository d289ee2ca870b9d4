"""Counts for the statistics page that cannot single out a story.

Threat: campaign staff may not read stories, but a count of one is a story's answers
(its language, region, age, what happened), and a count refreshed after each arrival
dates it to the minute. So campaign staff see only the days that have ended, in the
campaign's zone, and in each chart a count below ``SMALL`` is hidden; so is the next
smallest count, and the next, until no hidden count can be worked out from the shown
ones and the total (one hidden cell is the total minus the others; several hidden
cells that add up to their own number are all ones). A chart that cannot be protected
so hides every cell. Hidden cells all look alike, whatever hid them. Moderators,
who read the stories anyway, see live counts.

This module knows nothing about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

SMALL = 5


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    hidden: bool


def hidden_cells(counts: list[int]) -> set[int]:
    """The indexes of the counts to hide: those below SMALL (but not zero), and as many
    of the smallest others as it takes; every index if even that is not enough."""
    hidden = {index for index, count in enumerate(counts) if 0 < count < SMALL}
    if not hidden:
        return hidden
    while can_be_worked_out(counts, hidden):
        shown = sorted(
            (count, index) for index, count in enumerate(counts) if index not in hidden and count
        )
        if not shown:
            return set(range(len(counts)))
        hidden.add(shown[0][1])
    return hidden


def can_be_worked_out(counts: list[int], hidden: set[int]) -> bool:
    """Whether someone who sees the other counts and the total could tell the hidden
    counts: one alone is the difference; several are determined only if they must all
    be 1 (each hidden count is at least 1, since zeros are shown)."""
    total = sum(counts[index] for index in hidden)
    return len(hidden) < 2 or total == len(hidden)


def protect(rows: list[tuple[str, int]]) -> list[Bar]:
    hidden = hidden_cells([count for _, count in rows])
    return [Bar(label, count, index in hidden) for index, (label, count) in enumerate(rows)]


def unprotected(rows: list[tuple[str, int]]) -> list[Bar]:
    return [Bar(label, count, False) for label, count in rows]
