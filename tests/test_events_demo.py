"""The demo year: every generated case follows the workflow table step by step, the stored rollup equals
a recount from the cases, and the year has the expected shape (day/night, weekday, rainy season)."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from auth.roles import can
from store.demo_scale import ScaleSpec
from events import demo, rollup, workflow
from store.db import session_scope
from store.models import Department, Event, EventDailyRollup, EventTransition
from tests.test_events_support import DUTY, new_case

NOW = datetime(2026, 11, 25, 15, 59, 59, tzinfo=timezone.utc)
SMALL = ScaleSpec("test", 2, 2, 2, 3000, 0, 0, 0, 0, 0, 1, 0)
TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def demo_db(city_engine):
    with session_scope(city_engine) as s:
        summary = demo.generate(s, np.random.default_rng(42), SMALL, NOW)
    return city_engine, summary


def test_rollup_equals_recount(demo_db):
    engine, summary = demo_db
    assert summary["events"] == 3000
    with session_scope(engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 3000
        diff = rollup.differences(s)
        assert diff.empty, diff.head()
        totals = rollup.stored(s).sum()
        assert totals["reported"] == 3000 and totals["closed"] > 2000 and totals["reworked"] > 50
    # Live cases keep numbering after the bulk-loaded ones (PostgreSQL: the id sequence was moved on).
    with session_scope(engine) as s:
        e = new_case(s, reported_at=NOW, actor=None)
        assert e.id == 3001
        workflow.transition(s, e.id, "register", DUTY, now=NOW)
    with session_scope(engine, readonly=True) as s:
        assert rollup.differences(s).empty
        assert rollup.district_differences(s).empty


def test_every_case_follows_the_table(demo_db):
    engine, _ = demo_db
    legal = defaultdict(set)
    for r in workflow.TABLE:
        legal[(r.from_status, r.action, r.to_status)].add(r.capability)
    with session_scope(engine, readonly=True) as s:
        events = {e.id: e for e in s.execute(select(Event)).scalars()}
        log = s.execute(select(EventTransition).order_by(EventTransition.event_id, EventTransition.at,
                                                         EventTransition.id)).scalars().all()
        departments = set(s.execute(select(Department.code)).scalars())
    by_event = defaultdict(list)
    for t in log:
        by_event[t.event_id].append(t)
    problems = []
    for eid, e in events.items():
        steps = by_event[eid]
        if not steps or steps[0].action != "report" or steps[0].to_status != "reported":
            problems.append((eid, "no report step"))
            continue
        state = "reported"
        for t in steps[1:]:
            caps = legal.get((t.from_status, t.action, t.to_status))
            if t.from_status != state or not caps or not any(can(t.actor_role, c) for c in caps):
                problems.append((eid, state, t.action, t.from_status, t.to_status, t.actor_role))
                break
            state = t.to_status
            if t.at > NOW:
                problems.append((eid, "step after now"))
        if state != e.status or len(steps) != e.version:
            problems.append((eid, "status/version", state, e.status, len(steps), e.version))
        if e.status in workflow.WITH_DEPARTMENT and e.department_code not in departments:
            problems.append((eid, "unknown department", e.department_code))
        if e.status in workflow.OPEN_STATUSES and e.status != "hung" and e.stage_deadline is None:
            problems.append((eid, "open without deadline"))
    assert not problems, problems[:10]


def test_the_year_has_a_shape(demo_db):
    engine, summary = demo_db
    with session_scope(engine, readonly=True) as s:
        df = pd.DataFrame(s.execute(select(Event.reported_at, Event.subcategory, Event.source, Event.status,
                                           Event.satisfaction, Event.rework_count)).all(),
                          columns=["at", "sub", "source", "status", "score", "rework"])
    local = pd.to_datetime(df["at"], utc=True).dt.tz_convert(TZ)
    assert local.min() >= pd.Timestamp(NOW).tz_convert(TZ) - pd.Timedelta(days=366)
    day = local.dt.hour.between(8, 18)
    assert day.mean() > 0.6                                    # daytime peak
    month = local.dt.month
    rainy = df["sub"].eq("道路积水") & month.between(5, 9)
    dry = df["sub"].eq("道路积水") & month.isin([11, 12, 1, 2, 3])
    assert rainy.sum() > 4 * max(1, dry.sum())                 # 汛期 brings standing water
    weekday = local.dt.day_of_week < 5
    assert weekday.sum() / 5 > (~weekday).sum() / 2            # more per weekday than per weekend day
    hotline = df[df["source"] == "12345"]
    assert hotline.loc[hotline["status"] == "closed", "score"].notna().all()   # 12345 回访 on every closed case
    assert df.loc[df["source"] != "12345", "score"].isna().all()
    assert summary["open"] > 0 and summary["hung"] > 0 and summary["returned"] > 0
    assert set(df["source"]) == {"网格员", "12345", "巡查", "视频", "传感器"}


def test_same_seed_same_data(city_engine):
    """Determinism: a second run with the same seed reproduces the same cases."""
    with session_scope(city_engine) as s:
        demo.generate(s, np.random.default_rng(7), ScaleSpec("t", 2, 2, 2, 300, 0, 0, 0, 0, 0, 1, 0), NOW)
        first = s.execute(select(Event.reported_at, Event.subcategory, Event.status, Event.lon)
                          .order_by(Event.id)).all()
        s.execute(EventDailyRollup.__table__.delete())
        s.execute(EventTransition.__table__.delete())
        s.execute(Event.__table__.delete())
        demo.generate(s, np.random.default_rng(7), ScaleSpec("t", 2, 2, 2, 300, 0, 0, 0, 0, 0, 1, 0), NOW)
        second = s.execute(select(Event.reported_at, Event.subcategory, Event.status, Event.lon)
                           .order_by(Event.id)).all()
    assert first == second
