"""The case import in two phases (events.importer.import_file, events.import_stage): rows checked and
staged with no write lock held, then one short write.

- what the staged write stores is what creating each case through events.intake.create_event stores
  (cases, 上报 log rows, outbox records and deliveries, 重复上报 suspects, the three rollups);
- a bad file is refused whole, nothing written (both backends);
- while the import checks and stages, nobody holds SQLite's write lock: another connection commits,
  a dispatcher's 立案 goes through (hooks hold the import between its phases);
- a source id imported by someone else between the check and the write refuses the whole file;
- a case reported between the check and the write becomes a suspect of the rows near it, and (SQLite)
  the import's ids move past it with every reference to them;
- the readings and statistics imports check their files outside the write too.
"""
from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from events import actions, import_stage, intake, rollup
from events.importer import import_file
from indicators import external_import
from sensors import actions as sensor_actions
from store.db import session_scope
from store.models import (Event, EventDailyRollup, EventDepartmentDaily, EventDistrictDaily, EventGridMonthly,
                          EventGridMonthTotal,
                          EventTransition, ExternalValue)
from store.models.outbox import OutboxDelivery, OutboxRecord
from store.models.sensors import Sensor, SensorReading
from tabular import TabularError
from tests.test_events_support import DUTY, locator, new_case, prepare
from tests.test_sensors_common import add_sensors

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
LOCAL = ZoneInfo("Asia/Shanghai")
HEADER = "工单编号,受理时间,大类,小类,问题描述,地址,经度,纬度,紧急程度,来电人,来电号码\n"
# (source id, local time, 大类, 小类, description, address, lon, lat, priority, name, phone)
ROWS = [
    ("S-1", "2026-11-20 09:30", "市容环境", "暴露垃圾", "垃圾", "油城路1号", 110.1000, 21.9000, "一般", "张三", "13812341234"),
    # 20 m from S-1, same 小类, an hour later: S-1 is its suspect (a row of the same file).
    ("S-2", "2026-11-20 10:30", "市容环境", "暴露垃圾", "又有垃圾", "", 110.1002, 21.9000, "紧急", "", ""),
    ("S-3", "2026-11-21 14:00", "街面秩序", "占道经营", "摆摊", "站前路", 111.6000, 21.2000, "", "李四", ""),
    # Near the stored case made in the tests (new_case at 110.1, 21.9, 暴露垃圾) and near S-1, S-2.
    ("S-4", "2026-11-21 08:00", "市容环境", "暴露垃圾", "", "", 110.1001, 21.9001, "", "", ""),
    ("S-5", "2026-11-22 23:30", "突发事件", "道路积水", "积水", "人民路", 110.7000, 21.6000, "紧急", "", ""),
]


def _csv(rows=ROWS) -> bytes:  # noqa: ANN001
    return (HEADER + "\n".join(",".join(str(x) for x in r) for r in rows) + "\n").encode()


def _count(engine, model) -> int:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return s.scalar(select(func.count()).select_from(model))


def _counts(engine) -> dict:  # noqa: ANN001
    return {m.__tablename__: _count(engine, m) for m in (Event, EventTransition, OutboxRecord, OutboxDelivery,
                                                          EventDailyRollup, EventDistrictDaily, EventDepartmentDaily,
                                                          EventGridMonthly, EventGridMonthTotal)}


class _Rollback(Exception):
    pass


def _state(s, source: str) -> dict:  # noqa: ANN001
    """What an import of `source` stored, with ids replaced by source ids (ids differ between runs)."""
    cases = s.scalars(select(Event).where(Event.source == source).order_by(Event.id)).all()
    name = {e.id: e.source_id for e in cases}

    def named(suspects):  # noqa: ANN001, ANN202
        return None if suspects is None else [{**x, "id": name.get(x["id"], x["id"])} for x in suspects]

    skip = {"id", "duplicate_suspects"}
    out: dict = {"cases": {}, "log": {}, "outbox": {}, "deliveries": {}}
    for e in cases:
        cols = {c.key: getattr(e, c.key) for c in Event.__table__.columns if c.key not in skip}
        cols["suspects"] = named(e.duplicate_suspects)
        out["cases"][e.source_id] = cols
        out["log"][e.source_id] = [(t.action, t.from_status, t.to_status, t.actor, t.actor_role, t.at, t.comment,
                                    t.detail, t.department_code) for t in s.scalars(
            select(EventTransition).where(EventTransition.event_id == e.id))]
        rec = s.scalars(select(OutboxRecord).where(OutboxRecord.object_type == "event",
                                                   OutboxRecord.object_id == str(e.id))).one()
        assert rec.payload["id"] == e.id and rec.order_key == f"event:{e.id}"
        payload = dict(rec.payload, duplicate_suspects=named(rec.payload["duplicate_suspects"]))
        payload.pop("id")
        out["outbox"][e.source_id] = (rec.kind, rec.actor, rec.created_at, payload,
                                      tuple(getattr(rec, f"{lv}_code") for lv in ("city", "district", "street",
                                                                                     "community", "grid")))
        out["deliveries"][e.source_id] = sorted(
            (d.destination, d.state, d.attempts, d.order_key == f"event:{e.id}", d.due_at, d.created_at)
            for d in s.scalars(select(OutboxDelivery).where(OutboxDelivery.record_id == rec.id)))
    for model in import_stage.ROLLUPS:  # every column but the id, rows with equal keys summed
        table = model.__table__
        names = [c.name for c in table.columns if c.name != "id"]
        summed: dict = {}
        for r in s.execute(select(table)).mappings().all():
            k = tuple((r[c] or "") if not isinstance(r[c], (int, float)) else None for c in names)
            values = [r[c] for c in names if isinstance(r[c], (int, float))]
            summed[k] = [a + b for a, b in zip(summed[k], values)] if k in summed else values
        out[table.name] = summed
    return out


def _one_by_one(engine, source: str) -> dict:  # noqa: ANN001
    """The reference: each row through create_event, as the importer did before it was staged;
    observed, then rolled back."""
    result = {}
    with pytest.raises(_Rollback), session_scope(engine) as s:
        for sid, at, cat, sub, desc, addr, lon, lat, prio, name, phone in ROWS:
            intake.create_event(
                s, source=source, category=cat, subcategory=sub, title=sub + (f"（{addr}）" if addr else ""),
                description=desc, lon=lon, lat=lat, priority={"紧急": "urgent"}.get(prio, "normal"),
                reporter_name=name or None, reporter_phone=phone or None, source_id=sid,
                reported_at=datetime.strptime(at, "%Y-%m-%d %H:%M").replace(tzinfo=LOCAL), actor=None,
                locator=locator(s), address=addr or None, now=NOW, audit_action=None, detail=None)
        s.flush()
        result.update(_state(s, source))
        raise _Rollback
    return result


def test_the_staged_write_stores_what_one_case_at_a_time_stored(city_engine):
    prepare(city_engine)
    with session_scope(city_engine) as s:
        stored_case = new_case(s, reported_at=datetime(2026, 11, 21, 0, 30, tzinfo=timezone.utc)).id
    expected = _one_by_one(city_engine, "12345")
    report = import_file(city_engine, _csv(), "12345", now=NOW)
    assert report.imported == len(ROWS) and set(report.timings) >= {"prepare", "stage", "lock_wait", "apply"}
    with session_scope(city_engine, readonly=True) as s:
        got = _state(s, "12345")
        assert rollup.differences(s).empty
        assert rollup.district_differences(s).empty
        assert rollup.department_differences(s).empty
    assert got == expected
    # The suspects the report lists: S-1 the stored case; S-2 S-1 (a row of the same file, as near and
    # an hour apart) before the stored case; S-4 the stored case and both rows.
    suspects = {x["line"]: [c["id"] for c in x["candidates"]] for x in report.suspected}
    ids = dict(zip([r[0] for r in ROWS], report.event_ids))
    assert suspects[2] == [stored_case]
    assert suspects[3] == [ids["S-1"], stored_case]
    assert set(suspects[5]) == {stored_case, ids["S-1"], ids["S-2"]}
    assert report.event_ids == sorted(report.event_ids)


def test_a_bad_file_is_refused_whole(city_engine):
    prepare(city_engine)
    before = _counts(city_engine)
    bad = [*ROWS[:3], ("S-9", "2026-11-20 09:30", "市容环境", "没有这个小类", "", "", 110.1, 21.9, "", "", "")]
    with pytest.raises(TabularError) as err:
        import_file(city_engine, _csv(bad), "12345", now=NOW)
    assert [e.line for e in err.value.errors] == [5] and "未写入任何数据" in str(err.value)
    assert _counts(city_engine) == before


def _write_lock_free(engine) -> bool:  # noqa: ANN001
    conn = sqlite3.connect(engine.url.database, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")  # fails at once with "database is locked" if anyone holds it
        conn.execute("INSERT INTO meta (key, value) VALUES ('probe', '1') "
                     "ON CONFLICT (key) DO UPDATE SET value = value || '1'")
        conn.execute("COMMIT")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def test_checking_and_staging_hold_no_write_lock(sqlite_city_engine):
    engine = sqlite_city_engine
    prepare(engine)
    with session_scope(engine) as s:
        waiting = [new_case(s).id for _ in range(3)]
    seen: dict[str, bool] = {}

    def during_check(done: int, total: int) -> None:
        if "checking" not in seen and done > 0:
            seen["checking"] = _write_lock_free(engine)

    def between(phase: str) -> None:
        if phase in ("prepared", "staged"):
            seen[phase] = _write_lock_free(engine)
            # A dispatcher's 立案 in the middle of the import: a short write of its own, committed.
            outcome = actions.transition(engine, DUTY, waiting.pop(), "register")
            assert outcome.ok, outcome.message

    report = import_file(engine, _csv(), "12345", now=NOW, progress=during_check, hook=between)
    assert seen == {"checking": True, "prepared": True, "staged": True}
    assert report.imported == len(ROWS)
    with session_scope(engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.status == "registered")) == 2
        assert rollup.differences(s).empty and rollup.department_differences(s).empty
    # The staging tables went with the import.
    with engine.connect() as conn:
        assert not conn.execute(text("SELECT name FROM sqlite_temp_master WHERE name LIKE 'stage_%'")).all()


def test_a_source_id_imported_meanwhile_refuses_the_whole_file(city_engine):
    prepare(city_engine)
    before = _counts(city_engine)

    def between(phase: str) -> None:
        if phase == "staged":  # someone else imports S-3 after this file was checked
            with session_scope(city_engine) as s:
                new_case(s, source="12345", source_id="S-3")

    with pytest.raises(TabularError) as err:
        import_file(city_engine, _csv(), "12345", now=NOW, hook=between)
    assert [e.line for e in err.value.errors] == [4]
    assert "在检查之后已由其他导入写入" in str(err.value) and "未写入任何数据" in str(err.value)
    after = _counts(city_engine)
    assert after["events"] == before["events"] + 1  # only the other import's case
    assert after["outbox"] == before["outbox"] + 1 and after["event_transitions"] == before["event_transitions"] + 1
    with session_scope(city_engine, readonly=True) as s:
        assert rollup.differences(s).empty and rollup.district_differences(s).empty


def test_a_case_reported_meanwhile_is_a_suspect_and_ids_move_past_it(city_engine):
    prepare(city_engine)
    late: list[int] = []

    def between(phase: str) -> None:
        if phase == "staged":  # a grid officer reports the same pothole while the import is staged
            with session_scope(city_engine) as s:
                late.append(new_case(s, point=(110.1001, 21.9002),
                                     reported_at=datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)).id)

    report = import_file(city_engine, _csv(), "12345", now=NOW, hook=between)
    ids = dict(zip([r[0] for r in ROWS], report.event_ids))
    if city_engine.dialect.name == "sqlite":  # PostgreSQL reserved the import's ids while staging
        assert min(report.event_ids) > late[0]
    with session_scope(city_engine, readonly=True) as s:
        cases = {e.source_id: e for e in s.scalars(select(Event).where(Event.source == "12345"))}
        assert {k: e.id for k, e in cases.items()} == ids
        # S-1 (09:30 local = 01:30 UTC, 20 m away) now has the late case as its suspect; S-2 both.
        assert [c["id"] for c in cases["S-1"].duplicate_suspects] == [late[0]]
        assert {c["id"] for c in cases["S-2"].duplicate_suspects} == {late[0], ids["S-1"]}
        for sid, e in cases.items():
            rec = s.scalars(select(OutboxRecord).where(OutboxRecord.object_id == str(e.id),
                                                       OutboxRecord.object_type == "event")).one()
            assert rec.payload["id"] == e.id and rec.order_key == f"event:{e.id}"
            assert rec.payload["duplicate_suspects"] == e.duplicate_suspects
            keys = s.scalars(select(OutboxDelivery.order_key).where(OutboxDelivery.record_id == rec.id)).all()
            assert keys and set(keys) == {f"event:{e.id}"}
            assert s.scalar(select(func.count()).select_from(EventTransition).where(
                EventTransition.event_id == e.id)) == 1
        assert rollup.differences(s).empty and rollup.district_differences(s).empty
        assert rollup.department_differences(s).empty


# -- the other file imports that moved their checks out of the write ----------------------------------------
def test_a_readings_file_is_checked_outside_the_write_lock(sqlite_city_engine, monkeypatch, tmp_path):

    engine = sqlite_city_engine
    add_sensors(engine)
    path = tmp_path / "r.csv"
    path.write_text("sensor_id,ts,metric,value\nA1,2026-11-25T10:00:00+08:00,PM2.5,35\n", encoding="utf-8")
    real, free = sensor_actions.parse_file, []

    def checking(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        free.append(_write_lock_free(engine))
        return real(*args, **kw)

    monkeypatch.setattr(sensor_actions, "parse_file", checking)
    out = sensor_actions.import_reading_file(engine, DUTY, path, name="r.csv")
    assert free == [True] and out.imported.result.stored == 1 and _count(engine, SensorReading) == 1


def test_a_sensor_changed_between_check_and_write_refuses_the_readings(city_engine, monkeypatch, tmp_path):

    add_sensors(city_engine)
    path = tmp_path / "r.csv"
    path.write_text("sensor_id,ts,metric,value\nA1,2026-11-25T10:00:00+08:00,PM2.5,35\n", encoding="utf-8")
    real = sensor_actions.parse_file

    def checking_then_retire(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        out = real(*args, **kw)
        with session_scope(city_engine) as s:  # retired by someone else after the check
            s.get(Sensor, "A1").active = False
        return out

    monkeypatch.setattr(sensor_actions, "parse_file", checking_then_retire)
    with pytest.raises(TabularError, match="在检查之后已变更"):
        sensor_actions.import_reading_file(city_engine, DUTY, path, name="r.csv")
    assert _count(city_engine, SensorReading) == 0


def test_a_statistics_file_is_checked_outside_the_write_lock(sqlite_city_engine, monkeypatch):

    engine = sqlite_city_engine
    real, free = external_import.check_rows, []

    def checking(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        free.append(_write_lock_free(engine))
        return real(*args, **kw)

    monkeypatch.setattr(external_import, "check_rows", checking)
    data = "指标编号,区划代码,期间,数值\nec_retail_sales,440902,2026-09,12\n".encode()
    report = external_import.import_bytes(engine, "s.csv", data, actor="tester")
    assert free == [True] and report.inserted == 1 and _count(engine, ExternalValue) == 1
