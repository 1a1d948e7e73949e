"""Storing readings: idempotent on (sensor, ts, metric), with the rollups kept current in the same
transaction.

How the rollups stay exact under redelivery: readings go in with INSERT … ON CONFLICT DO NOTHING
RETURNING, so only rows this transaction really inserted come back; only those are added to
sensor_hourly (n, total, min, max, and the decibel energy sum) by an upsert that adds to the
existing row. A redelivered message therefore changes nothing anywhere. sensor_latest moves forward
only (a late reading never replaces a newer one); sensors.last_seen_at likewise.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Iterable

from sqlalchemy import bindparam, func, or_, update
from sqlalchemy.orm import Session

from sensors.assessment import TZ
from sensors.metrics import is_decibel
from sensors.readings import Reading
from sensors.registry import SensorIndex
from store.models.sensors import Sensor, SensorHourly, SensorLatest, SensorReading

CHUNK = 1000


def dialect_insert(session: Session, table):  # noqa: ANN001, ANN201
    """INSERT with ON CONFLICT support for the session's backend (SQLite or PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _least_greatest(session: Session):  # noqa: ANN202
    if session.get_bind().dialect.name == "postgresql":
        return func.least, func.greatest
    return func.min, func.max  # SQLite's two-argument min()/max() are scalar functions


@dataclass
class WriteResult:
    stored: int = 0
    duplicates: int = 0
    # sensor id → local dates whose daily figures changed
    touched_days: dict[str, set[date]] = field(default_factory=lambda: defaultdict(set))
    # sensor id → UTC hours that changed
    touched_hours: dict[str, set[datetime]] = field(default_factory=lambda: defaultdict(set))

    def merge(self, other: "WriteResult") -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        for k, v in other.touched_days.items():
            self.touched_days[k] |= v
        for k, v in other.touched_hours.items():
            self.touched_hours[k] |= v


def _hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def _chunks(rows: list, size: int = CHUNK) -> Iterable[list]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def store_readings(session: Session, readings: list[Reading], index: SensorIndex) -> WriteResult:
    """Insert new readings, skip ones already stored, and update hourly/latest/last_seen for the new ones.
    Every reading must already be validated against `index` (sensors.readings.check_value)."""
    result = WriteResult()
    unique: dict[tuple, Reading] = {}
    for r in readings:
        key = (r.sensor_id, r.ts, r.metric)
        if key in unique:
            result.duplicates += 1
        else:
            unique[key] = r
    if not unique:
        return result
    table = SensorReading.__table__
    stmt = dialect_insert(session, table).on_conflict_do_nothing(
        index_elements=["sensor_id", "ts", "metric"]
    ).returning(table.c.sensor_id, table.c.ts, table.c.metric, table.c.value)
    inserted: list[tuple] = []
    rows = [{"sensor_id": r.sensor_id, "ts": r.ts, "metric": r.metric, "value": r.value} for r in unique.values()]
    for chunk in _chunks(rows):
        inserted.extend(session.execute(stmt, chunk).all())
    result.stored = len(inserted)
    result.duplicates += len(unique) - len(inserted)
    if inserted:
        apply_rollups(session, inserted, index, result)
    return result


def apply_rollups(session: Session, inserted: list[tuple], index: SensorIndex, result: WriteResult) -> None:
    """Add newly stored (sensor_id, ts, metric, value) rows to sensor_hourly, sensor_latest, last_seen_at."""
    hourly: dict[tuple, list] = {}
    latest: dict[tuple, tuple] = {}
    seen: dict[str, datetime] = {}
    for sensor_id, ts, metric, value in inserted:
        hour = _hour(ts)
        agg = hourly.get((sensor_id, hour, metric))
        energy = 10 ** (value / 10) if is_decibel(metric) else None
        if agg is None:
            hourly[(sensor_id, hour, metric)] = [1, value, value, value, energy]
        else:
            agg[0] += 1
            agg[1] += value
            agg[2] = min(agg[2], value)
            agg[3] = max(agg[3], value)
            if energy is not None:
                agg[4] += energy
        cur = latest.get((sensor_id, metric))
        if cur is None or ts > cur[0]:
            latest[(sensor_id, metric)] = (ts, value)
        if sensor_id not in seen or ts > seen[sensor_id]:
            seen[sensor_id] = ts
        result.touched_hours[sensor_id].add(hour)
        local = hour.astimezone(TZ)
        result.touched_days[sensor_id].add(local.date())
        if local.hour < 6:  # part of the noise night that began the previous evening
            result.touched_days[sensor_id].add(local.date() - timedelta(days=1))

    least, greatest = _least_greatest(session)
    h = SensorHourly.__table__
    ins = dialect_insert(session, h)
    up = ins.on_conflict_do_update(
        index_elements=["sensor_id", "hour", "metric"],
        set_={
            "n": h.c.n + ins.excluded.n,
            "total": h.c.total + ins.excluded.total,
            "vmin": least(h.c.vmin, ins.excluded.vmin),
            "vmax": greatest(h.c.vmax, ins.excluded.vmax),
            "etotal": func.coalesce(h.c.etotal, 0.0) + ins.excluded.etotal,
        },
    )
    hrows = []
    for (sensor_id, hour, metric), (n, total, vmin, vmax, etotal) in hourly.items():
        info = index.get(sensor_id)
        codes = info.codes
        hrows.append({
            "sensor_id": sensor_id, "kind": info.kind, "hour": hour, "metric": metric, "n": n, "total": total,
            "vmin": vmin, "vmax": vmax, "etotal": etotal,
            "city_code": codes["city"], "district_code": codes["district"], "street_code": codes["street"],
            "community_code": codes["community"], "grid_code": codes["grid"],
        })
    # Rows in key order, in every statement of every batch: two ingesters writing the same stations lock
    # them in the same order and so never deadlock (PostgreSQL would abort one batch to be retried).
    hrows.sort(key=lambda r: (r["sensor_id"], r["hour"], r["metric"]))
    for chunk in _chunks(hrows):
        session.execute(up, chunk)

    lt = SensorLatest.__table__
    lins = dialect_insert(session, lt)
    lup = lins.on_conflict_do_update(
        index_elements=["sensor_id", "metric"],
        set_={"ts": lins.excluded.ts, "value": lins.excluded.value},
        where=lt.c.ts <= lins.excluded.ts,
    )
    lrows = [{"sensor_id": s, "metric": m, "ts": ts, "value": v} for (s, m), (ts, v) in latest.items()]
    lrows.sort(key=lambda r: (r["sensor_id"], r["metric"]))
    for chunk in _chunks(lrows):
        session.execute(lup, chunk)

    st = Sensor.__table__
    seen_stmt = (
        update(st)
        .where(st.c.id == bindparam("sid"))
        .where(or_(st.c.last_seen_at.is_(None), st.c.last_seen_at < bindparam("seen")))
        .values(last_seen_at=bindparam("seen"))
    )
    session.execute(seen_stmt, [{"sid": s, "seen": ts} for s, ts in sorted(seen.items())])
