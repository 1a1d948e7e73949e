"""The outbox's write side: every case step (立案、派遣、签收、处置、核查、结案、返工, deadline changes), alert,
incident and dispatch writes one record in the same transaction as the change — gone with it when it
rolls back — with a delivery row per destination that wants its kind, and no personal data."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

import settings
from emergency import dispatch, incidents
from events import workflow
from sensors.alerts import evaluate_sensors
from sensors.ingest import ingest
from sensors.readings import Reading
from store import outbox
from store.db import session_scope
from store.models import Event, OutboxDelivery, OutboxRecord
from supervision import actions as supervision_actions
from supervision import escalation
from tests.support.tiny_city import codes_for_point
from tests.test_emergency_support import COMMANDER, add_resource
from tests.test_events_support import DUTY, GRID_OFFICER, LEADER, POINT, STREET_OFFICE, T0, dept, new_case, prepare
from tests.test_sensors_common import add_sensors, index_of


def records(engine, **where) -> list[OutboxRecord]:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        stmt = select(OutboxRecord).order_by(OutboxRecord.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(OutboxRecord, key) == value)
        return list(s.scalars(stmt))


def kinds(engine, **where) -> list[str]:  # noqa: ANN001
    return [r.kind for r in records(engine, **where)]


@pytest.fixture
def upper_configured(monkeypatch):
    monkeypatch.setenv("CITYOPS_EXCHANGE_UPPER_URL", "https://upper.example.gov.cn/receive")
    monkeypatch.setenv("CITYOPS_EXCHANGE_UPPER_KINDS", '["case.*", "incident.*"]')
    settings.reload_settings()
    yield
    monkeypatch.delenv("CITYOPS_EXCHANGE_UPPER_URL")
    monkeypatch.delenv("CITYOPS_EXCHANGE_UPPER_KINDS")
    settings.reload_settings()


def test_every_case_step_writes_one_record_in_its_transaction(city_engine):
    prepare(city_engine)
    steps = [("register", DUTY, {}), ("dispatch", DUTY, {"department_code": STREET_OFFICE}),
             ("accept", dept(), {}), ("request_extension", dept(), {"hours": 8, "comment": "需采购"}),
             ("approve_extension", LEADER, {}), ("feedback", dept(), {"comment": "已清理"}),
             ("verify_fail", GRID_OFFICER, {"comment": "仍有垃圾"}), ("rework", DUTY, {"comment": "返工"}),
             ("feedback", dept(), {"comment": "再次清理"}), ("verify_pass", GRID_OFFICER, {}), ("close", DUTY, {})]
    with session_scope(city_engine) as s:
        case = new_case(s, reporter_name="王五", reporter_phone="13800001111")
        case_id = case.id
    t = T0
    for action, who, kw in steps:
        t += timedelta(minutes=10)
        kw = dict(kw)
        with session_scope(city_engine) as s:
            workflow.transition(s, case_id, action, who, kw.pop("comment", ""), now=t, **kw)
    got = records(city_engine, order_key=f"event:{case_id}")
    assert [r.kind for r in got] == ["case.report"] + [f"case.{a}" for a, _, _ in steps]
    assert all(r.object_type == "event" and r.object_id == str(case_id) for r in got)
    assert all(r.grid_code == "440902001001001" and r.city_code == "440900" for r in got)
    dispatched = got[2].payload
    assert dispatched["status"] == "dispatched" and dispatched["department_code"] == STREET_OFFICE
    assert dispatched["_change"]["action"] == "dispatch" and dispatched["handle_deadline"]
    approved = got[5].payload  # a deadline change carries the new deadline
    assert approved["_change"]["hours"] == 8 and approved["stage_deadline"] > got[4].payload["stage_deadline"]
    assert got[-1].payload["status"] == "closed" and got[-1].payload["closed_at"]
    for r in got:  # personal data never leaves
        assert not {"reporter_name", "reporter_phone", "reporter_id_no"} & set(r.payload)
    assert got[1].actor == DUTY.username and got[0].actor == "system:巡查"


def test_a_refused_or_rolled_back_step_leaves_no_record(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        case_id = new_case(s).id
    before = kinds(sqlite_city_engine)
    with pytest.raises(workflow.WorkflowError):
        with session_scope(sqlite_city_engine) as s:
            workflow.transition(s, case_id, "close", DUTY, now=T0)
    with pytest.raises(RuntimeError):
        with session_scope(sqlite_city_engine) as s:
            workflow.transition(s, case_id, "register", DUTY, now=T0)
            assert s.scalar(select(func.count()).select_from(OutboxRecord)) == len(before) + 1
            raise RuntimeError("the caller's transaction fails after the step")
    assert kinds(sqlite_city_engine) == before
    with session_scope(sqlite_city_engine, readonly=True) as s:
        assert s.get(Event, case_id).status == "reported"


def test_deliveries_go_to_the_destinations_that_want_the_kind(sqlite_city_engine, upper_configured):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        case_id = new_case(s).id
        outbox.record(s, "alert.open", "alert", 1, {"id": 1}, region={"city_code": "440900"})
    with session_scope(sqlite_city_engine, readonly=True) as s:
        rows = s.execute(select(OutboxRecord.kind, OutboxDelivery.destination, OutboxDelivery.due_at.is_not(None))
                         .join(OutboxDelivery, OutboxDelivery.record_id == OutboxRecord.id)
                         .order_by(OutboxDelivery.id)).all()
    assert rows == [("case.report", "local", False), ("case.report", "upper", True), ("alert.open", "local", False)]
    assert case_id


def test_no_upper_destination_unless_configured(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        new_case(s)
    with session_scope(sqlite_city_engine, readonly=True) as s:
        assert set(s.scalars(select(OutboxDelivery.destination))) == {"local"}


def test_incident_and_dispatch_records(city_engine):
    prepare(city_engine)
    with session_scope(city_engine) as s:
        add_resource(s, "T1", "综合救援队", POINT[0] + 0.01, POINT[1])
    with session_scope(city_engine) as s:
        inc = incidents.open_incident(s, incident_type="内涝", level="IV", lon=POINT[0], lat=POINT[1], actor=COMMANDER,
                                      title="某路段内涝")
        inc_id = inc.id
    with session_scope(city_engine) as s:
        incidents.change_level(s, inc_id, "III", COMMANDER, "水位上涨")
    with session_scope(city_engine) as s:
        result = dispatch.confirm(s, inc_id, dispatch.Selection(units=(("T1", 1),)), COMMANDER)
    with session_scope(city_engine) as s:
        dispatch.release(s, inc_id, COMMANDER)
    with session_scope(city_engine) as s:
        incidents.close_incident(s, inc_id, COMMANDER, "已处置")
    got = records(city_engine, order_key=f"incident:{inc_id}")
    assert [r.kind for r in got] == ["incident.open", "incident.level", "dispatch.confirm", "dispatch.release",
                                     "incident.close"]
    assert got[1].payload["level"] == "III" and got[1].payload["_change"]["to"] == "III"
    confirm = got[2]
    assert (confirm.object_type, confirm.object_id) == ("dispatch", str(result.dispatch_ids[0]))
    assert confirm.payload["_change"]["commander"] == "值班员甲" and confirm.grid_code == codes_for_point(*POINT)["grid"]
    assert got[3].payload["status"] == "released" and got[4].payload["status"] == "closed"


def test_a_dispatch_that_fails_leaves_no_record(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        add_resource(s, "T1", "综合救援队", POINT[0] + 0.01, POINT[1], status="dispatched")
        inc_id = incidents.open_incident(s, incident_type="内涝", level="IV", lon=POINT[0], lat=POINT[1],
                                         actor=COMMANDER).id
    with pytest.raises(dispatch.DispatchConflict):
        with session_scope(sqlite_city_engine) as s:
            dispatch.confirm(s, inc_id, dispatch.Selection(units=(("T1", 1),)), COMMANDER)
    assert kinds(sqlite_city_engine) == ["incident.open"]


def test_alert_open_and_close_records(city_engine):
    add_sensors(city_engine)
    t0 = datetime(2026, 11, 24, 0, tzinfo=timezone.utc)

    def put(hours, pm25):  # noqa: ANN001, ANN202
        readings = []
        for h in hours:
            ts = t0 + timedelta(hours=h)
            readings.append(Reading("A1", ts, "PM2.5", float(pm25)))
            readings += [Reading("A1", ts, m, float(v)) for m, v in dict(SO2=8, NO2=30, CO=0.7, O3=60, PM10=60).items()]
        with session_scope(city_engine) as s:
            ingest(s, readings, index_of(city_engine))

    def evaluate(hour):  # noqa: ANN001, ANN202
        with session_scope(city_engine) as s:
            return evaluate_sensors(s, {"A1"}, index_of(city_engine), t0 + timedelta(hours=hour, minutes=30))

    put(range(0, 12), 200)
    assert evaluate(11) == (1, 0)
    put([12], 30)
    assert evaluate(12) == (0, 1)
    alert_kinds = [r.kind for r in records(city_engine, object_type="alert")]
    assert alert_kinds == ["alert.open", "alert.close"]
    opened = records(city_engine, object_type="alert")[0]
    assert opened.payload["severity"] and opened.payload["event_id"] and opened.district_code == "440902"
    assert "case.report" in kinds(city_engine, order_key=f"event:{opened.payload['event_id']}")


def test_supervision_and_escalation_records(sqlite_city_engine):
    prepare(sqlite_city_engine)
    now = datetime.now(timezone.utc)
    with session_scope(sqlite_city_engine) as s:
        case = new_case(s, reported_at=now - timedelta(days=20))
        workflow.transition(s, case.id, "register", DUTY, now=now - timedelta(days=19))
        workflow.transition(s, case.id, "dispatch", DUTY, now=now - timedelta(days=19), department_code=STREET_OFFICE)
        case_id = case.id
    out = supervision_actions.supervise_cases(sqlite_city_engine, LEADER, [case_id], level="city",
                                              deadline=now + timedelta(days=2), note="限期办结", now=now)
    assert out.ok, out.message
    with session_scope(sqlite_city_engine) as s:
        escalation.run(s, now=now)
    got = records(sqlite_city_engine, order_key=f"event:{case_id}")
    supervise = next(r for r in got if r.kind == "case.supervise")
    assert supervise.payload["supervision_level"] == "city" and supervise.payload["supervision_deadline"]
    assert supervise.payload["_change"]["note"] == "限期办结"
    escalated = [r for r in got if r.kind == "case.escalate"]
    assert escalated and escalated[-1].payload["escalation_level"] == escalated[-1].payload["_change"]["level"]
