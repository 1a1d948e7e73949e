"""One ingest batch, whatever the channel: store valid readings and keep the daily figures current.
Runs in the caller's transaction. (What was refused goes to quarantine: sensors/quarantine.py.)"""
from __future__ import annotations

import json

from sqlalchemy.orm import Session

from sensors import rollup_lock
from sensors.daily import refresh_area_daily, refresh_daily
from sensors.readings import Reading
from sensors.registry import SensorIndex
from sensors.writer import WriteResult, store_readings
from store import partitions


def ingest(session: Session, readings: list[Reading], index: SensorIndex) -> WriteResult:
    if readings:  # PostgreSQL: the months the batch falls in exist (once per month; store.partitions)
        partitions.ensure_current(session.get_bind(), min(r.ts for r in readings))
    result = store_readings(session, readings, index)
    if result.stored:
        # Several ingesters (sensors/rollup_lock.py): the stations' days, then the areas' days, each
        # recomputed under its own locks; the areas' come last, as every batch of the city waits for them.
        rollup_lock.lock_days(session, result.touched_days, index, areas=False)
        refresh_daily(session, result.touched_days, index)
        rollup_lock.lock_days(session, result.touched_days, index, areas=True)
        refresh_area_daily(session, result.touched_days, index)
    return result


def payload_text(raw: bytes | str | dict) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    if isinstance(raw, dict):
        return json.dumps(raw, ensure_ascii=False)
    return raw
