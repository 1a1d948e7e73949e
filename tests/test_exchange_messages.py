"""Messages to people: the rules of exchange/rules.yaml turn records (and the deadline scan) into
messages — 派遣 → the department's staff and on-duty contacts, deadlines near and past → the case's
holder, urgent cases and severe alerts → the duty officer, dispatches → the incident's commander — with
de-duplication (one per object per reason per recipient) and quiet hours (SMS and robots wait till
morning unless urgent); SMS and robot webhooks reach a stand-in gateway; a user sees the message in the
消息中心 (AppTest) after the action that caused it."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import streamlit as st
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

import settings
from events import actions as event_actions
from events import workflow
from exchange import actions, config as exchange_config, rules
from exchange.config import Contact
from exchange.views import ExchangeViews
from exchange.worker import Worker
from store import outbox
from store.db import dispose_engines, session_scope
from store.models import Event, Message, OutboxDelivery, User
from store.scope import Viewer
from tests.support.exchange_standins import StandIn
from tests.test_events_support import DUTY, STREET_OFFICE, T0, dept, drive, new_case, prepare

PAGES = Path(__file__).resolve().parents[1] / "pages"
TZ = ZoneInfo("Asia/Shanghai")
STAFF = Viewer("staff1", "department", "440900", department_code=STREET_OFFICE, display_name="张三")
DUTY_USER = Viewer("duty1", "duty_officer", "440900", display_name="值班员甲")


def people(engine) -> None:  # noqa: ANN001
    prepare(engine)
    with session_scope(engine) as s:
        s.add_all([User(username="staff1", display_name="张三", role="department", zone_code="440900",
                        department_code=STREET_OFFICE),
                   User(username="staff2", display_name="李四", role="department", zone_code="440900",
                        department_code="CGJ"),
                   User(username="duty1", display_name="值班员甲", role="duty_officer", zone_code="440900"),
                   User(username="duty_other", display_name="外区值班员", role="duty_officer", zone_code="440904"),
                   User(username="gone", display_name="停用", role="department", zone_code="440900",
                        department_code=STREET_OFFICE, active=False)])


def worker(engine, clock=None, **kw) -> Worker:  # noqa: ANN001
    """A worker with fast retries; the deadline scan off unless asked for (deadline_scan_seconds)."""
    values = dict(backoff_base_seconds=0.02, backoff_max_seconds=0.2, deadline_scan_seconds=0)
    cfg = dataclasses.replace(exchange_config.load(), **{**values, **kw})
    return Worker(engine, cfg, clock=clock)


def inbox(engine, username: str) -> list[Message]:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return list(s.scalars(select(Message).where(Message.channel == "inapp", Message.recipient == username)
                              .order_by(Message.id)))


def dispatched_case(engine, **kw) -> int:  # noqa: ANN001
    with session_scope(engine) as s:
        case = new_case(s, **kw)
        drive(s, case.id, "dispatched")
        return case.id


def test_the_shipped_rules_load():
    ruleset = rules.load_rules(exchange_config.load().rules_file)
    assert {r.to for r in ruleset.rules} == set(rules.RECIPIENTS)
    assert ruleset.quiet_hours.start is not None


@pytest.mark.parametrize("doc,message", [
    ({"rules": [{"id": "x1", "kinds": ["case.dispatch"], "to": "everyone", "title": "t", "reason": "r"}]}, "to"),
    ({"rules": [{"id": "x1", "kinds": ["case.dispatch"], "to": "duty_officer", "title": "t", "reason": "r",
                 "channels": ["fax"]}]}, "fax"),
    ({"rules": [{"id": "x1", "to": "duty_officer", "title": "t", "reason": "r"}]}, "kinds"),
    ({"rules": [{"id": "x1", "kinds": ["a"], "to": "duty_officer", "title": "t"}]}, "reason"),
    ({"quiet_hours": {"start": "25:00", "end": "07:00"}, "rules": []}, "HH:MM"),
    ({"rules": [{"id": "X", "kinds": ["a"], "to": "duty_officer", "title": "t", "reason": "r"}]}, "id"),
])
def test_bad_rules_are_refused_with_a_reason(doc, message):
    with pytest.raises(rules.RuleError, match=message):
        rules.parse(doc)


def test_templates_fill_plain_names_only():
    assert rules.render("案件 #{id}：{title}", {"id": 7, "title": "{id}"}) == "案件 #7：{id}"
    assert rules.render("{title.__class__}{missing}", {"title": "x"}) == "{title.__class__}—"


def test_dispatch_tells_the_department_once(city_engine):
    people(city_engine)
    case_id = dispatched_case(city_engine)
    worker(city_engine).run_once()
    got = inbox(city_engine, "staff1")
    assert [m.rule_id for m in got] == ["dispatched_to_department"]
    assert got[0].title.startswith(f"新派遣案件 #{case_id}") and "处置时限" in got[0].body
    assert (got[0].object_type, got[0].object_id) == ("event", str(case_id))
    assert inbox(city_engine, "staff2") == [] and inbox(city_engine, "gone") == []
    # Returned and dispatched to the same department again: one message per case per reason.
    with session_scope(city_engine) as s:
        t = T0 + timedelta(hours=2)
        workflow.transition(s, case_id, "return", dept(), "不属于本部门", now=t)
        workflow.transition(s, case_id, "dispatch", DUTY, "", now=t + timedelta(minutes=5),
                            department_code=STREET_OFFICE, reason="核实后仍属本部门")
    worker(city_engine).run_once()
    assert len(inbox(city_engine, "staff1")) == 1
    # Redispatched elsewhere: that department hears of it.
    with session_scope(city_engine) as s:
        workflow.transition(s, case_id, "redispatch", DUTY, "改派", now=T0 + timedelta(hours=3),
                            department_code="CGJ")
    worker(city_engine).run_once()
    assert [m.rule_id for m in inbox(city_engine, "staff2")] == ["dispatched_to_department"]


def test_urgent_case_severe_alert_and_dispatch_reach_the_right_people(city_engine):
    people(city_engine)
    with session_scope(city_engine) as s:
        urgent = new_case(s, priority="urgent")
        normal = new_case(s, reported_at=T0 + timedelta(minutes=1))
        outbox.record(s, "alert.open", "alert", 41, {"id": 41, "severity": "严重", "rule_name": "PM2.5 严重超标",
                                                     "message": "站点甲 PM2.5 超标", "event_id": urgent.id},
                      region=urgent)
        outbox.record(s, "alert.open", "alert", 42, {"id": 42, "severity": "一般", "rule_name": "噪声超标",
                                                     "message": "站点乙"}, region=urgent)
        outbox.record(s, "dispatch.confirm", "dispatch", 9, {"id": 9, "incident_id": 5, "eta_minutes": 12.5,
                                                             "created_at": "2026-11-23T01:00:00+00:00",
                                                             "_change": {"incident_title": "某路段内涝",
                                                                         "commander": "值班员甲"}},
                      region=urgent, order_key="incident:5")
        urgent_id, normal_id = urgent.id, normal.id
    worker(city_engine).run_once()
    got = {m.rule_id: m for m in inbox(city_engine, "duty1")}
    assert set(got) == {"urgent_case_to_duty", "severe_alert_to_duty", "dispatch_to_commander"}
    assert got["urgent_case_to_duty"].object_id == str(urgent_id) and got["urgent_case_to_duty"].priority == "urgent"
    assert got["severe_alert_to_duty"].object_id == str(urgent_id)  # the alert links to its case
    assert (got["dispatch_to_commander"].object_type, got["dispatch_to_commander"].object_id) == ("incident", "5")
    assert "12.5" in got["dispatch_to_commander"].body
    assert str(normal_id) not in {m.object_id for m in inbox(city_engine, "duty1")}
    assert inbox(city_engine, "duty_other") == []  # outside that officer's zone


def test_deadlines_near_and_past_reach_the_holder_once(city_engine):
    people(city_engine)
    case_id = dispatched_case(city_engine)
    with session_scope(city_engine, readonly=True) as s:
        case = s.get(Event, case_id)
        warn, due = case.stage_warn_at, case.stage_deadline
    clock = {"now": warn - timedelta(minutes=5)}
    w = worker(city_engine, clock=lambda: clock["now"], deadline_scan_seconds=0.001)
    w.run_once()
    assert [m.rule_id for m in inbox(city_engine, "staff1")] == ["dispatched_to_department"]
    clock["now"] = warn + timedelta(minutes=1)
    w.run_once()
    w.run_once()
    assert [m.rule_id for m in inbox(city_engine, "staff1")] == ["dispatched_to_department", "deadline_near_to_holder"]
    clock["now"] = due + timedelta(minutes=1)
    w.run_once()
    # A second worker scanning the same window at the same time changes nothing.
    worker(city_engine, clock=lambda: clock["now"], deadline_scan_seconds=0.001).run_once()
    got = inbox(city_engine, "staff1")
    assert [m.rule_id for m in got] == ["dispatched_to_department", "deadline_near_to_holder", "overdue_to_holder"]
    assert got[2].priority == "urgent" and "处置" in got[2].title


def test_quiet_hours_hold_sms_till_morning_unless_urgent(city_engine):
    people(city_engine)
    gateway = StandIn()
    try:
        night = datetime(2026, 11, 23, 23, 30, tzinfo=TZ)
        clock = {"now": night}
        w = worker(city_engine, clock=lambda: clock["now"], sms_enabled=True, sms_url=gateway.url,
                   contacts={STREET_OFFICE: Contact(phones=("13800000001",)),
                             "duty_officer": Contact(phones=("13900000009",))})
        case_id = dispatched_case(city_engine)
        with session_scope(city_engine) as s:
            new_case(s, priority="urgent", reported_at=T0 + timedelta(minutes=1))
        w.run_once()
        w.run_once()
        phones = [m["phone"] for m in gateway.messages]
        assert phones == ["13900000009"]  # the urgent case goes at once, the dispatch waits
        with session_scope(city_engine, readonly=True) as s:
            held = s.scalar(select(OutboxDelivery.next_attempt_at).join(Message, Message.id == OutboxDelivery.message_id)
                            .where(Message.recipient == "13800000001"))
        assert held == datetime(2026, 11, 24, 7, 0, tzinfo=TZ)
        clock["now"] = datetime(2026, 11, 24, 7, 1, tzinfo=TZ)
        w.run_once()
        assert [m["phone"] for m in gateway.messages] == ["13900000009", "13800000001"]
        assert f"#{case_id}" in gateway.messages[1]["content"]
        with session_scope(city_engine, readonly=True) as s:  # every message sent is recorded with its result
            results = s.execute(select(Message.recipient, OutboxDelivery.state, OutboxDelivery.last_status)
                                .join(OutboxDelivery, OutboxDelivery.message_id == Message.id)).all()
        assert sorted(results) == [("13800000001", "delivered", 200), ("13900000009", "delivered", 200)]
    finally:
        gateway.stop()


def test_quiet_hours_window_spans_midnight():
    q = rules.QuietHours(start=datetime.strptime("22:00", "%H:%M").time(), end=datetime.strptime("07:00", "%H:%M").time())
    assert q.release_at(datetime(2026, 11, 23, 21, 59, tzinfo=TZ)) is None
    assert q.release_at(datetime(2026, 11, 23, 22, 0, tzinfo=TZ)) == datetime(2026, 11, 24, 7, 0, tzinfo=TZ)
    assert q.release_at(datetime(2026, 11, 24, 6, 59, tzinfo=TZ)) == datetime(2026, 11, 24, 7, 0, tzinfo=TZ)
    assert q.release_at(datetime(2026, 11, 24, 7, 0, tzinfo=TZ)) is None
    assert q.holds("sms", "normal") and not q.holds("sms", "urgent") and not q.holds("inapp", "normal")


def test_robot_webhook_gets_a_text_message_and_retries_a_500(sqlite_city_engine):
    people(sqlite_city_engine)
    robot = StandIn()
    robot.script = [500]
    try:
        w = worker(sqlite_city_engine, clock=lambda: datetime(2026, 11, 23, 10, 0, tzinfo=TZ), webhook_enabled=True,
                   webhook_url=robot.url)
        dispatched_case(sqlite_city_engine, priority="urgent")
        for _ in range(20):
            w.run_once()
            if robot.messages:
                break
        assert robot.messages and robot.messages[0]["msgtype"] == "text"
        assert "紧急案件" in robot.messages[0]["text"]["content"] or "新派遣案件" in robot.messages[0]["text"]["content"]
        with session_scope(sqlite_city_engine, readonly=True) as s:
            rows = s.execute(select(OutboxDelivery.state, OutboxDelivery.attempts)
                             .where(OutboxDelivery.destination == "webhook")).all()
        assert rows and all(state in ("delivered", "pending") for state, _ in rows)
    finally:
        robot.stop()


def test_messages_are_the_recipients_own(sqlite_city_engine):
    people(sqlite_city_engine)
    dispatched_case(sqlite_city_engine)
    worker(sqlite_city_engine).run_once()
    with ExchangeViews.open(sqlite_city_engine, STAFF) as views:
        mine = views.messages()
        assert views.unread_count() == 1
    with ExchangeViews.open(sqlite_city_engine, Viewer("staff2", "department", "440900", "CGJ")) as views:
        assert views.messages() == [] and views.unread_count() == 0
    assert not actions.mark_read(sqlite_city_engine, Viewer("staff2", "department", "440900", "CGJ"), mine[0]["id"])
    assert actions.mark_read(sqlite_city_engine, STAFF, mine[0]["id"])
    with ExchangeViews.open(sqlite_city_engine, STAFF) as views:
        assert views.unread_count() == 0 and views.messages(unread_only=True) == []


# -- the 消息中心 page ----------------------------------------------------------------------------------------
@pytest.fixture
def app_db(sqlite_city_engine, monkeypatch):
    people(sqlite_city_engine)
    monkeypatch.setenv("DATABASE_URL", sqlite_city_engine.url.render_as_string(hide_password=False))
    settings.reload_settings()
    st.cache_data.clear()
    st.cache_resource.clear()
    yield sqlite_city_engine
    monkeypatch.delenv("DATABASE_URL")
    settings.reload_settings()
    st.cache_data.clear()
    st.cache_resource.clear()
    dispose_engines()


def _page(viewer: Viewer) -> AppTest:
    at = AppTest.from_file(str(PAGES / "messages.py"), default_timeout=60)
    at.session_state["viewer"] = viewer
    return at.run()


def test_a_user_sees_the_message_after_the_action(app_db):
    at = _page(STAFF)
    assert not at.exception
    assert [i.value for i in at.info] == ["暂无消息"]
    # The duty officer dispatches a case whose title carries Markdown; the worker runs.
    with session_scope(app_db) as s:
        case = new_case(s, title="![x](http://evil.example/a.png) **粗体**")
        workflow.transition(s, case.id, "register", DUTY, now=T0 + timedelta(minutes=5))
        case_id, version = case.id, s.get(Event, case.id).version
    out = event_actions.transition(app_db, DUTY, case_id, "dispatch", version=version, department_code=STREET_OFFICE)
    assert out.ok, out.message
    worker(app_db).run_once()
    at = _page(STAFF)
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown)
    assert f"新派遣案件 \\#{case_id}" in text and ":blue-badge[未读]" in text
    bodies = [t.value for t in at.text]
    assert any("![x](http://evil.example/a.png) **粗体**" in b for b in bodies)  # shown as plain text
    assert f"打开案件 #{case_id}" in " ".join(c.value for c in at.caption)
    assert "未读 1 条" in " ".join(c.value for c in at.caption)
    next(b for b in at.button if b.label == "标为已读").click()
    at = at.run()
    assert not at.exception
    assert "没有未读消息" in " ".join(c.value for c in at.caption)
    assert not any(b.label == "标为已读" for b in at.button)
    # Another department's user sees none of it.
    other = _page(Viewer("staff2", "department", "440900", "CGJ"))
    assert [i.value for i in other.info] == ["暂无消息"]
