"""Freshness: a sensor silent for longer than its expected interval × [sensors].offline_factor is 离线.

Computed at read time from last_seen_at (the newest reading's timestamp) and `now`, never stored, so
it cannot go stale."""
from __future__ import annotations

from datetime import datetime, timedelta

import settings


def offline_factor() -> float:
    return float(settings.get_settings().get("sensors", {}).get("offline_factor", 2.5))


def silent_limit(expected_interval_s: int | None, factor: float | None = None) -> timedelta:
    return timedelta(seconds=(expected_interval_s or 3600) * (factor if factor is not None else offline_factor()))


def is_offline(last_seen_at: datetime | None, expected_interval_s: int | None, now: datetime,
               factor: float | None = None) -> bool:
    """True when the sensor has never reported, or not within its allowed silence."""
    if last_seen_at is None:
        return True
    return now - last_seen_at > silent_limit(expected_interval_s, factor)


def state_label(offline: bool, active: bool = True) -> str:
    if not active:
        return "停用"
    return "离线" if offline else "在线"


def reading_lateness(covers_until: datetime, now: datetime, expected_interval_s: int | None,
                     factor: float | None = None) -> str | None:
    """How late a figure covering up to `covers_until` (an hourly value: the end of its hour) is at `now`,
    for a source that reports every `expected_interval_s`: None while the next figure is not yet due,
    "延迟" once one interval has passed without it, "过期" beyond the offline limit (interval × factor)."""
    age = now - covers_until
    if age > silent_limit(expected_interval_s, factor):
        return "过期"
    if age > timedelta(seconds=expected_interval_s or 3600):
        return "延迟"
    return None
