"""Issue 19, finding 5: one 280 KB MQTT message with 20,000 unknown metrics wrote 20,000 quarantine
rows, each with a 4,000-character copy of the payload (~90 MB). Now each bad message is stored once,
its payload copy capped, and each source may add only so many rows a minute (the rest counted) — on
both backends, through the ingester's own batch path (no broker needed: messages are queued directly)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from sensors import quarantine
from sensors.mqtt_ingest import Ingester, Message
from sensors.quarantine import BadMessage, SourceLimiter
from sensors.readings import Rejected
from store.db import session_scope
from store.models.sensors import QuarantinedReading, SensorReading
from tests.test_sensors_common import add_sensors, count

UTC = timezone.utc


@pytest.fixture
def engine(city_engine):
    add_sensors(city_engine)
    return city_engine


def _message(mid: int, sensor: str, metrics: dict, ts: datetime) -> Message:
    body = json.dumps({"sensor_id": sensor, "ts": ts.isoformat(), "metrics": metrics}).encode()
    return Message(mid, 1, f"city/440900/sensors/{sensor}/readings", body, ts)


def _rows(engine) -> list[QuarantinedReading]:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return s.execute(select(QuarantinedReading).order_by(QuarantinedReading.id)).scalars().all()


def test_twenty_thousand_unknown_metrics_make_one_capped_row(engine):
    now = datetime.now(UTC).replace(microsecond=0)
    metrics = {f"X{i:05d}": 1.0 for i in range(20_000)}
    metrics["PM2.5"] = 35.0  # the one real metric of this message is still stored
    msg = _message(1, "A1", metrics, now)
    assert len(msg.payload) > 250_000
    ing = Ingester(engine, client_id="q-flood", batch_size=10, batch_seconds=0.01, evaluate_alerts=False)
    ing._queue.append(msg)  # noqa: SLF001
    assert ing.flush() == 1
    [row] = _rows(engine)
    assert row.reason.startswith("unknown_metric") and "共 20000 项被拒" in row.reason and len(row.reason) <= 200
    assert len(row.payload) <= quarantine.payload_limit() == 4096
    assert f"原文 {len(msg.payload)} 个字符" in row.payload
    assert count(engine, SensorReading) == 1
    stats = ing.stats()
    assert stats["quarantined"] == 20_000 and stats["quarantined.unknown_metric"] == 20_000
    assert stats["quarantine_rows"] == 1
    with session_scope(engine, readonly=True) as s:
        stored = s.execute(select(func.sum(func.length(QuarantinedReading.payload)))).scalar_one()
    assert stored <= 4096  # was ~80 MB


def test_a_noisy_source_is_capped_per_minute_and_the_rest_counted(engine, monkeypatch):
    monkeypatch.setattr(quarantine, "rows_per_minute", lambda: 5)
    now = datetime.now(UTC).replace(microsecond=0)
    ing = Ingester(engine, client_id="q-rate", batch_size=500, batch_seconds=0.01, evaluate_alerts=False)
    for i in range(40):  # sensor A2 sends 40 bad messages in one batch
        ing._queue.append(_message(i + 1, "A2", {"PM2.5": -1 - i}, now))  # noqa: SLF001
    for i in range(3):   # another sensor's bad messages still get their rows
        ing._queue.append(_message(100 + i, "A1", {"PM10": -5}, now))  # noqa: SLF001
    ing.flush()
    rows = _rows(engine)
    assert sum(r.sensor_id == "A2" for r in rows) == 5 and sum(r.sensor_id == "A1" for r in rows) == 3
    stats = ing.stats()
    assert stats["quarantined"] == 43 and stats["quarantine_left_out"] == 35
    # A minute later the source's next bad message is stored again, after a summary of the last minute.
    later = now + timedelta(minutes=1, seconds=1)
    with session_scope(engine) as s:
        out = quarantine.store(s, "mqtt", [BadMessage("city/440900/sensors/A2/readings", "A2",
                                                      [Rejected("out_of_range", "PM2.5=-99")], "{}")],
                               ing._limiter, later)  # noqa: SLF001
    assert (out.rows, out.left_out, out.summaries) == (1, 0, 1)
    summary = [r for r in _rows(engine) if r.reason.startswith("rate_limited")]
    assert len(summary) == 1 and "另有 35 条消息" in summary[0].reason and summary[0].sensor_id == "A2"


def test_a_rolled_back_batch_uses_up_no_allowance():
    limiter = SourceLimiter(2)
    now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    bad = BadMessage("t", "S1", [Rejected("malformed")], "x")
    snap = limiter.snapshot()
    assert limiter.admit(bad, now) and limiter.admit(bad, now) and not limiter.admit(bad, now)
    limiter.restore(snap)
    assert limiter.admit(bad, now)


def test_cut_payload_and_reason():
    assert quarantine.cut_payload("abc", 10) == "abc"
    cut = quarantine.cut_payload("x" * 10_000, 100)
    assert len(cut) <= 100 and "10000" in cut
    reason = quarantine.message_reason([Rejected("unknown_metric", "X1")] + [Rejected("bad_value", "y")] * 3)
    assert reason.startswith("unknown_metric") and "unknown_metric×1" in reason and "bad_value×3" in reason
