"""AppTest of pages/emergency_command.py: a commander runs the whole loop (open, propose, adjust, confirm, move
units, release, log) and every step lands in the audit log; a leader sees it all but gets no action
controls, and a direct API call as leader raises PermissionDenied."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

import settings
from emergency.dispatch import Selection, confirm
from emergency.incidents import open_incident
from store.db import dispose_engines, session_scope
from store.models import Alert, AuditEntry, Dispatch, Incident, InventoryItem, Resource, Sensor
from store.scope import PermissionDenied
from tests.support.tiny_city import codes_for_point
from tests.test_emergency_support import COMMANDER, LEADER, add_resource, add_stock

PAGE = Path(__file__).resolve().parents[1] / "pages" / "emergency_command.py"


@pytest.fixture
def page_db(city_engine, monkeypatch):
    """The tiny city with a few units, a warehouse and one open 内涝 III incident; the app pointed at it."""
    with session_scope(city_engine) as s:
        add_resource(s, "T-A", "排涝抢险队", 110.61, 21.60, name="排涝一队", headcount=12)
        add_resource(s, "T-B", "排涝抢险队", 110.65, 21.60, name="排涝二队", headcount=10)
        add_resource(s, "T-C", "排涝抢险队", 110.90, 21.60, name="排涝三队", headcount=8)
        add_resource(s, "P-1", "排涝泵车", 110.70, 21.70, name="泵车1")
        add_resource(s, "M-1", "医疗救护", 110.58, 21.62, name="医疗一组")
        add_resource(s, "SH-1", "应急避难场所", 110.60, 21.61, name="广场避难场所", capacity=2000, occupancy=0)
        add_stock(s, "W-1", 110.62, 21.61, {"沙袋": 800, "救生衣": 100}, name="近仓")
        iid = open_incident(s, incident_type="内涝", level="III", lon=110.60, lat=21.60, actor=COMMANDER,
                            title="人民路积水").id
    monkeypatch.setenv("DATABASE_URL", city_engine.url.render_as_string(hide_password=False))
    settings.reload_settings()
    st.cache_data.clear()
    st.cache_resource.clear()
    yield city_engine, iid
    monkeypatch.delenv("DATABASE_URL")
    settings.reload_settings()
    st.cache_data.clear()
    st.cache_resource.clear()
    dispose_engines()


def _app(viewer) -> AppTest:  # noqa: ANN001
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state["viewer"] = viewer
    return at.run()


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _button(at: AppTest, label: str):  # noqa: ANN202
    return next(b for b in at.button if b.label == label)


def _status(engine, rid):  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return s.get(Resource, rid).status


def test_commander_runs_the_whole_loop(page_db):
    engine, iid = page_db
    at = _app(COMMANDER)
    _ok(at)
    assert any("应急指挥" in m.value for m in at.markdown)
    assert at.selectbox(key="em_incident_pick").value == iid
    assert at.get("deck_gl_json_chart"), "the map renders"

    at.button(key=f"em_propose_{iid}").click().run()
    _ok(at)
    units = at.data_editor(key=f"em_units_{iid}").value
    assert set(units[units["selected"]]["name"]) == {"排涝一队", "排涝二队", "医疗一组", "泵车1"}
    assert "排涝三队" in set(units["name"])  # offered as an alternative
    assert any("救生衣" in w.value and "缺 -" not in w.value for w in at.warning) is False  # 100 jackets ≥ 50
    # The commander swaps team one for team three before confirming.
    rows = list(units["name"])
    at.session_state[f"em_units_{iid}"] = {
        "edited_rows": {rows.index("排涝一队"): {"selected": False}, rows.index("排涝三队"): {"selected": True}},
        "added_rows": [], "deleted_rows": []}
    at.button(key=f"em_confirm_{iid}").click().run()
    _ok(at)
    assert any("调派已确认" in s.value for s in at.success)
    assert _status(engine, "T-C") == "dispatched" and _status(engine, "T-A") == "available"
    with session_scope(engine, readonly=True) as s:
        bags = s.scalars(select(InventoryItem).where(InventoryItem.item == "沙袋")).one()
        assert (bags.quantity, bags.reserved) == (800, 500)

    at.button(key="em_mv_T-C_en_route").click().run()
    _ok(at)
    assert _status(engine, "T-C") == "en_route"
    at.button(key="em_mv_T-C_on_site").click().run()
    assert _status(engine, "T-C") == "on_site"

    at.button(key=f"em_release_{iid}").click().run()
    _ok(at)
    assert any("已释放" in s.value for s in at.success)
    assert _status(engine, "T-C") == "returning" and _status(engine, "T-B") == "available"
    at.button(key="em_mv_T-C_available").click().run()
    assert _status(engine, "T-C") == "available"

    at.text_input(key=f"em_note_{iid}").input("积水已退，道路恢复通行")
    _button(at, "添加记录").click().run()
    _ok(at)
    log = next(d.value for d in at.dataframe if "message" in d.value.columns)
    assert "积水已退，道路恢复通行" in set(log["message"]) and any("确认调派" in m for m in log["message"])
    with session_scope(engine, readonly=True) as s:
        actions = s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert s.scalar(select(func.count()).select_from(Dispatch).where(Dispatch.status == "active")) == 0
    assert actions[0] == "emergency_open" and "emergency_dispatch" in actions and "emergency_release" in actions
    assert actions.count("emergency_status") == 3 and actions[-1] == "emergency_note"


def test_commander_opens_an_incident_from_the_form(page_db):
    engine, _ = page_db
    at = _app(COMMANDER)
    at.session_state["em_open_lon"] = 111.3  # as a map click on a grid would set them
    at.session_state["em_open_lat"] = 21.2
    at.run()
    at.selectbox(key="em_open_type").select("火灾")
    at.text_input(key="em_open_title").input("仓库火情")
    _button(at, "开设事件").click().run()
    _ok(at)
    with session_scope(engine, readonly=True) as s:
        new = s.scalars(select(Incident).where(Incident.title == "仓库火情")).one()
        assert (new.type, new.district_code) == ("火灾", "440904")
    assert at.selectbox(key="em_incident_pick").value == new.id


def test_commander_opens_an_incident_from_a_flood_alert(page_db):
    engine, _ = page_db
    with session_scope(engine) as s:
        sensor = Sensor(id="HY-1", kind="hydro", name="城区水位站", lon=110.45, lat=21.45)
        sensor.set_region(codes_for_point(110.45, 21.45))
        s.add(sensor)
        s.flush()
        alert = Alert(rule_id="water_level_guarantee", sensor_id="HY-1", severity="严重", status="open",
                      opened_at=datetime(2026, 9, 14, 3, tzinfo=timezone.utc), message="城区水位站：水位超保证水位",
                      proposal={"incident_type": "洪涝灾害", "level": "III", "title": "城区水位站水位超保证水位",
                                "lon": 110.45, "lat": 21.45}, proposal_status="proposed")
        alert.set_region(codes_for_point(110.45, 21.45))
        s.add(alert)
        s.flush()
        aid = alert.id
    at = _app(COMMANDER)
    at.radio(key="em_open_source").set_value("传感器预警").run()
    assert at.selectbox(key="em_alert_type").value == "内涝" and at.selectbox(key="em_alert_level").value == "III"
    at.button(key="em_open_alert").click().run()
    _ok(at)
    with session_scope(engine, readonly=True) as s:
        new = s.scalars(select(Incident).where(Incident.source_alert_id == aid)).one()
        assert (new.type, new.level, s.get(Alert, aid).proposal_status) == ("内涝", "III", "accepted")
    assert at.selectbox(key="em_incident_pick").value == new.id


def test_deep_link_selects_the_incident(page_db):
    engine, iid = page_db
    with session_scope(engine) as s:
        other = open_incident(s, incident_type="火灾", level="IV", lon=111.3, lat=21.3, actor=COMMANDER).id
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state["viewer"] = COMMANDER
    at.query_params["incident"] = str(iid)
    at.run()
    _ok(at)
    assert at.selectbox(key="em_incident_pick").value == iid
    at.selectbox(key="em_incident_pick").select(other).run()  # the user's own choice then sticks
    assert at.selectbox(key="em_incident_pick").value == other


def test_conflict_is_reported_with_the_items(page_db):
    engine, iid = page_db
    at = _app(COMMANDER)
    at.button(key=f"em_propose_{iid}").click().run()
    with session_scope(engine) as s:  # another commander takes team one meanwhile
        other = open_incident(s, incident_type="火灾", level="IV", lon=110.7, lat=21.7, actor=COMMANDER).id
        confirm(s, other, Selection(units=(("T-A", 1),)), COMMANDER)
    at.button(key=f"em_confirm_{iid}").click().run()
    _ok(at)
    assert any("排涝一队" in e.value and "已调派" in e.value for e in at.error)
    assert _status(engine, "T-B") == "available"


def test_leader_views_without_action_controls(page_db):
    engine, iid = page_db
    at = _app(LEADER)
    _ok(at)
    assert any("由指挥中心值班员操作" in i.value for i in at.info)
    at.button(key=f"em_propose_{iid}").click().run()  # looking at a proposal is allowed
    _ok(at)
    keys = {b.key for b in at.button}
    assert f"em_confirm_{iid}" not in keys and f"em_release_{iid}" not in keys
    assert not [b for b in at.button if (b.key or "").startswith("em_mv_")]
    assert not [b for b in at.button if b.label in ("开设事件", "按预警开设事件", "升级为应急事件")]
    assert at.data_editor(key=f"em_units_{iid}").proto.disabled
    with pytest.raises(PermissionDenied):
        with session_scope(engine) as s:
            confirm(s, iid, Selection(units=(("T-A", 1),)), LEADER)
    assert _status(engine, "T-A") == "available"
