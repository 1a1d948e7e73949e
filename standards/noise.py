"""Environmental noise limits per GB 3096-2008, read from `editions/gb3096-2008.yaml`.

Zones "0", "1", "2", "3", "4a", "4b"; periods "day" (06:00-22:00) and "night" (22:00-06:00) in
China local time. A reading complies when its Leq is at most the limit (whole-value comparison).
"""
from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal

from standards import CHINA_TZ, load_edition, to_decimal

ZONES = ("0", "1", "2", "3", "4a", "4b")
PERIODS = ("day", "night")


def _spec() -> dict:
    return load_edition("gb3096-2008")


def _zone(zone: object) -> str:
    name = str(zone).strip().lower().removesuffix("类")
    if name not in ZONES:
        raise ValueError(f"未知声环境功能区 / unknown noise zone {zone!r}; expected one of {ZONES}")
    return name


def limit(zone: str, period: str) -> int:
    """The Leq limit in dB(A) for a zone and period."""
    if period not in PERIODS:
        raise ValueError(f"未知时段 / unknown period {period!r}; expected one of {PERIODS}")
    return _spec()["limits"][_zone(zone)][period]


def period_of(local_datetime: datetime | time) -> str:
    """"day" from 06:00 up to 22:00, "night" otherwise. Aware datetimes are converted to China time."""
    if isinstance(local_datetime, datetime):
        if local_datetime.tzinfo is not None:
            local_datetime = local_datetime.astimezone(CHINA_TZ)
        hour = local_datetime.hour
    elif isinstance(local_datetime, time):
        hour = local_datetime.hour
    else:
        raise ValueError(f"需要时间 / expected a datetime or time, got {local_datetime!r}")
    day = _spec()["periods"]["day"]
    return "day" if day["start"] <= hour < day["end"] else "night"


def assess(zone: str, period: str, leq: float) -> tuple[int, float, bool]:
    """(limit, dB above the limit or 0.0, compliant) for one Leq reading."""
    lim = limit(zone, period)
    excess = to_decimal(leq, "Leq") - Decimal(lim)
    return lim, float(max(excess, Decimal(0))), excess <= 0
