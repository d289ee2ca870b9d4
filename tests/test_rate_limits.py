"""Rate limits in one process: how rates are read, and how requests are counted."""

from __future__ import annotations

import pytest

from submissions.ratelimit import Rate, parse_rate


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("10/h", Rate(10, 3600)),
        ("5/15m", Rate(5, 900)),
        ("120/m", Rate(120, 60)),
        ("1/2d", Rate(1, 172800)),
    ],
)
def test_rates_are_read_as_django_ratelimit_writes_them(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["10/0m", "0/h", "ten/h", "10/", "10/w", "-1/h", ""])
def test_a_rate_without_a_count_or_a_period_is_refused(text):
    with pytest.raises(ValueError):
        parse_rate(text)


def test_windows_end_at_fixed_multiples_of_their_length():
    quarter = Rate(5, 900)

    assert quarter.window_end(0) == 900
    assert quarter.window_end(899.9) == 900
    assert quarter.window_end(900) == 1800
