"""Ambient air quality limits (basic items), read from `editions/gb3095-2026.yaml`.

Stages by China local date: GB 3095-2012 limits before 2026-03-01 (secondary data, see the YAML),
GB 3095-2026 transition limits 2026-03-01 … 2030-12-31, its final limits from 2031-01-01.
Zone class 1 (一类区: parks, nature reserves) uses 一级 limits, class 2 (二类区: where people
live and work) 二级. A value complies when it is at most the limit, compared as given (GB/T 8170's
default whole-value comparison); round it first if the assessment rules (HJ 663) ask for that.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from standards import load_edition, local_date, to_decimal

ITEMS = ("SO2", "NO2", "CO", "O3", "PM10", "PM2.5")
AVERAGINGS = ("annual", "24h", "8h", "1h")


def _stages() -> list[dict]:
    return load_edition("gb3095-2026")["stages"]


def stage_of(on_date: date | datetime) -> dict:
    """The stage in force on a date: its `id` ("gb3095-2012", "transition", "final"), dates, source."""
    day = local_date(on_date)
    for stage in _stages():
        if (stage["from"] is None or stage["from"] <= day) and (stage["until"] is None or day <= stage["until"]):
            return stage
    raise AssertionError(f"stages in gb3095-2026.yaml leave {day} uncovered")


def limit(item: str, averaging: str, on_date: date | datetime, zone_class: int = 2) -> int:
    """The limit (µg/m³; CO mg/m³) for an item and averaging time on a date. O3 "8h" is the daily
    maximum 8-hour mean. Raises ValueError for unknown names or a combination without a limit."""
    if item not in ITEMS:
        raise ValueError(f"未知污染物 / unknown pollutant {item!r}; expected one of {ITEMS}")
    if averaging not in AVERAGINGS:
        raise ValueError(f"未知平均时间 / unknown averaging {averaging!r}; expected one of {AVERAGINGS}")
    if str(zone_class) not in ("1", "2"):
        raise ValueError(f"环境空气功能区只有一类、二类 / zone_class must be 1 or 2, got {zone_class!r}")
    limits = stage_of(on_date)["limits"][item]
    if averaging not in limits:
        raise ValueError(f"{item} 无{averaging}浓度限值 / no {averaging} limit for {item}")
    return limits[averaging][int(zone_class) - 1]


def complies(item: str, averaging: str, value: float, on_date: date | datetime, zone_class: int = 2) -> bool:
    """True when `value` is within the limit in force on `on_date`."""
    return to_decimal(value, f"{item} 浓度 / concentration") <= Decimal(str(limit(item, averaging, on_date, zone_class)))
