"""GB 3095 ambient air limits by stage. Expected values typed from GB 3095-2026 table 1 (scan) and,
for dates before 2026-03-01, from GB 3095-2012 table 1 as listed in the brief."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from standards.air_limits import complies, limit, stage_of

# (item, averaging, zone class 1, zone class 2) per stage.
GB3095_2012 = [
    ("SO2", "annual", 20, 60), ("SO2", "24h", 50, 150), ("SO2", "1h", 150, 500),
    ("NO2", "annual", 40, 40), ("NO2", "24h", 80, 80), ("NO2", "1h", 200, 200),
    ("CO", "24h", 4, 4), ("CO", "1h", 10, 10),
    ("O3", "8h", 100, 160), ("O3", "1h", 160, 200),
    ("PM10", "annual", 40, 70), ("PM10", "24h", 50, 150),
    ("PM2.5", "annual", 15, 35), ("PM2.5", "24h", 35, 75),
]
TRANSITION = [  # 过渡阶段浓度限值, 2026-03-01 … 2030-12-31
    ("SO2", "annual", 20, 60), ("SO2", "24h", 50, 150), ("SO2", "1h", 150, 500),
    ("NO2", "annual", 40, 40), ("NO2", "24h", 80, 80), ("NO2", "1h", 200, 200),
    ("CO", "24h", 4, 4), ("CO", "1h", 10, 10),
    ("O3", "8h", 100, 160), ("O3", "1h", 160, 200),
    ("PM10", "annual", 40, 60), ("PM10", "24h", 50, 120),
    ("PM2.5", "annual", 15, 30), ("PM2.5", "24h", 35, 60),
]
FINAL = [  # 浓度限值, from 2031-01-01
    ("SO2", "annual", 20, 20), ("SO2", "24h", 50, 50), ("SO2", "1h", 150, 150),
    ("NO2", "annual", 30, 30), ("NO2", "24h", 50, 50), ("NO2", "1h", 200, 200),
    ("CO", "24h", 4, 4), ("CO", "1h", 10, 10),
    ("O3", "8h", 100, 160), ("O3", "1h", 160, 200),
    ("PM10", "annual", 20, 50), ("PM10", "24h", 50, 100),
    ("PM2.5", "annual", 10, 25), ("PM2.5", "24h", 25, 50),
]


def _cases():
    for on, rows in [(date(2026, 2, 28), GB3095_2012), (date(2026, 3, 1), TRANSITION),
                     (date(2030, 12, 31), TRANSITION), (date(2031, 1, 1), FINAL)]:
        for item, averaging, class1, class2 in rows:
            yield pytest.param(item, averaging, on, class1, class2, id=f"{on}-{item}-{averaging}")


@pytest.mark.parametrize("item,averaging,on,class1,class2", list(_cases()))
def test_limit_table(item, averaging, on, class1, class2):
    assert limit(item, averaging, on, zone_class=1) == class1
    assert limit(item, averaging, on, zone_class=2) == class2
    assert limit(item, averaging, on) == class2


@pytest.mark.parametrize("on,stage", [
    (date(2015, 6, 1), "gb3095-2012"),
    (date(2026, 2, 28), "gb3095-2012"),
    (date(2026, 3, 1), "transition"),
    (date(2030, 12, 31), "transition"),
    (date(2031, 1, 1), "final"),
    (datetime(2026, 2, 28, 16, 0, tzinfo=timezone.utc), "transition"),  # 2026-03-01 00:00 in China
    (datetime(2030, 12, 31, 15, 59, tzinfo=timezone.utc), "transition"),
    (datetime(2030, 12, 31, 16, 0, tzinfo=timezone.utc), "final"),
])
def test_stage_dates(on, stage):
    assert stage_of(on)["id"] == stage


def test_2012_stage_is_marked_secondary():
    assert stage_of(date(2025, 1, 1))["source"].startswith("secondary")


def test_complies():
    assert complies("PM2.5", "annual", 30, date(2027, 1, 1))
    assert not complies("PM2.5", "annual", 30.1, date(2027, 1, 1))
    assert not complies("PM2.5", "annual", 30, date(2031, 1, 1))
    assert complies("PM2.5", "annual", 25, date(2031, 1, 1))
    assert complies("PM2.5", "24h", 75, date(2025, 12, 31))
    assert not complies("PM2.5", "24h", 75, date(2026, 6, 1))
    assert not complies("PM2.5", "24h", 36, date(2026, 6, 1), zone_class=1)
    assert complies("CO", "24h", 4.0, date(2026, 6, 1))
    assert not complies("CO", "24h", 4.01, date(2026, 6, 1))
    assert complies("O3", "8h", 160, date(2031, 6, 1)) and not complies("O3", "8h", 161, date(2031, 6, 1))


@pytest.mark.parametrize("call", [
    lambda: limit("CO", "annual", date(2027, 1, 1)),
    lambda: limit("O3", "24h", date(2027, 1, 1)),
    lambda: limit("PM10", "1h", date(2027, 1, 1)),
    lambda: limit("PM25", "24h", date(2027, 1, 1)),
    lambda: limit("SO2", "year", date(2027, 1, 1)),
    lambda: limit("SO2", "24h", date(2027, 1, 1), zone_class=3),
    lambda: limit("SO2", "24h", "2027-01-01"),
    lambda: complies("SO2", "24h", -1, date(2027, 1, 1)),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
