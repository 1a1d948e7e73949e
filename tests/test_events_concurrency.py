"""Two dispatchers, one case: exactly one wins, the other is told who got there first, nothing is lost —
from two threads and from two processes, on SQLite and on PostgreSQL."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

import settings
from events import rollup, workflow
from store.db import session_scope
from store.models import AuditEntry, Event, EventTransition, Region
from tests.support.tiny_city import tiny_city_regions
from tests.test_events_support import DUTY, DUTY2, STREET_OFFICE, T0, new_case, prepare

ROOT = Path(settings.ROOT)


def _with_city(engine):  # noqa: ANN001, ANN202
    with session_scope(engine) as s:
        if s.get(Region, "440900") is None:
            s.add_all(tiny_city_regions())
    prepare(engine)
    return engine


def _registered_case(engine) -> tuple[int, int]:  # noqa: ANN001
    _with_city(engine)
    with session_scope(engine) as s:
        e = new_case(s)
        workflow.transition(s, e.id, "register", DUTY, now=T0)
        return e.id, s.get(Event, e.id).version


def _check_one_winner(engine, eid: int, version: int, outcomes: dict) -> None:  # noqa: ANN001
    winners = [u for u, r in outcomes.items() if r == "ok"]
    losers = [u for u, r in outcomes.items() if r != "ok"]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    message = outcomes[losers[0]]
    assert winners[0] in message and "派遣" in message and "请刷新" in message, message
    with session_scope(engine, readonly=True) as s:
        e = s.get(Event, eid)
        assert (e.status, e.version) == ("dispatched", version + 1)
        dispatches = s.scalar(select(func.count()).select_from(EventTransition).where(
            EventTransition.event_id == eid, EventTransition.action == "dispatch"))
        audits = s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "event_dispatch", AuditEntry.object_id == str(eid)))
        assert dispatches == 1 and audits == 1
        assert rollup.stored(s)["dispatched"].sum() == 1
        assert rollup.differences(s).empty
        assert rollup.district_differences(s).empty


def _dispatch(engine, viewer, eid, version, outcomes, barrier=None) -> None:  # noqa: ANN001
    if barrier is not None:
        barrier.wait(timeout=30)
    try:
        with session_scope(engine) as s:
            workflow.transition(s, eid, "dispatch", viewer, department_code=STREET_OFFICE,
                                expected_version=version)
        outcomes[viewer.username] = "ok"
    except workflow.ConcurrentChange as exc:
        outcomes[viewer.username] = str(exc)


def test_two_threads_one_winner(db_engine):
    """Both saw version v on screen; both submit at once."""
    eid, version = _registered_case(db_engine)
    barrier = threading.Barrier(2)
    outcomes: dict = {}
    threads = [threading.Thread(target=_dispatch, args=(db_engine, v, eid, version, outcomes, barrier))
               for v in (DUTY, DUTY2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    _check_one_winner(db_engine, eid, version, outcomes)


def test_conditional_update_decides_on_postgres(pg_engine):
    """No version given and both transactions past their read: the UPDATE … WHERE status/version is the
    only thing between them. The second UPDATE waits for the first to commit, then matches no row."""
    eid, version = _registered_case(pg_engine)
    barrier = threading.Barrier(2)
    outcomes: dict = {}

    @sa_event.listens_for(pg_engine, "before_cursor_execute")
    def hold(conn, cursor, statement, params, context, executemany):  # noqa: ANN001
        if statement.lstrip().upper().startswith("UPDATE EVENTS"):
            barrier.wait(timeout=30)

    def run(viewer):  # noqa: ANN001
        try:
            with session_scope(pg_engine) as s:
                workflow.transition(s, eid, "dispatch", viewer, department_code=STREET_OFFICE)
            outcomes[viewer.username] = "ok"
        except workflow.ConcurrentChange as exc:
            outcomes[viewer.username] = str(exc)

    try:
        threads = [threading.Thread(target=run, args=(v,)) for v in (DUTY, DUTY2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        sa_event.remove(pg_engine, "before_cursor_execute", hold)
    _check_one_winner(pg_engine, eid, version, outcomes)


def test_parallel_writes_to_one_rollup_row_add_up(db_engine):
    """Two cases in the same grid/day/大类/source registered at the same moment: both counts land."""
    _with_city(db_engine)
    with session_scope(db_engine) as s:
        ids = [new_case(s).id, new_case(s).id]
    barrier = threading.Barrier(2)
    errors: list = []

    def run(eid, viewer):  # noqa: ANN001
        try:
            barrier.wait(timeout=30)
            with session_scope(db_engine) as s:
                workflow.transition(s, eid, "register", viewer, now=T0)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, v)) for i, v in zip(ids, (DUTY, DUTY2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    with session_scope(db_engine, readonly=True) as s:
        assert rollup.stored(s)["registered"].sum() == 2
        assert rollup.differences(s).empty
        assert rollup.district_differences(s).empty


CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
from store.db import get_engine, session_scope
from store.scope import Viewer
from events import workflow
url, eid, version, user, dept, folder = sys.argv[2:8]
engine = get_engine(url)
with session_scope(engine, readonly=True) as s:  # connect and warm up before the start signal
    pass
open(os.path.join(folder, user + ".ready"), "w").close()
deadline = time.time() + 60
while not os.path.exists(os.path.join(folder, "go")) and time.time() < deadline:
    time.sleep(0.002)
try:
    with session_scope(engine) as s:
        workflow.transition(s, int(eid), "dispatch", Viewer(user, "duty_officer", "440900"),
                            department_code=dept, expected_version=int(version))
    print(json.dumps({"user": user, "result": "ok"}))
except workflow.ConcurrentChange as exc:
    print(json.dumps({"user": user, "result": str(exc)}, ensure_ascii=False))
"""


def test_two_processes_one_winner(db_engine, tmp_path):
    eid, version = _registered_case(db_engine)
    url = db_engine.url.render_as_string(hide_password=False)
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(ROOT), url, str(eid), str(version), user,
                               STREET_OFFICE, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for user in (DUTY.username, DUTY2.username)]
    deadline = time.time() + 90
    while not all((tmp_path / f"{u}.ready").exists() for u in (DUTY.username, DUTY2.username)):
        if time.time() > deadline or any(p.poll() not in (None, 0) for p in procs):
            pytest.fail("child processes did not start: " + "; ".join(p.stderr.read() for p in procs if p.poll()))
        time.sleep(0.01)
    (tmp_path / "go").touch()
    outcomes = {}
    for p in procs:
        out, err = p.communicate(timeout=90)
        assert p.returncode == 0, err
        row = json.loads(out.strip().splitlines()[-1])
        outcomes[row["user"]] = row["result"]
    _check_one_winner(db_engine, eid, version, outcomes)
