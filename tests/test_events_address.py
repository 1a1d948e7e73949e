"""Cases reported by address alone: import rows without coordinates (placed through the standard
address base, or created 待定位 — never dropped), and the duty officer placing a 待定位 case (its
rollup counts move with it; only before dispatch; only the duty officer; against the seen version)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from events import actions, rollup, workflow
from events.importer import import_events
from events.placement import place_event
from events.views import EventViews
from geo.geocode import clear_index_cache
from geo.locate import clear_locator_cache
from store.db import session_scope
from store.models import Event, EventTransition
from store.scope import PermissionDenied
from tabular import TabularError
from tests.test_events_support import DUTY, GRID_OFFICER, LEADER, STREET_OFFICE, prepare
from tests.test_open311_support import ADDRESS_GRID, ADDRESS_POINT, add_addresses

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
HEADER = "工单编号,受理时间,大类,小类,问题描述,地址,经度,纬度\n"


@pytest.fixture
def city(city_engine):
    clear_index_cache()
    clear_locator_cache()
    prepare(city_engine)
    add_addresses(city_engine)
    yield city_engine
    clear_index_cache()


def _import(engine, rows: list[str], header: str = HEADER):  # noqa: ANN001, ANN202
    with session_scope(engine) as s:
        return import_events(s, (header + "\n".join(rows) + "\n").encode(), "12345", now=NOW)


def test_rows_with_an_address_and_no_coordinates_import(city):
    report = _import(city, ["A-1,2026-11-20 09:30,市容环境,暴露垃圾,有垃圾,茂南区油城五路12号,,",
                            "A-2,2026-11-20 09:40,市容环境,暴露垃圾,有垃圾,茂南区某个小巷子里,,",
                            "A-3,2026-11-20 09:50,市容环境,暴露垃圾,有垃圾,站前路,110.10,21.90"])
    assert (report.imported, report.geocoded, report.pending) == (3, 1, 1)
    assert "1 件按地址定位" in report.summary() and "1 件地址未能匹配" in report.summary()
    with session_scope(city, readonly=True) as s:
        rows = {e.source_id: e for e in s.scalars(select(Event))}
        assert rows["A-1"].grid_code == ADDRESS_GRID and not rows["A-1"].location_pending
        assert (rows["A-1"].lon, rows["A-1"].lat) == pytest.approx(ADDRESS_POINT)
        assert rows["A-2"].location_pending and rows["A-2"].district_code == "440902" and rows["A-2"].grid_code is None
        assert not rows["A-3"].location_pending
        log = s.scalars(select(EventTransition).where(EventTransition.event_id == rows["A-1"].id)).one()
        assert log.detail["geocode"]["kind"] == "door" and log.detail["geocode"]["confidence"] == 1.0
        assert rollup.differences(s).empty and rollup.district_differences(s).empty


def test_a_row_needs_coordinates_or_an_address(city):
    with pytest.raises(TabularError) as err:
        _import(city, ["B-1,2026-11-20 09:30,市容环境,暴露垃圾,有垃圾,,,",
                       "B-2,2026-11-20 09:30,市容环境,暴露垃圾,有垃圾,某地,110.1,"])
    assert "第 2 行「经度」：缺少经纬度，也没有可供匹配的地址" in str(err.value)
    assert "经度和纬度须同时填写" in str(err.value)
    with pytest.raises(TabularError, match="没有经纬度的文件须有「地址」列"):
        _import(city, ["C-1,2026-11-20 09:30,市容环境,暴露垃圾"], header="工单编号,受理时间,大类,小类\n")
    report = _import(city, ["D-1,2026-11-20 09:30,市容环境,暴露垃圾,茂南区油城五路12号"],
                     header="工单编号,受理时间,大类,小类,地址\n")
    assert report.geocoded == 1


def _pending_case(engine) -> int:  # noqa: ANN001
    _import(engine, ["P-1,2026-11-20 09:40,市容环境,暴露垃圾,有垃圾,茂南区某个小巷子里,,"])
    with session_scope(engine, readonly=True) as s:
        return s.scalars(select(Event.id).where(Event.source_id == "P-1")).one()


def test_the_duty_officer_places_a_pending_case(city):
    case_id = _pending_case(city)
    with EventViews.open(city, DUTY) as v:
        row = next(r for r in v.queue().rows if r["id"] == case_id)
        version = v.case_detail(case_id)["version"]
    assert row["location_pending"]
    outcome = actions.place_case(city, DUTY, case_id, 110.1036, 21.8999, version=version)
    assert outcome.ok, outcome.message
    with session_scope(city, readonly=True) as s:
        e = s.get(Event, case_id)
        assert not e.location_pending and e.grid_code == ADDRESS_GRID and e.version == version + 1
        note = s.scalars(select(EventTransition).where(EventTransition.event_id == case_id,
                                                       EventTransition.action == "note")).one()
        assert note.detail["placed"]["grid"] == ADDRESS_GRID and note.detail["from_region"] == "440902"
        assert rollup.differences(s).empty and rollup.district_differences(s).empty
    stale = actions.place_case(city, DUTY, case_id, 110.2, 21.9, version=version)
    assert not stale.ok and stale.stale


def test_placing_is_refused_when_it_should_be(city):
    case_id = _pending_case(city)
    for viewer in (LEADER, GRID_OFFICER):
        with pytest.raises(PermissionDenied), session_scope(city) as s:
            place_event(s, case_id, 110.1, 21.9, viewer)
    outside = actions.place_case(city, DUTY, case_id, 120.0, 30.0)
    assert not outside.ok and "不在本市范围内" in outside.message
    with session_scope(city) as s:
        workflow.transition(s, case_id, "register", DUTY)
    assert actions.place_case(city, DUTY, case_id, 110.1, 21.9).ok  # 待派遣 may still be placed
    with session_scope(city) as s:
        workflow.transition(s, case_id, "dispatch", DUTY, department_code=STREET_OFFICE)
    late = actions.place_case(city, DUTY, case_id, 110.2, 21.9)
    assert not late.ok and "已派遣" in late.message
    with session_scope(city, readonly=True) as s:
        assert rollup.differences(s).empty
