"""重复上报: candidates by radius, window and category (boundaries exactly at the radius and the window),
the reporter's and the duty officer's answers (link / confirm as new), the import report of suspects
and the bulk merge, and every indicator counting a merged report once."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

import settings
from events import actions, duplicates, intake, rollup, workflow
from events.views import EventViews
from indicators import engine as indicator_engine
from indicators.library import load_library
from store.db import session_scope
from store.models import AuditEntry, Event, EventTransition
from store.period import Period
from tests.test_events_support import DUTY, GRID_OFFICER, LEADER, POINT, T0, drive, new_case, prepare

NORTH_50M = (POINT[0], POINT[1] + 0.00045)  # ≈ 50.0 m north of POINT (the boundary test sets the radius)
NEAR = (POINT[0], POINT[1] + 0.0002)  # ≈ 22 m north: inside the default 50 m


@pytest.fixture
def config(monkeypatch):
    """Set [duplicates] keys through the environment for one test."""
    def _set(**values):
        for k, v in values.items():
            monkeypatch.setenv(f"CITYOPS_DUPLICATES_{k.upper()}", repr(v))
        settings.reload_settings()
    yield _set
    for k in ("RADIUS_M", "WINDOW_HOURS"):
        monkeypatch.delenv(f"CITYOPS_DUPLICATES_{k}", raising=False)
    settings.reload_settings()


def _found(s, point=NEAR, at=T0, category="市容环境", subcategory="暴露垃圾"):  # noqa: ANN001
    return [c.id for c in duplicates.find_candidates(s, category=category, subcategory=subcategory, lon=point[0],
                                                     lat=point[1], at=at)]


def test_rule_per_category_overrides_the_default():
    assert duplicates.rule_for("市容环境", "暴露垃圾") == duplicates.Rule(50.0, 72.0)
    noise = duplicates.rule_for("其他事件", "社会生活噪声扰民")
    assert noise.radius_m > 50 and noise.window_hours > 72
    assert duplicates.rule_for("市容环境", "油烟污染").radius_m > 50


def test_radius_boundary_is_inclusive(sqlite_city_engine, config):
    prepare(sqlite_city_engine)
    d = duplicates.distance_m(POINT[0], POINT[1], *NORTH_50M)
    assert 49 < d < 51
    with session_scope(sqlite_city_engine) as s:
        original = new_case(s)
        config(radius_m=d)
        assert _found(s, point=NORTH_50M) == [original.id]  # exactly at the radius: a candidate
        config(radius_m=d - 1e-6)
        assert _found(s, point=NORTH_50M) == []  # a micrometre short: not
        config(radius_m=d + 1)
        assert _found(s, point=(POINT[0] + 0.001, POINT[1])) == []  # ≈ 103 m east


def test_window_boundary_is_inclusive_both_ways(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        original = new_case(s)
        window = timedelta(hours=72)
        assert _found(s, at=T0 + window) == [original.id]  # reported exactly the window later
        assert _found(s, at=T0 + window + timedelta(seconds=1)) == []
        assert _found(s, at=T0 - window) == [original.id]  # an import of an earlier report
        assert _found(s, at=T0 - window - timedelta(seconds=1)) == []


def test_only_open_cases_of_the_same_subcategory(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        a = new_case(s)
        assert _found(s, subcategory="道路不洁") == []
        closed = new_case(s, point=(POINT[0] + 0.0001, POINT[1]))
        drive(s, closed.id, "closed")
        assert _found(s) == [a.id]
        drive(s, a.id, "rejected")
        assert _found(s) == []


def test_noise_is_searched_wider_than_a_pothole(sqlite_city_engine):
    prepare(sqlite_city_engine)
    far = (POINT[0], POINT[1] + 0.0018)  # ≈ 200 m
    with session_scope(sqlite_city_engine) as s:
        noise = new_case(s, category="其他事件", subcategory="社会生活噪声扰民")
        rubbish = new_case(s)
        assert _found(s, point=far, category="其他事件", subcategory="社会生活噪声扰民") == [noise.id]
        assert _found(s, point=far) == []
        assert rubbish.id not in _found(s, point=far, category="其他事件", subcategory="社会生活噪声扰民")


def test_intake_keeps_suspects_on_every_channel(city_engine):
    prepare(city_engine)
    with session_scope(city_engine) as s:
        first = new_case(s)
        second = new_case(s, point=NEAR, source="12345", reported_at=T0 + timedelta(hours=1))
        assert first.duplicate_suspects is None
        assert [x["id"] for x in second.duplicate_suspects] == [first.id]
        assert second.duplicate_suspects[0]["distance_m"] == pytest.approx(22.2, abs=0.5)
        assert second.duplicate_suspects[0]["age_hours"] == pytest.approx(1.0)
        assert second.status == "reported"  # nothing merges silently


def _recent() -> datetime:
    """report_case reports at the real now: an original it may repeat was reported shortly before."""
    return datetime.now(timezone.utc) - timedelta(hours=1)


def _report(engine, **kw):  # noqa: ANN001
    return actions.report_case(engine, GRID_OFFICER, category="市容环境", subcategory="暴露垃圾", lon=NEAR[0],
                               lat=NEAR[1], description="路口有一堆垃圾", **kw)


def test_reporter_links_at_the_form(city_engine):
    prepare(city_engine)
    with session_scope(city_engine) as s:
        original = new_case(s, reported_at=_recent())
        drive(s, original.id, "dispatched", start=_recent())
    with EventViews.open(city_engine, GRID_OFFICER) as v:
        shown = v.duplicate_candidates(category="市容环境", subcategory="暴露垃圾", lon=NEAR[0], lat=NEAR[1])
    assert [c["id"] for c in shown] == [original.id] and shown[0]["distance_m"] == pytest.approx(22.2, abs=0.5)
    before = _rollup_reported(city_engine)
    out = _report(city_engine, duplicate_of=original.id)
    assert out.ok and out.status == "duplicate", out.message
    with session_scope(city_engine, readonly=True) as s:
        new = s.get(Event, out.case_id)
        assert (new.status, new.duplicate_of, new.duplicate_suspects, new.stage_deadline) == \
            ("duplicate", original.id, None, None)
        log = s.execute(select(EventTransition.action, EventTransition.detail).where(
            EventTransition.event_id == original.id).order_by(EventTransition.id)).all()
        assert log[-1].action == "link_duplicate" and log[-1].detail["duplicate"] == new.id
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "event_merge")) == 1
        assert rollup.differences(s).empty and rollup.district_differences(s).empty
        assert rollup.department_differences(s).empty
    assert _rollup_reported(city_engine) == before  # the repeat is not a second report
    with EventViews.open(city_engine, DUTY) as v:
        detail = v.case_detail(original.id)
    assert [d["id"] for d in detail["duplicates"]] == [out.case_id]
    assert any(t["action"] == "收到重复上报" for t in detail["timeline"])


def test_reporter_confirms_new(city_engine):
    prepare(city_engine)
    with session_scope(city_engine) as s:
        original = new_case(s, reported_at=_recent())
    out = _report(city_engine, confirmed_new=True)
    assert out.ok and out.status == "reported"
    with session_scope(city_engine, readonly=True) as s:
        new = s.get(Event, out.case_id)
        assert new.duplicate_suspects is None and new.duplicate_of is None
        last = s.execute(select(EventTransition).where(EventTransition.event_id == new.id)
                         .order_by(EventTransition.id.desc()).limit(1)).scalar_one()
        assert last.action == "confirm_new" and last.detail["suspects"][0]["id"] == original.id


def test_a_report_without_an_answer_waits_for_the_duty_officer(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        original = new_case(s, reported_at=_recent())
    out = _report(sqlite_city_engine)
    assert out.ok and out.status == "reported"
    with EventViews.open(sqlite_city_engine, DUTY) as v:
        waiting = v.suspected_duplicates()
        row = v.queue()
    assert [(w["id"], w["candidate_id"]) for w in waiting] == [(out.case_id, original.id)]
    assert any(r["id"] == out.case_id and r["suspected_duplicate"] for r in row.rows)
    # Someone who may not decide cannot: a leader holds neither capability.
    refused = actions.confirm_new_case(sqlite_city_engine, LEADER, out.case_id)
    assert not refused.ok
    # The officer cannot merge into a closed case.
    with session_scope(sqlite_city_engine) as s:
        drive(s, original.id, "closed")
    again = actions.merge_duplicates(sqlite_city_engine, DUTY, [(out.case_id, original.id, None)])
    assert not again[0].ok and "在办案件" in again[0].message


def test_merge_is_a_workflow_transition_with_a_stale_check(sqlite_city_engine):
    prepare(sqlite_city_engine)
    with session_scope(sqlite_city_engine) as s:
        a = new_case(s)
        b = new_case(s, point=NEAR)
        version = b.version
        with pytest.raises(workflow.WorkflowError, match="自己"):
            workflow.transition(s, b.id, "merge", DUTY, duplicate_of=b.id, now=T0)
    assert actions.confirm_new_case(sqlite_city_engine, DUTY, b.id, version=version).ok
    stale = actions.merge_duplicates(sqlite_city_engine, DUTY, [(b.id, a.id, version)])
    assert not stale[0].ok and stale[0].stale


def _rollup_reported(engine) -> int:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        from store.models import EventDailyRollup  # noqa: PLC0415 - one test helper

        return int(s.scalar(select(func.sum(EventDailyRollup.reported))) or 0)


HOTLINE_CSV = ("工单编号,受理时间,大类,小类,经度,纬度,诉求内容\n"
               "A-1,2026-11-23 10:00,市容环境,暴露垃圾,{lon},{lat},路口垃圾\n"
               "A-2,2026-11-23 10:30,市容环境,暴露垃圾,{lon2},{lat2},又有人反映路口垃圾\n"
               "A-3,2026-11-23 11:00,街面秩序,占道经营,110.3,21.8,占道\n")


def test_import_lists_suspects_and_the_operator_merges_in_bulk(city_engine):
    prepare(city_engine)
    with session_scope(city_engine) as s:
        original = new_case(s, reported_at=T0)
    data = HOTLINE_CSV.format(lon=NEAR[0], lat=NEAR[1], lon2=POINT[0], lat2=POINT[1] + 0.0001)
    report = actions.import_cases(city_engine, DUTY, io.BytesIO(data.encode()), name="hotline.csv", source="12345")
    assert report.imported == 3
    by_line = {x["line"]: x for x in report.suspected}
    assert sorted(by_line) == [2, 3]  # the 占道经营 row has no neighbour
    assert [c["id"] for c in by_line[2]["candidates"]] == [original.id]
    # Row 3 repeats the original and row 2 (imported a moment before it, same transaction).
    assert {c["id"] for c in by_line[3]["candidates"]} == {original.id, by_line[2]["case_id"]}
    assert "疑似重复上报" in report.summary() and len(report.suspected_lines()) == 2
    with session_scope(city_engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.status == "duplicate")) == 0
    outcomes = actions.merge_duplicates(city_engine, DUTY, [(x["case_id"], original.id, None)
                                                           for x in report.suspected])
    assert all(o.ok for o in outcomes), [o.message for o in outcomes]
    with session_scope(city_engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.duplicate_of == original.id)) == 2
        assert rollup.differences(s).empty and rollup.department_differences(s).empty


CASE_SOURCES = ("events", "event_daily_rollup")


def _figures(engine, now):  # noqa: ANN001
    lib = load_library()
    ids = [i for i, ind in lib.items() if ind.formula.kind != "standard" and i != "sv_duplicate_rate"
           and (ind.formula.source in CASE_SOURCES or (ind.formula.numerator and
                                                       ind.formula.numerator.source in CASE_SOURCES))]
    res = indicator_engine.compute_many(ids, "440900", Period.parse("2026-11"), DUTY, engine=engine, now=now)
    return {i: r.value for i, r in res.items()}


def test_a_merged_report_counts_once_in_every_indicator(city_engine):
    prepare(city_engine)
    now = T0 + timedelta(days=3)
    with session_scope(city_engine) as s:
        original = new_case(s, source="12345", reported_at=T0)
        drive(s, original.id, "handled")
        other = new_case(s, point=(110.3, 21.8), subcategory="道路不洁", reported_at=T0)
        drive(s, other.id, "closed")
    alone = _figures(city_engine, now)
    with session_scope(city_engine) as s:
        dup = new_case(s, point=NEAR, source="12345", reported_at=T0 + timedelta(hours=5),
                       reporter_phone="13812341234")
        duplicates.link(s, dup.id, original.id, DUTY, now=T0 + timedelta(hours=6))
    merged = _figures(city_engine, now)
    assert merged == alone
    rate = indicator_engine.compute("sv_duplicate_rate", "440900", "2026-11", DUTY, engine=city_engine, now=now)
    assert rate.value == pytest.approx(100 * 1 / 3)
