"""The emergency read face, the escalation reads above it and the page's actions: what a viewer sees is
inside their zone, a region or incident outside it is refused, and a refused action writes nothing."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from emergency import actions
from emergency.views import EmergencyViews
from situation.escalation import EscalationViews
from store.db import session_scope
from store.models import Alert, AuditEntry, Event, Incident, Sensor
from store.scope import PermissionDenied
from tests.support.tiny_city import codes_for_point
from tests.test_emergency_support import COMMANDER, LEADER, WEST_COMMANDER, add_resource, add_stock

T0 = datetime(2026, 9, 14, 3, 0, tzinfo=timezone.utc)
WEST, EAST = "440902", "440904"


@pytest.fixture
def scene(city_engine):
    """A unit, a warehouse and an incident on each side of the tiny city."""
    with session_scope(city_engine) as s:
        add_resource(s, "W-T", "排涝抢险队", 110.6, 21.6, name="西队", headcount=10)
        add_resource(s, "E-T", "排涝抢险队", 111.6, 21.6, name="东队", headcount=8)
        add_stock(s, "W-W", 110.62, 21.61, {"沙袋": 300}, name="西仓")
        add_stock(s, "E-W", 111.62, 21.61, {"沙袋": 200}, name="东仓")
    west = actions.open_incident(city_engine, COMMANDER, incident_type="内涝", level="III", lon=110.6, lat=21.6,
                                 title="西积水")
    east = actions.open_incident(city_engine, COMMANDER, incident_type="火灾", level="IV", lon=111.6, lat=21.6,
                                 title="东火情")
    return city_engine, west, east


def test_a_district_viewer_sees_only_their_district(scene):
    engine, west, east = scene
    with EmergencyViews.open(engine, WEST_COMMANDER) as em:
        assert set(em.resources()["id"]) == {"W-T", "W-W"}
        assert list(em.incidents()["id"]) == [west]
        assert set(em.inventory()["warehouse"]) == {"西仓"}
        head = em.summary()
        assert (head["open_incidents"], head["available"]) == (1, 1)
        assert em.incident(west)["district_code"] == WEST
        with pytest.raises(PermissionDenied):
            em.incident(east)
        with pytest.raises(PermissionDenied):
            em.incident_log(east)
        with pytest.raises(PermissionDenied):
            em.resources(EAST)
        with pytest.raises(LookupError, match="不存在"):
            em.incident(999_999)
    with EmergencyViews.open(engine, LEADER) as em:
        assert set(em.incidents(EAST)["id"]) == {east}
        assert set(em.resources(EAST, kinds=["排涝抢险队"])["id"]) == {"E-T"}
        assert em.summary()["open_incidents"] == 2


def test_map_geography_and_coverage_follow_the_region(scene):
    engine, _, _ = scene
    with EmergencyViews.open(engine, WEST_COMMANDER) as em:
        west_box = em.region_bbox()
        click = em.click_regions()
        regions, gaps = em.coverage()
    assert west_box[0] >= 110.0 - 1e-9 and west_box[2] <= 111.0 + 1e-9
    assert len(click) == 8 and click["code"].str.startswith(WEST).all()  # the district's grids
    assert regions["region_code"].str.startswith(WEST).all() and len(gaps) == 8  # no facilities: every grid a gap
    with EmergencyViews.open(engine, LEADER) as em:
        regions, gaps = em.coverage()
    assert set(regions["region_code"]) == {WEST, EAST} and len(gaps) == 16


def test_proposal_and_actions_run_the_loop(scene):
    engine, west, _ = scene
    with EmergencyViews.open(engine, WEST_COMMANDER) as em:
        proposal = em.proposal(west, plan_key="内涝.III")
    assert "W-T" in set(proposal.units["resource_id"]) and "E-T" not in set(proposal.units["resource_id"])
    done = actions.confirm_dispatch(engine, WEST_COMMANDER, west, proposal.selection())
    assert done.units == 1
    move = actions.advance_resource(engine, WEST_COMMANDER, "W-T", "en_route", expected_status="dispatched")
    assert move.to_status == "en_route"
    released = actions.release(engine, WEST_COMMANDER, west)
    assert released.units_returning == 1
    actions.add_note(engine, WEST_COMMANDER, west, "已处置")
    actions.close_incident(engine, WEST_COMMANDER, west, "完毕")
    with EmergencyViews.open(engine, WEST_COMMANDER) as em:
        assert em.incident(west)["status"] == "closed"
        assert "已处置" in set(em.incident_log(west)["message"])
        assert em.incident_dispatches(west)["status"].eq("released").all()
    with pytest.raises(ValueError, match="调派预案"):
        with EmergencyViews.open(engine, WEST_COMMANDER) as em:
            em.proposal(west, plan_key="没有.这个")


def test_a_refused_action_writes_nothing(scene):
    engine, _, east = scene
    with session_scope(engine, readonly=True) as s:
        audits = s.scalar(select(func.count()).select_from(AuditEntry))
    with pytest.raises(ValueError, match="不在您的管辖范围内"):
        actions.open_incident(engine, WEST_COMMANDER, incident_type="火灾", level="IV", lon=111.3, lat=21.3)
    with pytest.raises(PermissionDenied):
        actions.add_note(engine, WEST_COMMANDER, east, "越权记录")
    with pytest.raises(PermissionDenied):
        actions.change_level(engine, LEADER, east, "III")
    with session_scope(engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 2
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == audits


def _alert(session, sid: str, lon: float, lat: float, **kw) -> int:  # noqa: ANN001
    sensor = Sensor(id=sid, kind="hydro", name=f"{sid}水位站", lon=lon, lat=lat)
    sensor.set_region(codes_for_point(lon, lat))
    session.add(sensor)
    session.flush()
    alert = Alert(rule_id="hydro_level", sensor_id=sid, severity="严重", status="open", opened_at=T0,
                  message=f"{sid} 水位超警戒", **kw)
    alert.set_region(codes_for_point(lon, lat))
    session.add(alert)
    session.flush()
    return alert.id


def _event(session, title: str, lon: float, lat: float, priority: str = "urgent",  # noqa: ANN001
           status: str = "handling") -> int:
    ev = Event(source="网格员", category="突发事件", subcategory="道路积水", title=title, description="", lon=lon,
               lat=lat, status=status, reported_at=T0, priority=priority)
    ev.set_region(codes_for_point(lon, lat))
    session.add(ev)
    session.flush()
    return ev.id


def test_escalation_lists_proposals_and_urgent_events_in_scope(city_engine):
    proposal = {"incident_type": "洪涝灾害", "level": "III", "title": "城区积水"}
    with session_scope(city_engine) as s:
        west_alert = _alert(s, "HW", 110.4, 21.4, proposal=proposal, proposal_status="proposed")
        _alert(s, "HE", 111.4, 21.4, proposal=proposal, proposal_status="proposed")
        _alert(s, "HN", 110.45, 21.45)  # no proposal
        _alert(s, "HD", 110.55, 21.45, proposal=proposal, proposal_status="dismissed")
        urgent = _event(s, "西路积水", 110.3, 21.3)
        escalated = _event(s, "西桥积水", 110.35, 21.3)
        _event(s, "西街占道", 110.3, 21.35, priority="normal")
        _event(s, "西园积水", 110.3, 21.4, status="closed")
        _event(s, "东路积水", 111.3, 21.3)
    actions.open_from_event(city_engine, COMMANDER, escalated, incident_type="内涝", level="IV")
    with EscalationViews.open(city_engine, WEST_COMMANDER) as esc:
        alerts = esc.alert_proposals()
        events = esc.escalatable_events()
        with pytest.raises(PermissionDenied):
            esc.escalatable_events(EAST)
    assert list(alerts["id"]) == [west_alert]
    assert (alerts["type"].iloc[0], alerts["level"].iloc[0], alerts["title"].iloc[0]) == ("内涝", "III", "城区积水")
    assert list(events["id"]) == [urgent]
    with EscalationViews.open(city_engine, LEADER) as esc:
        assert len(esc.alert_proposals()) == 2 and len(esc.escalatable_events()) == 2
    new_id = actions.open_from_alert(city_engine, COMMANDER, west_alert)
    with EscalationViews.open(city_engine, LEADER) as esc:
        assert west_alert not in set(esc.alert_proposals()["id"])
    with session_scope(city_engine, readonly=True) as s:
        assert s.get(Incident, new_id).source_alert_id == west_alert
