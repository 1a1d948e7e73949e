"""Working-hour arithmetic across lunch, nights, weekends, holidays and 调休 workdays; SLA lookup.

Expected values are worked out by hand from config.toml [workday] (08:30–12:00, 14:00–17:30, weekends
off, 2026-10-01/02/05/06/07 holidays, 2026-09-27 and 2026-10-10 make-up workdays) and, for random
inputs, compared with a minute-by-minute walk (an independent oracle, not the code under test).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings as hsettings
from hypothesis import strategies as st

import settings
from events import deadlines
from events.deadlines import Limit, WorkCalendar, WorkdayConfig, deadline_state, stage_limit

TZ = ZoneInfo("Asia/Shanghai")


def L(y, mo, d, h, mi=0):  # noqa: ANN001, ANN201, N802 - local time helper
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


# The calendar under test is fixed here, not read from config.toml, so a city editing its holiday
# list cannot change what these hand-worked cases expect.
TEST_WORKDAY = {"workday": {
    "start": "08:30", "end": "17:30", "lunch_start": "12:00", "lunch_end": "14:00",
    "holidays": ["2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06", "2026-10-07", "2027-01-01"],
    "workdays": ["2026-09-27", "2026-10-10"],
}}


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar(WorkdayConfig.from_settings(TEST_WORKDAY))


@pytest.mark.parametrize("start,hours,expected", [
    (L(2026, 11, 23, 9, 0), 2, L(2026, 11, 23, 11, 0)),          # same morning
    (L(2026, 11, 23, 11, 0), 2, L(2026, 11, 23, 15, 0)),         # across lunch
    (L(2026, 11, 23, 12, 30), 1, L(2026, 11, 23, 15, 0)),        # starts during lunch
    (L(2026, 11, 23, 16, 30), 2, L(2026, 11, 24, 9, 30)),        # across the night
    (L(2026, 11, 23, 20, 0), 1, L(2026, 11, 24, 9, 30)),         # starts at night
    (L(2026, 11, 23, 6, 0), 1, L(2026, 11, 23, 9, 30)),          # starts before work
    (L(2026, 11, 27, 16, 0), 4, L(2026, 11, 30, 11, 0)),         # Friday → Monday over the weekend
    (L(2026, 11, 28, 10, 0), 1, L(2026, 11, 30, 9, 30)),         # starts on Saturday
    (L(2026, 11, 23, 8, 30), 7, L(2026, 11, 23, 17, 30)),        # a full day ends at closing, not next morning
    (L(2026, 11, 23, 8, 30), 3.5, L(2026, 11, 23, 12, 0)),       # lands exactly on lunch: stays at 12:00
    (L(2026, 11, 23, 17, 30), 0.5, L(2026, 11, 24, 9, 0)),       # starts exactly at closing
    (L(2026, 11, 23, 10, 0), 16, L(2026, 11, 25, 12, 0)),        # 16 working hours = 2 days + 2 h
    # National Day: 1.5 h on 09-30, then 10-01/02 holidays, 10-03/04 weekend, 10-05/06/07 holidays.
    (L(2026, 9, 30, 16, 0), 2, L(2026, 10, 8, 9, 0)),
])
def test_add_working_hours_examples(cal, start, hours, expected):
    assert cal.add_working_hours(start, hours) == expected.astimezone(timezone.utc)


def test_make_up_workdays_count(cal):
    # 2026-09-27 is a Sunday but a 调休 workday; 2026-10-10 a Saturday workday.
    assert cal.add_working_hours(L(2026, 9, 26, 10, 0), 1) == L(2026, 9, 27, 9, 30).astimezone(timezone.utc)
    assert cal.add_working_hours(L(2026, 10, 9, 17, 0), 1) == L(2026, 10, 10, 9, 0).astimezone(timezone.utc)
    assert cal.working_hours_between(L(2026, 10, 10, 8, 30), L(2026, 10, 10, 17, 30)) == pytest.approx(7.0)
    assert cal.working_hours_between(L(2026, 10, 1, 8, 0), L(2026, 10, 7, 20, 0)) == 0.0


def test_zero_and_negative_hours(cal):
    t = L(2026, 11, 23, 20, 0)
    assert cal.add_working_hours(t, 0) == t.astimezone(timezone.utc)
    with pytest.raises(ValueError):
        cal.add_working_hours(t, -1)
    with pytest.raises(ValueError):
        cal.add_working_hours(datetime(2026, 11, 23, 20, 0), 1)  # naive


def _oracle_add(cfg: WorkdayConfig, start: datetime, minutes: int) -> datetime:
    """Walk minute by minute: the deadline is the end of the `minutes`-th working minute."""
    t = start.astimezone(TZ).replace(second=0, microsecond=0)
    spans = cfg.day_spans()
    left = minutes
    while True:
        if cfg.is_workday(t.date()) and any(a <= t.time() < b for a, b in spans):
            left -= 1
            if left == 0:
                return t + timedelta(minutes=1)
        t += timedelta(minutes=1)


@hsettings(max_examples=60, deadline=None)
@given(minute=st.integers(0, 60 * 24 * 120), hours=st.integers(1, 40))
def test_matches_minute_walk(minute, hours):
    cfg = WorkdayConfig.from_settings()
    cal = WorkCalendar(cfg)
    start = L(2026, 8, 1, 0, 0) + timedelta(minutes=minute)
    got = cal.add_working_hours(start, hours)
    assert got == _oracle_add(cfg, start, hours * 60).astimezone(timezone.utc)
    # and the inverse: the working time between start and the deadline is the limit
    assert cal.working_hours_between(start, got) == pytest.approx(hours)


def test_vectorised_equals_scalar(cal):
    rng = np.random.default_rng(7)
    starts = L(2026, 1, 1, 0).timestamp() + rng.random(500) * 365 * 86400
    hours = rng.choice([0.5, 1, 2, 8, 16, 40], size=500)
    out = cal.add_seconds_array(starts, hours * 3600)
    for s, h, o in zip(starts, hours, out):
        expected = cal.add_working_hours(datetime.fromtimestamp(s, timezone.utc), float(h))
        assert abs(o - expected.timestamp()) < 1e-3


def test_sla_lookup_order(monkeypatch):
    cfg = settings.get_settings()
    assert stage_limit("市容环境", "暴露垃圾", "normal", "handle") == Limit(8, calendar=False)   # [sla."市容环境"]
    assert stage_limit("街面秩序", "占道经营", "normal", "handle") == Limit(16, calendar=False)  # default
    assert stage_limit("突发事件", "道路积水", "urgent", "handle") == Limit(2, calendar=True)     # urgent = calendar
    patched = {**cfg, "sla": {**cfg["sla"], "市容环境/暴露垃圾": {"handle": {"urgent": 1, "normal": 4}}}}
    assert stage_limit("市容环境", "暴露垃圾", "normal", "handle", patched) == Limit(4, calendar=False)
    assert stage_limit("市容环境", "乱堆物堆料", "normal", "handle", patched) == Limit(8, calendar=False)
    with pytest.raises(ValueError, match="紧急程度"):
        stage_limit("市容环境", "暴露垃圾", "soon", "handle")
    broken = {**cfg, "sla": {"default": {"handle": {"urgent": 1}}}}
    with pytest.raises(ValueError, match="缺少"):
        stage_limit("街面秩序", "占道经营", "normal", "register", broken)


def test_urgent_deadline_counts_calendar_hours_through_the_night():
    start = L(2026, 11, 27, 23, 0).astimezone(timezone.utc)  # Friday 23:00
    dl = deadlines.stage_deadline(start, "突发事件", "道路积水", "urgent", "handle")
    assert dl.deadline == start + timedelta(hours=2)
    assert dl.warn_at == start + timedelta(hours=2 * deadlines.warning_fraction())


def test_warning_and_overdue_states():
    start = L(2026, 11, 23, 9, 0).astimezone(timezone.utc)
    dl = deadlines.stage_deadline(start, "市容环境", "暴露垃圾", "normal", "register")  # 2 working hours
    assert dl.deadline == L(2026, 11, 23, 11, 0).astimezone(timezone.utc)
    assert dl.warn_at == L(2026, 11, 23, 10, 36).astimezone(timezone.utc)  # 0.8 × 2 h
    assert deadline_state(L(2026, 11, 23, 10, 0), dl.warn_at, dl.deadline) == "ok"
    assert deadline_state(L(2026, 11, 23, 10, 40), dl.warn_at, dl.deadline) == "warning"
    assert deadline_state(L(2026, 11, 23, 11, 1), dl.warn_at, dl.deadline) == "overdue"
    assert deadline_state(L(2026, 11, 23, 11, 1), None, None) is None
    assert deadlines.remaining_text(L(2026, 11, 23, 10, 0), dl.deadline) == "剩 1小时0分"
    assert deadlines.remaining_text(L(2026, 11, 24, 12, 0), dl.deadline) == "超期 1天1小时"


def test_bad_workday_config_is_refused():
    with pytest.raises(ValueError, match="午休"):
        WorkdayConfig.from_settings({"workday": {"start": "08:30", "end": "17:30", "lunch_start": "18:00",
                                                 "lunch_end": "19:00"}, "app": {}})
    with pytest.raises(ValueError, match="HH:MM"):
        WorkdayConfig.from_settings({"workday": {"start": "8.30"}, "app": {}})
