"""GB 3096-2008 noise limits. Expected values typed from the standard's table 1."""
from __future__ import annotations

from datetime import datetime, time, timezone

import pytest

from standards.noise import assess, limit, period_of


@pytest.mark.parametrize("zone,day,night", [
    ("0", 50, 40), ("1", 55, 45), ("2", 60, 50), ("3", 65, 55), ("4a", 70, 55), ("4b", 70, 60),
])
def test_limits(zone, day, night):
    assert limit(zone, "day") == day
    assert limit(zone, "night") == night


def test_zone_spellings():
    assert limit(2, "day") == 60
    assert limit("4A", "night") == 55
    assert limit("4b类", "night") == 60


@pytest.mark.parametrize("when,expected", [
    (datetime(2026, 5, 1, 5, 59, 59), "night"),
    (datetime(2026, 5, 1, 6, 0), "day"),
    (datetime(2026, 5, 1, 12, 0), "day"),
    (datetime(2026, 5, 1, 21, 59, 59), "day"),
    (datetime(2026, 5, 1, 22, 0), "night"),
    (datetime(2026, 5, 1, 0, 0), "night"),
    (time(6, 0), "day"),
    (time(22, 0), "night"),
    (datetime(2026, 5, 1, 22, 30, tzinfo=timezone.utc), "day"),   # 06:30 next day in China
    (datetime(2026, 5, 1, 14, 0, tzinfo=timezone.utc), "night"),  # 22:00 in China
])
def test_period_of(when, expected):
    assert period_of(when) == expected


@pytest.mark.parametrize("zone,period,leq,expected", [
    ("2", "day", 58.3, (60, 0.0, True)),
    ("2", "day", 60, (60, 0.0, True)),          # at the limit complies
    ("2", "night", 52.4, (50, 2.4, False)),
    ("2", "night", 50.1, (50, 0.1, False)),     # exact difference, no float residue
    ("4a", "night", 60, (55, 5.0, False)),
    ("4b", "night", 60, (60, 0.0, True)),
    ("0", "night", 0, (40, 0.0, True)),
])
def test_assess(zone, period, leq, expected):
    assert assess(zone, period, leq) == expected


@pytest.mark.parametrize("call", [
    lambda: limit("5", "day"),
    lambda: limit("4c", "night"),
    lambda: limit("2", "evening"),
    lambda: assess("2", "day", -1),
    lambda: assess("2", "day", float("nan")),
    lambda: period_of("06:00"),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
