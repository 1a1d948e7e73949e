"""One ingest batch, whatever the channel: store valid readings, keep the daily figures current,
keep what was refused in quarantine. Runs in the caller's transaction."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import insert
from sqlalchemy.orm import Session

from sensors.daily import refresh_area_daily, refresh_daily
from sensors.readings import Reading, Rejected
from sensors.registry import SensorIndex
from sensors.writer import WriteResult, store_readings
from store.models.sensors import QuarantinedReading


def ingest(session: Session, readings: list[Reading], index: SensorIndex) -> WriteResult:
    result = store_readings(session, readings, index)
    if result.stored:
        refresh_daily(session, result.touched_days, index)
        refresh_area_daily(session, result.touched_days, index)
    return result


def quarantine(session: Session, channel: str, items: list[tuple[str | None, str | None, Rejected, str]],
               received_at: datetime | None = None) -> int:
    """Keep refused input: items are (topic, sensor_id, rejection, payload text)."""
    if not items:
        return 0
    at = received_at or datetime.now(timezone.utc)
    session.execute(insert(QuarantinedReading), [
        {"received_at": at, "channel": channel, "topic": (topic or None) and topic[:200],
         "sensor_id": sensor_id and sensor_id[:40], "reason": rej.reason, "payload": payload[:4000]}
        for topic, sensor_id, rej, payload in items
    ])
    return len(items)


def payload_text(raw: bytes | str | dict) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    if isinstance(raw, dict):
        return json.dumps(raw, ensure_ascii=False)
    return raw
