"""Monthly partitions of the raw sensor tables on PostgreSQL (store.partitions): the migration creates the
months ahead and a default partition, rows that waited in the default move into their month when it is
created, bulk loads and upserts land in their months, reads prune to their month and still use the indexes,
old months detach into the archive schema; on SQLite the same models make the same plain tables."""
from __future__ import annotations

import argparse
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.dialects import postgresql

import settings
from store import bulkload, partitions
from store.db import get_engine, session_scope
from tests.conftest import _reset_pg
from store.models.sensors import Sensor, SensorHourly, SensorReading
from store.partition_cli import register
from store.schema import migrate

CODES = {"city_code": "440900", "district_code": "440902", "street_code": None, "community_code": None,
         "grid_code": None}


def _this_month() -> date:
    now = datetime.now(timezone.utc)
    return date(now.year, now.month, 1)


def _month(k: int) -> date:
    """The first day of the month k months from this one (negative: earlier)."""
    return partitions._next(_this_month(), k)


def _at(month: date, hours: int = 0) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=timezone.utc) + timedelta(hours=hours)


@pytest.fixture
def pg(pg_url):
    """A PostgreSQL database brought up by the migrations (as a deployment is), archive schema emptied."""
    _reset_pg(pg_url)
    engine = get_engine(pg_url)
    migrate(engine)
    with session_scope(engine) as s:
        s.execute(insert(Sensor), [{"id": sid, "kind": "air", "name": sid, "lon": 110.9, "lat": 21.6, **CODES}
                                   for sid in ("A1", "A2")])
    return engine


def _where(conn, table: str) -> dict[str, int]:  # noqa: ANN001
    """Rows per partition (the partition each row is stored in)."""
    rows = conn.execute(text(f"SELECT tableoid::regclass::text, count(*) FROM {table} GROUP BY 1")).all()
    return {name.split(".")[-1]: n for name, n in rows}


def _hourly(hours: list[datetime], sensor: str = "A1") -> dict:
    return {"sensor_id": sensor, "kind": "air", "hour": np.array([h.timestamp() for h in hours]), "metric": "PM2.5",
            "n": 1, "total": np.arange(1.0, len(hours) + 1), "vmin": None, "vmax": None, "etotal": None, **CODES}


def test_migration_makes_the_months_ahead_a_default_and_the_settings(pg):
    with pg.connect() as conn:
        assert partitions.partitioned_tables(conn) == {"sensor_hourly": "hour", "sensor_readings": "ts"}
        for table in ("sensor_hourly", "sensor_readings"):
            parts = partitions.list_partitions(conn, table)
            assert [p.month for p in parts] == [_month(k) for k in range(partitions.MONTHS_AHEAD + 1)] + [None]
            assert parts[-1].name == f"{table}_default"
        # Partitions live in their own schema: the application's schema lists only the parents.
        schemas = set(conn.execute(text(
            "SELECT n.nspname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r'")).scalars())
        assert schemas == {partitions.SCHEMA}
        month = partitions._name("sensor_hourly", _this_month())
        # Each month has the parent's keys: the primary key and the (metric, hour) index.
        indexes = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE schemaname = :s AND tablename = :t"),
                               {"s": partitions.SCHEMA, "t": month}).scalars().all()
        assert any("(sensor_id, hour, metric)" in d and "UNIQUE" in d for d in indexes), indexes
        assert any("(metric, hour)" in d for d in indexes), indexes
        options = dict(conn.execute(text(
            "SELECT c.relname, array_to_string(c.reloptions, ',') FROM pg_class c "
            "WHERE c.relname IN ('event_daily_rollup', 'sensor_daily', :m)"), {"m": month}).all())
    assert set(inspect(pg).get_table_names()) >= {"sensor_hourly", "sensor_readings"}
    assert not [t for t in inspect(pg).get_table_names() if t.startswith("sensor_hourly_")]
    for table in ("event_daily_rollup", "sensor_daily", month):
        assert "autovacuum_vacuum_scale_factor=0.02" in (options.get(table) or ""), (table, options)


def test_bulk_load_lands_in_months_and_waiting_rows_move_in(pg):
    old = _month(-3)
    hours = [_at(old, 5), _at(old, 6), _at(_month(-2), 1), _at(_this_month(), 2)]
    with session_scope(pg) as s:
        bulkload.load(s, SensorHourly, _hourly(hours), len(hours))
    with pg.connect() as conn:
        assert _where(conn, "sensor_hourly") == {"sensor_hourly_default": 3,
                                                 partitions._name("sensor_hourly", _this_month()): 1}
    with pg.begin() as conn:
        made = partitions.ensure(conn, old)
    assert made == [partitions._name("sensor_hourly", m) for m in (_month(-3), _month(-2), _month(-1))] + [
        partitions._name("sensor_readings", m) for m in (_month(-3), _month(-2), _month(-1))]
    with pg.connect() as conn:
        assert _where(conn, "sensor_hourly") == {partitions._name("sensor_hourly", old): 2,
                                                 partitions._name("sensor_hourly", _month(-2)): 1,
                                                 partitions._name("sensor_hourly", _this_month()): 1}
        # The moved month has its keys too (attached, not just created): an upsert adds to the stored row.
        stmt = postgresql.insert(SensorHourly).values(sensor_id="A1", kind="air", hour=hours[0], metric="PM2.5", n=1,
                                                      total=10.0, **CODES)
        conn.execute(stmt.on_conflict_do_update(index_elements=["sensor_id", "hour", "metric"],
                                                set_={"n": SensorHourly.n + stmt.excluded.n}))
        assert conn.execute(select(SensorHourly.n).where(SensorHourly.hour == hours[0])).scalar_one() == 2
    with pg.begin() as conn:
        assert partitions.ensure(conn, old) == []  # idempotent


def test_reads_prune_to_their_month_and_use_the_indexes(pg):
    with pg.begin() as conn:
        partitions.ensure(conn, _month(-2))
    hours = [_at(_month(-2)) + timedelta(hours=k) for k in range(24 * 60)]
    with session_scope(pg) as s:
        for sensor in ("A1", "A2"):
            bulkload.load(s, SensorHourly, _hourly(hours, sensor), len(hours))
    with pg.connect() as conn:
        conn.exec_driver_sql("ANALYZE sensor_hourly")
        conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: ask whether an index *can* serve it
        lo, hi = _at(_month(-1)), _at(_month(-1), 48)
        station = "\n".join(conn.execute(text(
            "EXPLAIN SELECT hour, total FROM sensor_hourly WHERE sensor_id = 'A1' AND hour >= :lo AND hour < :hi"),
            {"lo": lo, "hi": hi}).scalars())
        area = "\n".join(conn.execute(text(
            "EXPLAIN SELECT hour, avg(total) FROM sensor_hourly WHERE metric = 'PM2.5' AND hour >= :lo AND hour < :hi "
            "GROUP BY hour"), {"lo": lo, "hi": hi}).scalars())
    month = partitions._name("sensor_hourly", _month(-1))
    for plan in (station, area):
        assert month in plan and "Index" in plan, plan
        assert partitions._name("sensor_hourly", _month(-2)) not in plan and "default" not in plan, plan


def test_old_months_detach_into_the_archive(pg):
    with pg.begin() as conn:
        partitions.ensure(conn, _month(-3))
    with session_scope(pg) as s:
        bulkload.load(s, SensorHourly, _hourly([_at(_month(-3), 1), _at(_month(-1), 1)]), 2)
        s.execute(insert(SensorReading).values(sensor_id="A1", ts=_at(_month(-2), 3), metric="PM2.5", value=1.0))
    with pg.begin() as conn:
        with pytest.raises(partitions.PartitionError):
            partitions.detach(conn, _month(1))
    with pg.begin() as conn:
        moved = partitions.detach(conn, _month(-1))
    assert sorted(moved) == sorted(f"{partitions.ARCHIVE}.{partitions._name(t, m)}"
                                   for t in ("sensor_hourly", "sensor_readings") for m in (_month(-3), _month(-2)))
    with pg.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SensorHourly)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(SensorReading)).scalar_one() == 0
        archived = f"{partitions.ARCHIVE}.{partitions._name('sensor_hourly', _month(-3))}"
        assert conn.execute(text(f"SELECT count(*) FROM {archived}")).scalar_one() == 1
        assert [p.month for p in partitions.list_partitions(conn, "sensor_hourly")][0] == _month(-1)
    # The same month made again (a re-run seed) and detached again: the archived copy is never overwritten.
    with pg.begin() as conn:
        partitions.ensure(conn, _month(-3))
    with pg.begin() as conn:
        with pytest.raises(partitions.PartitionError, match="同名表"):
            partitions.detach(conn, _month(-1))


def test_the_ingest_makes_the_months_it_needs_once(pg):
    partitions.ensure_current(pg, _at(_month(-5), 7))
    with pg.connect() as conn:
        months = [p.month for p in partitions.list_partitions(conn, "sensor_readings")]
    assert months[:2] == [_month(-5), _month(-4)] and months[-1] is None
    # A stray reading from 1970 does not make six hundred months.
    partitions.ensure_current(pg, datetime(1970, 1, 1, tzinfo=timezone.utc))
    with pg.connect() as conn:
        first = partitions.list_partitions(conn, "sensor_readings")[0].month
    assert first == _month(-partitions.BACKFILL_MONTHS)


def test_manage_partitions_commands(pg, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", pg.url.render_as_string(hide_password=False))
    settings.reload_settings()
    try:
        parser = argparse.ArgumentParser()
        register(parser.add_subparsers(dest="command"))
        args = parser.parse_args(["partitions", "ensure", "--from", _month(-2).strftime("%Y-%m")])
        assert args.func(args) == 0
        assert "新建分区 4 个" in capsys.readouterr().out
        args = parser.parse_args(["partitions", "detach", "--before", _month(-1).strftime("%Y-%m")])
        assert args.func(args) == 0
        assert f"{partitions.ARCHIVE}.{partitions._name('sensor_hourly', _month(-2))}" in capsys.readouterr().out
        args = parser.parse_args(["partitions", "list"])
        assert args.func(args) == 0
        assert "默认分区" in capsys.readouterr().out
    finally:
        monkeypatch.delenv("DATABASE_URL")
        settings.reload_settings()


def test_sqlite_keeps_plain_tables(sqlite_engine):
    with sqlite_engine.begin() as conn:
        assert partitions.ensure(conn, date(2020, 1, 1)) == []
        assert partitions.detach(conn, date(2020, 1, 1)) == []
        sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'sensor_hourly'")).scalar_one()
    assert "PARTITION" not in sql.upper() and "PRIMARY KEY (sensor_id, hour, metric)" in sql
    with session_scope(sqlite_engine) as s:
        s.execute(insert(Sensor).values(id="A1", kind="air", name="A1", lon=110.9, lat=21.6, **CODES))
        hours = [datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 2, 1, tzinfo=timezone.utc)]
        assert bulkload.load(s, SensorHourly, _hourly(hours), 2) == 2
    with session_scope(sqlite_engine, readonly=True) as s:
        assert s.execute(select(func.count()).select_from(SensorHourly)).scalar_one() == 2


def test_vacuum_analyze_after_an_import(pg):
    hours = [_at(_this_month(), k) for k in range(5)]
    with session_scope(pg) as s:
        bulkload.load(s, SensorHourly, _hourly(hours), len(hours))
    bulkload.vacuum_analyze(pg, (SensorHourly, SensorReading))
    month = partitions._name("sensor_hourly", _this_month())
    with pg.connect() as conn:
        tuples, analysed = conn.execute(text(
            "SELECT c.reltuples, s.last_analyze IS NOT NULL FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid "
            "WHERE c.relname = :m"), {"m": month}).one()
    assert tuples == 5 and analysed
