"""Several ingesters writing the daily figures at once (PostgreSQL; docs/scale-out.md).

The hourly rollup is additive (an upsert adding to the row), so concurrent batches cannot lose each
other's readings there. The daily figures are not: a batch recomputes a (station, day) — and an area's
day — from the hourly rows it can see, and writes the result over the row. Two ingesters sharing one
subscription get messages of the same station and day; each sees its own hourly changes but not the
other's uncommitted ones, and the one that writes last would leave a day computed without the other's
hours. Batches of one station already wait for each other (both lock its sensor_latest rows before
recomputing), but an area's day is recomputed from all its stations: a batch of station 1 and one of
station 2 in the same district lost one another's hours in the district's figure
(tests/test_scaleout.py::test_concurrent_batches_leave_the_daily_figures_whole shows it without the lock).

So before recomputing, a batch takes a transaction-scoped advisory lock per (station, day) and per
(area, day) it is about to recompute, in sorted order (no deadlock between batches). Whoever takes a lock
second waits until the first has committed, and its recomputation then sees the first's hourly rows:
the last writer of a day has seen every hour. SQLite needs nothing: its writers are serialised by
BEGIN IMMEDIATE already.
"""
from __future__ import annotations

import hashlib
from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

from sensors.registry import SensorIndex

_NAMESPACE = b"cityops.sensor_daily:"


def _key(*parts: str) -> int:
    """A stable signed 64-bit lock key (PostgreSQL's advisory lock key type)."""
    digest = hashlib.blake2b(_NAMESPACE + "|".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_days(session: Session, touched_days: dict[str, set[date]], index: SensorIndex, *, areas: bool) -> int:
    """Take the advisory locks for the daily figures this batch will recompute: its stations' days
    (`areas=False`), or the days of their districts and city (`areas=True`). Returns how many.

    A batch takes its stations' locks before recomputing its stations' days, and its areas' locks only
    afterwards, just before recomputing the areas' days and committing: every batch of a city needs the
    city's lock for the day, so what runs under it is what ingesters cannot do side by side, and it is
    kept short. Stations' keys are always taken before areas' keys, so two batches cannot deadlock."""
    if session.get_bind().dialect.name != "postgresql":
        return 0
    keys: set[int] = set()
    for sid, days in touched_days.items():
        info = index.get(sid)
        if info is None:
            continue
        for day in days:
            if not areas:
                keys.add(_key("station", sid, day.isoformat()))
            elif info.kind == "air":  # refresh_area_daily: the station's district and city
                for level in ("district", "city"):
                    if info.codes.get(level):
                        keys.add(_key(level, info.codes[level], day.isoformat()))
    if keys:
        session.execute(text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) "
                             "WITH ORDINALITY AS u(k, i) ORDER BY i"), {"keys": sorted(keys)})
    return len(keys)
