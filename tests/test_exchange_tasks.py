"""Tasks handed down by the upper platform (交办/督办), through the real route (POST /exchange/v1/tasks on
a uvicorn server started by the test) and through pull mode (a stand-in platform): a task becomes a case
that keeps the upper task id, or raises the priority and deadline of an existing case; its receipt and,
when the case ends, its result go back upward; a malformed, unsigned or stale task is refused with a
logged reason and writes nothing."""
from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
import uvicorn
from sqlalchemy import func, select
from starlette.applications import Starlette

import settings
from exchange import config as exchange_config
from exchange import pull, routes
from exchange.signing import sign_headers
from exchange.worker import Worker
from store.db import dispose_engines, session_scope
from store.models import Base, Event, EventTransition, ExchangeTask, Message, OutboxRecord, User
from tests.support.exchange_standins import StandIn
from tests.support.live_server import free_port
from tests.test_events_support import POINT, STREET_OFFICE, T0, drive, new_case, prepare

SECRET = "task-secret"


def _serve(engine, monkeypatch):  # noqa: ANN001, ANN202
    """The exchange routes on a real HTTP server, the settings pointing at the test database, and a
    stand-in upper platform for what goes back up."""
    prepare(engine)
    with session_scope(engine) as s:
        s.add(User(username="duty1", display_name="值班员甲", role="duty_officer", zone_code="440900"))
    upper = StandIn(secret=SECRET)
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CITYOPS_EXCHANGE_TASKS_SECRET", SECRET)
    monkeypatch.setenv("CITYOPS_EXCHANGE_UPPER_SECRET", SECRET)
    monkeypatch.setenv("CITYOPS_EXCHANGE_UPPER_URL", upper.url)
    settings.reload_settings()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=routes.routes()), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}{routes.PATH}", "engine": engine, "upper": upper}
    server.should_exit = True
    thread.join(10)
    upper.stop()
    for key in ("DATABASE_URL", "CITYOPS_EXCHANGE_TASKS_SECRET", "CITYOPS_EXCHANGE_UPPER_SECRET",
                "CITYOPS_EXCHANGE_UPPER_URL"):
        monkeypatch.delenv(key)
    settings.reload_settings()
    dispose_engines()


@pytest.fixture
def task_route(city_engine, monkeypatch):
    """Both backends."""
    yield from _serve(city_engine, monkeypatch)


@pytest.fixture
def sqlite_task_route(sqlite_city_engine, monkeypatch):
    yield from _serve(sqlite_city_engine, monkeypatch)


def new_task(**kw) -> dict:
    doc = {"taskId": "GD-2026-0001", "taskType": "交办", "mainType": "市容环境", "subType": "暴露垃圾",
           "title": "省平台交办：路边垃圾堆积", "description": "群众反映路边垃圾多日未清", "lon": POINT[0], "lat": POINT[1],
           "coordSys": "wgs84", "priority": "一般"}
    doc.update(kw)
    return {k: v for k, v in doc.items() if v is not None}


def post(url: str, doc, *, secret: str | None = SECRET, headers: dict | None = None, now=None) -> requests.Response:  # noqa: ANN001
    body = doc if isinstance(doc, bytes) else json.dumps(doc, ensure_ascii=False).encode()
    signed = sign_headers(secret, body, "upper", now) if secret else {}
    return requests.post(url, data=body, headers={"Content-Type": "application/json", **signed, **(headers or {})},
                         timeout=30)


def row_counts(engine) -> dict[str, int]:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return {t.name: s.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


def worker_for(engine) -> Worker:  # noqa: ANN001
    cfg = dataclasses.replace(exchange_config.load(), backoff_base_seconds=0.02, backoff_max_seconds=0.2,
                              deadline_scan_seconds=3600)
    return Worker(engine, cfg)


def test_a_task_becomes_a_case_and_its_result_goes_back_up(task_route):
    url, engine, upper = task_route["url"], task_route["engine"], task_route["upper"]
    deadline = (datetime.now(timezone.utc) + timedelta(days=3)).astimezone(timezone(timedelta(hours=8))) \
        .replace(microsecond=0)
    reply = post(url, new_task(deadline=deadline.isoformat(timespec="seconds")))
    assert reply.status_code == 201, reply.text
    answer = reply.json()
    assert answer["outcome"] == "created" and not answer["repeated"]
    case_id = int(answer["caseCode"])
    with session_scope(engine, readonly=True) as s:
        case = s.get(Event, case_id)
        assert (case.source, case.source_id, case.status) == ("上级交办", "GD-2026-0001", "reported")
        task = s.scalar(select(ExchangeTask))
        assert (task.task_id, task.event_id, task.via, task.outcome) == ("GD-2026-0001", case_id, "route", "created")
        assert task.deadline == deadline
    before = row_counts(engine)
    again = post(url, new_task())  # the same task delivered twice: answered with the same case
    assert again.status_code == 200 and again.json() == {**answer, "repeated": True}
    assert row_counts(engine) == before

    # The case is handled and closed here; the worker reports receipt, steps and result upward.
    with session_scope(engine) as s:
        drive(s, case_id, "closed", start=datetime.now(timezone.utc), step=timedelta(seconds=5))
    worker = worker_for(engine)
    for _ in range(5):
        worker.run_once()
    kinds = [r["kind"] for r in sorted(upper.stored.values(), key=lambda r: int(r["recordId"].rsplit("-", 1)[1]))]
    assert kinds[0] == "case.report" and kinds[1] == "task.received" and kinds[-1] == "task.result"
    result = next(r for r in upper.stored.values() if r["kind"] == "task.result")["task"]
    assert result["task_id"] == "GD-2026-0001" and result["case_id"] == case_id and result["result"] == "结案"
    assert result["on_time"] is True
    close = next(r for r in upper.stored.values() if r["kind"] == "case.close")["case"]
    assert close["upperTaskId"] == "GD-2026-0001" and close["caseCode"] == str(case_id)
    assert close["source"] == "上级交办" and close["mainType"] == "市容环境" and close["subType"] == "暴露垃圾"
    assert close["times"]["close"] and close["department"]["code"] == STREET_OFFICE
    assert upper.bad_signatures == 0
    # The duty officer was told in the 消息中心.
    with session_scope(engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Message).where(Message.rule_id == "task_to_duty")) == 1
    worker.run_once()
    with session_scope(engine, readonly=True) as s:  # the result is reported once
        assert s.scalar(select(func.count()).select_from(OutboxRecord).where(OutboxRecord.kind == "task.result")) == 1


def test_a_task_raises_an_existing_case(task_route):
    url, engine = task_route["url"], task_route["engine"]
    now = datetime.now(timezone.utc)
    with session_scope(engine) as s:
        case = new_case(s, reported_at=now - timedelta(hours=1))
        drive(s, case.id, "handling", start=now - timedelta(minutes=50), step=timedelta(minutes=5))
        case_id = case.id
        old = s.get(Event, case_id)
        old_deadline, version = old.stage_deadline, old.version
    assert old_deadline > now + timedelta(minutes=10)
    sooner = old_deadline - (old_deadline - now) / 2
    reply = post(url, {"taskId": "GD-DB-7", "taskType": "督办", "caseCode": str(case_id),
                       "title": "省平台督办：尽快处置", "deadline": sooner.isoformat()})
    assert reply.status_code == 201, reply.text
    assert reply.json()["outcome"] == "escalated"
    with session_scope(engine, readonly=True) as s:
        case = s.get(Event, case_id)
        assert case.priority == "urgent" and case.stage_deadline == sooner and case.version == version + 1
        assert case.handle_deadline == sooner and case.stage_warn_at <= sooner
        note = s.scalars(select(EventTransition).where(EventTransition.event_id == case_id)
                         .order_by(EventTransition.id.desc())).first()
        assert note.action == "note" and "GD-DB-7" in note.comment
        kinds = list(s.scalars(select(OutboxRecord.kind).where(OutboxRecord.order_key == f"event:{case_id}")
                               .order_by(OutboxRecord.id)))
    assert kinds[-2:] == ["case.task_escalate", "task.received"]
    worker_for(engine).run_once()
    with session_scope(engine, readonly=True) as s:  # an urgent case now: the duty officer hears of it
        assert s.scalar(select(Message.title).where(Message.rule_id == "urgent_case_to_duty")).startswith("紧急案件")


REFUSALS = [
    ("unsigned", new_task(taskId="U1"), {"secret": None}, 401, "缺少签名"),
    ("wrong secret", new_task(taskId="U2"), {"secret": "not-the-secret"}, 401, "签名不正确"),
    ("stale", new_task(taskId="U3"), {"now": datetime.now(timezone.utc) - timedelta(hours=1)}, 401, "时间戳"),
    ("not json", b"{taskId: oops", {}, 400, "JSON"),
    ("no task id", new_task(taskId=None), {}, 400, "任务编号"),
    ("bad task id", new_task(taskId="../../etc"), {}, 400, "任务编号"),
    ("unknown category", new_task(taskId="U4", subType="不存在的小类"), {}, 400, "小类"),
    ("outside the city", new_task(taskId="U5", lon=100.0, lat=30.0), {}, 400, "不在本市"),
    ("no coordinates", new_task(taskId="U6", lon=None), {}, 400, "经度"),
    ("deadline passed", new_task(taskId="U7", deadline="2020-01-01T00:00:00+08:00"), {}, 400, "已过"),
    ("deadline without zone", new_task(taskId="U8", deadline="2030-01-01T00:00:00"), {}, 400, "时区"),
    ("unknown case", {"taskId": "U9", "caseCode": "999999"}, {}, 404, "不存在"),
    ("control characters", new_task(taskId="U10", title="垃圾\x00堆积"), {}, 400, "控制字符"),
    ("too big", new_task(taskId="U11", description="长" * 70000), {}, 413, "字节"),
]


def _refused(route: dict, caplog, name, doc, kw, status, reason) -> None:  # noqa: ANN001
    engine = route["engine"]
    before = row_counts(engine)
    with caplog.at_level(logging.WARNING, logger="exchange.tasks"):
        reply = post(route["url"], doc, **kw)
    assert reply.status_code == status, (name, reply.text)
    assert reason in reply.json()["error"], reply.json()
    assert row_counts(engine) == before, name
    assert any(reason in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("name,doc,kw,status,reason", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_malformed_or_unsigned_tasks_are_refused_and_write_nothing(sqlite_task_route, caplog, name, doc, kw, status,
                                                                   reason):
    _refused(sqlite_task_route, caplog, name, doc, kw, status, reason)


def test_refusals_write_nothing_on_both_backends(task_route, caplog):
    """The same on PostgreSQL, which stores no NUL and checks the signature the same way."""
    for case in REFUSALS:
        if case[0] in ("unsigned", "not json", "outside the city", "unknown case", "control characters"):
            caplog.clear()
            _refused(task_route, caplog, *case)


def test_a_task_for_an_ended_case_is_refused(sqlite_task_route):
    task_route = sqlite_task_route
    engine = task_route["engine"]
    with session_scope(engine) as s:
        case = new_case(s, reported_at=T0)
        drive(s, case.id, "rejected")
        case_id = case.id
    before = row_counts(engine)
    reply = post(task_route["url"], {"taskId": "U12", "caseCode": str(case_id)})
    assert reply.status_code == 409 and "不予立案" in reply.json()["error"]
    assert row_counts(engine) == before


def test_get_is_not_allowed(sqlite_task_route):
    assert requests.get(sqlite_task_route["url"], timeout=10).status_code == 405


def test_pull_mode(task_route):
    engine, upper = task_route["engine"], task_route["upper"]
    upper.tasks = [new_task(taskId="P-1"), {"taskId": "P-2", "mainType": "市容环境"}, new_task(taskId="P-3")]
    cfg = dataclasses.replace(exchange_config.load(), tasks_pull_url=upper.url.replace("/receive", "/tasks"))
    report = pull.pull_once(engine, cfg)
    assert (report.fetched, report.applied, report.repeated, report.error) == (3, 2, 0, None)
    assert len(report.refused) == 1 and report.refused[0].startswith("P-2")
    with session_scope(engine, readonly=True) as s:
        assert sorted(s.scalars(select(ExchangeTask.task_id).where(ExchangeTask.via == "pull"))) == ["P-1", "P-3"]
        assert sorted(s.scalars(select(Event.source_id).where(Event.source == "上级交办"))) == ["P-1", "P-3"]
    again = pull.pull_once(engine, cfg)  # fetched again (say, after a crash): nothing changes
    assert (again.applied, again.repeated) == (0, 2)
    # An answer not signed with our secret is not read at all.
    before = row_counts(engine)
    upper.tasks = [new_task(taskId="P-4")]
    upper.answer_secret = "someone-else"
    forged = pull.pull_once(engine, cfg)
    assert forged.error and forged.applied == 0 and row_counts(engine) == before

