"""Opening incidents from a map point, a sensor alert's proposal and an escalated grid event."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from emergency.incidents import AlreadyOpened, add_note, change_level, open_from_alert, open_from_event, open_incident
from geo.crs import from_wgs84
from store.db import session_scope
from store.models import Alert, AuditEntry, Event, Incident, IncidentLog, Sensor
from tests.support.tiny_city import codes_for_point
from tests.test_emergency_support import COMMANDER, COMMANDER_2, WEST_COMMANDER

T0 = datetime(2026, 9, 14, 3, 0, tzinfo=timezone.utc)


def _alert(session, lon=110.62, lat=21.58, proposal=True) -> int:  # noqa: ANN001
    sensor = Sensor(id="HY-01", kind="hydro", name="水位站", lon=lon, lat=lat)
    sensor.set_region(codes_for_point(lon, lat))
    session.add(sensor)
    session.flush()
    alert = Alert(rule_id="hydro_level", sensor_id="HY-01", severity="严重", status="open", opened_at=T0,
                  message="水位 3.2 m，超警戒 0.7 m", value=3.2,
                  # As sensors/alert_rules.yaml proposes it: 洪涝灾害 is our 内涝.
                  proposal={"incident_type": "洪涝灾害", "level": "III", "title": "城区积水", "lon": lon, "lat": lat,
                            "reason": "水位超警戒"} if proposal else None,
                  proposal_status="proposed" if proposal else None)
    alert.set_region(codes_for_point(lon, lat))
    session.add(alert)
    session.flush()
    return alert.id


def test_open_from_map_point_locates_and_logs(city_engine):
    glon, glat = from_wgs84(111.3, 21.2, "gcj02")
    with session_scope(city_engine) as s:
        inc = open_incident(s, incident_type="火灾", level="II", lon=glon, lat=glat, crs="gcj02", actor=COMMANDER)
        iid = inc.id
    with session_scope(city_engine, readonly=True) as s:
        inc = s.get(Incident, iid)
        assert inc.lon == pytest.approx(111.3, abs=1e-6) and inc.grid_code == codes_for_point(111.3, 21.2)["grid"]
        assert (inc.status, inc.commander, inc.title) == ("open", "值班员甲", "火灾事件")
        assert s.scalars(select(IncidentLog.message).where(IncidentLog.incident_id == iid)).one().startswith("开设火灾II级")
        assert s.scalar(select(AuditEntry.action)) == "emergency_open"


def test_bad_input_is_refused_in_chinese(city_engine):
    with pytest.raises(ValueError, match="未知的事件类型.*响应级别"):
        with session_scope(city_engine) as s:
            open_incident(s, incident_type="地震", level="V", lon=110.5, lat=21.5, actor=COMMANDER)
    with pytest.raises(ValueError, match="不在本市范围内"):
        with session_scope(city_engine) as s:
            open_incident(s, incident_type="火灾", level="IV", lon=113.0, lat=23.0, actor=COMMANDER)
    with session_scope(city_engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 0


def test_open_from_alert_proposal(city_engine):
    with session_scope(city_engine) as s:
        aid = _alert(s)
    with session_scope(city_engine) as s:
        iid = open_from_alert(s, aid, COMMANDER).id
    with session_scope(city_engine, readonly=True) as s:
        inc, alert = s.get(Incident, iid), s.get(Alert, aid)
        assert (inc.type, inc.level, inc.title, inc.source_alert_id) == ("内涝", "III", "城区积水", aid)
        assert (alert.incident_id, alert.proposal_status) == (iid, "accepted")
    with pytest.raises(AlreadyOpened) as err:
        with session_scope(city_engine) as s:
            open_from_alert(s, aid, COMMANDER_2)
    assert err.value.incident_id == iid and f"#{iid}" in str(err.value)


def test_unknown_proposed_type_asks_the_commander(city_engine):
    with session_scope(city_engine) as s:
        aid = _alert(s)
        s.get(Alert, aid).proposal = {"incident_type": "陨石坠落", "level": "I"}
    with pytest.raises(ValueError, match="“陨石坠落”不在应急事件类型中"):
        with session_scope(city_engine) as s:
            open_from_alert(s, aid, COMMANDER)
    with session_scope(city_engine) as s:
        assert open_from_alert(s, aid, COMMANDER, incident_type="地质灾害").level == "I"


def test_alert_without_proposal_needs_type_and_level(city_engine):
    with session_scope(city_engine) as s:
        aid = _alert(s, proposal=False)
    with pytest.raises(ValueError, match="请选择"):
        with session_scope(city_engine) as s:
            open_from_alert(s, aid, COMMANDER)
    with session_scope(city_engine) as s:
        inc = open_from_alert(s, aid, COMMANDER, incident_type="内涝", level="IV")
        assert (inc.lon, inc.lat) == (110.62, 21.58)  # the sensor's position


def test_alert_opened_by_two_commanders_at_once_gives_one_incident(city_engine):
    with session_scope(city_engine) as s:
        aid = _alert(s)
    barrier = threading.Barrier(2)
    outcomes = []

    def worker(actor):  # noqa: ANN001
        barrier.wait(timeout=30)
        try:
            with session_scope(city_engine) as s:
                open_from_alert(s, aid, actor)
            outcomes.append("ok")
        except AlreadyOpened:
            outcomes.append("already")

    threads = [threading.Thread(target=worker, args=(a,)) for a in (COMMANDER, COMMANDER_2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["already", "ok"]
    with session_scope(city_engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 1


def test_escalate_grid_event(city_engine):
    with session_scope(city_engine) as s:
        ev = Event(source="网格员", category="突发事件", subcategory="道路积水", title="XX路积水过膝",
                   description="积水约 60 cm", lon=110.3, lat=21.3, status="处置中", reported_at=T0, priority="urgent")
        ev.set_region(codes_for_point(110.3, 21.3))
        s.add(ev)
        s.flush()
        eid = ev.id
    with session_scope(city_engine) as s:
        inc = open_from_event(s, eid, COMMANDER, incident_type="内涝", level="IV")
        assert (inc.title, inc.source_event_id) == ("XX路积水过膝", eid) and "由网格事件" in inc.notes
    with pytest.raises(AlreadyOpened):
        with session_scope(city_engine) as s:
            open_from_event(s, eid, COMMANDER, incident_type="内涝", level="IV")


def test_notes_and_level_changes_are_logged(city_engine):
    with session_scope(city_engine) as s:
        iid = open_incident(s, incident_type="台风", level="IV", lon=110.4, lat=21.4, actor=WEST_COMMANDER).id
        add_note(s, iid, WEST_COMMANDER, "风力 10 级，转移群众 300 人")
        change_level(s, iid, "II", WEST_COMMANDER, "风力增强")
        change_level(s, iid, "III", WEST_COMMANDER)
    with session_scope(city_engine, readonly=True) as s:
        log = s.scalars(select(IncidentLog.message).where(IncidentLog.incident_id == iid).order_by(IncidentLog.id)).all()
        assert log[1:] == ["风力 10 级，转移群众 300 人", "响应级别升级：IV → II。风力增强", "响应级别降级：II → III"]
        assert s.get(Incident, iid).level == "III"
    with pytest.raises(ValueError, match="不能为空"):
        with session_scope(city_engine) as s:
            add_note(s, iid, WEST_COMMANDER, "  ")
