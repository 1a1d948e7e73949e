from datetime import date, datetime, timezone

import pytest

from store.period import Period


def test_parse_forms_and_keys():
    assert Period.parse("2026-10") == Period(date(2026, 10, 1), date(2026, 10, 31), "month")
    assert Period.parse("2026").days == 365
    assert Period.parse("2026-02-03").grain == "day"
    p = Period.parse("2026-10-01..2026-10-10")
    assert p.days == 10 and p.key == "2026-10-01..2026-10-10"
    for bad in ["", "2026-13", "2026-10-10..2026-10-01", "abc", "2026-10-32", "26-10"]:
        with pytest.raises(ValueError, match="无法识别"):
            Period.parse(bad)


def test_comparison_periods():
    assert Period.parse("2026-03").previous().key == "2026-02"
    assert Period.parse("2026-01").previous().key == "2025-12"
    assert Period.parse("2026-03").year_ago().key == "2025-03"
    assert Period.parse("2026-10-01..2026-10-10").previous().key == "2026-09-21..2026-09-30"
    assert Period.parse("2024-02-29").year_ago().key == "2023-02-28"
    assert Period.parse("2026-11").months() == ["2026-11"]
    assert Period.parse("2026-10-15..2026-12-02").months() == ["2026-10", "2026-11", "2026-12"]


def test_utc_bounds_are_local_midnights():
    a, b = Period.parse("2026-10").utc_bounds()
    assert a == datetime(2026, 9, 30, 16, 0, tzinfo=timezone.utc)
    assert b == datetime(2026, 10, 31, 16, 0, tzinfo=timezone.utc)
