"""One-click dispatch on both backends: proposal (nearest, split stock, shortfalls), confirmation all or
nothing, release, the status machine and who may do what."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from emergency import resources as res
from emergency.dispatch import DispatchConflict, Selection, confirm, propose, release
from emergency.incidents import close_incident, open_incident
from emergency.plans import Plan, get_plan
from store.db import session_scope
from store.models import AuditEntry, Dispatch, Incident, IncidentLog, InventoryItem, Resource
from store.scope import PermissionDenied
from tests.test_emergency_support import COMMANDER, COMMANDER_2, LEADER, WEST_COMMANDER, add_resource, add_stock

SITE = (110.60, 21.60)  # west district, north street


def _setup(engine, sandbags=(300, 1000)) -> int:  # noqa: ANN001
    with session_scope(engine) as s:
        add_resource(s, "T-A", "排涝抢险队", 110.61, 21.60, name="排涝一队", headcount=12)
        add_resource(s, "T-B", "排涝抢险队", 110.65, 21.60, name="排涝二队", headcount=10)
        add_resource(s, "T-C", "排涝抢险队", 110.90, 21.60, name="排涝三队", headcount=8)
        add_resource(s, "T-D", "排涝抢险队", 110.62, 21.60, name="停用队", status="out_of_service")
        add_resource(s, "P-1", "排涝泵车", 110.70, 21.70, name="泵车1")
        add_resource(s, "M-1", "医疗救护", 110.58, 21.62, name="医疗一组")
        add_resource(s, "M-2", "医疗救护", 111.50, 21.20, name="医疗二组")
        add_stock(s, "W-1", 110.62, 21.61, {"沙袋": sandbags[0], "救生衣": 30}, name="近仓")
        add_stock(s, "W-2", 110.80, 21.70, {"沙袋": sandbags[1]}, name="远仓")
        inc = open_incident(s, incident_type="内涝", level="III", lon=SITE[0], lat=SITE[1], actor=COMMANDER,
                            title="测试内涝")
        return inc.id


def _stock(engine, rid, item="沙袋"):  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        row = s.scalars(select(InventoryItem).where(InventoryItem.resource_id == rid, InventoryItem.item == item)).one()
        return row.quantity, row.reserved


def _status(engine, rid):  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return s.get(Resource, rid).status


def test_plan_proposal_nearest_split_and_shortfalls(city_engine):
    iid = _setup(city_engine)
    with session_scope(city_engine, readonly=True) as s:
        p = propose(s, iid)
    assert p.plan.key == "内涝.III"
    chosen = p.units[p.units["selected"]]
    assert list(chosen[chosen["kind"] == "排涝抢险队"]["resource_id"]) == ["T-A", "T-B"]
    assert list(chosen[chosen["kind"] == "医疗救护"]["resource_id"]) == ["M-1"]
    assert list(chosen[chosen["kind"] == "排涝泵车"]["resource_id"]) == ["P-1"]
    # T-C is offered as an alternative, unselected; the out-of-service team never appears.
    assert "T-C" in set(p.units["resource_id"]) and "T-D" not in set(p.units["resource_id"])
    bags = p.stock[(p.stock["item"] == "沙袋") & p.stock["selected"]]
    assert list(zip(bags["resource_id"], bags["take"])) == [("W-1", 300), ("W-2", 200)]
    jackets = p.stock[(p.stock["item"] == "救生衣") & p.stock["selected"]]
    assert list(jackets["take"]) == [30]
    short = {sf.what: (sf.needed, sf.found) for sf in p.shortfalls}
    assert short == {"救生衣": (50, 30)}
    # ETA uses the configured speed: 排涝抢险队 35 km/h.
    a = chosen[chosen["resource_id"] == "T-A"].iloc[0]
    assert a["eta_min"] == pytest.approx(a["distance_km"] / 35 * 60)


def test_scarce_stock_takes_what_exists_and_reports_shortfall(city_engine):
    iid = _setup(city_engine, sandbags=(100, 250))
    with session_scope(city_engine, readonly=True) as s:
        p = propose(s, iid, Plan("内涝", "III", {"排涝抢险队": 5}, {"沙袋": 500, "帐篷": 10}))
    bags = p.stock[p.stock["item"] == "沙袋"]
    assert list(zip(bags["resource_id"], bags["take"])) == [("W-1", 100), ("W-2", 250)]
    short = {sf.what: (sf.needed, sf.found) for sf in p.shortfalls}
    assert short == {"排涝抢险队": (5, 3), "沙袋": (500, 350), "帐篷": (10, 0)}
    assert "缺 150袋" in [sf for sf in p.shortfalls if sf.what == "沙袋"][0].describe()


def test_confirm_reserves_everything_in_one_go(city_engine):
    iid = _setup(city_engine)
    with session_scope(city_engine, readonly=True) as s:
        p = propose(s, iid)
    with session_scope(city_engine) as s:
        result = confirm(s, iid, p.selection(), COMMANDER)
    assert result.units == 4 and result.stock_rows == 3
    with session_scope(city_engine, readonly=True) as s:
        for rid in ("T-A", "T-B", "M-1", "P-1"):
            r = s.get(Resource, rid)
            assert (r.status, r.incident_id, r.version) == ("dispatched", iid, 2)
        assert s.get(Incident, iid).status == "responding"
        assert s.scalar(select(func.count()).select_from(Dispatch).where(Dispatch.status == "active")) == 7
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "emergency_dispatch")) == 7
        assert s.scalar(select(func.count()).select_from(IncidentLog).where(IncidentLog.kind == "dispatch")) == 1
    assert _stock(city_engine, "W-1") == (300, 300)
    assert _stock(city_engine, "W-2") == (1000, 200)
    assert _stock(city_engine, "W-1", "救生衣") == (30, 30)


def test_confirm_is_all_or_nothing_and_names_what_was_taken(city_engine):
    iid = _setup(city_engine)
    with session_scope(city_engine) as s:
        other = open_incident(s, incident_type="火灾", level="IV", lon=110.7, lat=21.7, actor=COMMANDER_2).id
    with session_scope(city_engine, readonly=True) as s:
        p = propose(s, iid)
    # Meanwhile another commander takes team A and 250 sandbags from the near warehouse.
    with session_scope(city_engine) as s:
        near = s.scalar(select(InventoryItem.id).where(InventoryItem.resource_id == "W-1", InventoryItem.item == "沙袋"))
        confirm(s, other, Selection(units=(("T-A", 1),), stock=((near, 250),)), COMMANDER_2)
    with pytest.raises(DispatchConflict) as err:
        with session_scope(city_engine) as s:
            confirm(s, iid, p.selection(), COMMANDER)
    items = err.value.items
    assert len(items) == 2
    assert any("排涝一队" in i and "已调派" in i for i in items)
    assert any("沙袋（近仓）" in i and "现仅可用 50袋" in i for i in items)
    # Nothing of the failed plan was reserved.
    assert _status(city_engine, "T-B") == "available" and _status(city_engine, "M-1") == "available"
    assert _stock(city_engine, "W-2") == (1000, 0)
    assert _stock(city_engine, "W-1") == (300, 250)
    with session_scope(city_engine, readonly=True) as s:
        assert s.get(Incident, iid).status == "open"
        assert s.scalar(select(func.count()).select_from(Dispatch).where(Dispatch.incident_id == iid)) == 0


def test_conflict_caught_inside_the_transaction_still_leaves_nothing(city_engine):
    iid = _setup(city_engine)
    with session_scope(city_engine, readonly=True) as s:
        p = propose(s, iid)
    with session_scope(city_engine) as s:
        s.get(Resource, "M-1").status = "out_of_service"
    with session_scope(city_engine) as s:  # the caller swallows the error and commits
        with pytest.raises(DispatchConflict):
            confirm(s, iid, p.selection(), COMMANDER)
    assert _status(city_engine, "T-A") == "available"
    assert _stock(city_engine, "W-1") == (300, 0)


def test_stale_version_is_refused(city_engine):
    iid = _setup(city_engine)
    with session_scope(city_engine) as s:
        res.advance(s, "T-A", "out_of_service", COMMANDER)
        res.advance(s, "T-A", "available", COMMANDER)  # back to available, but version moved on
    with pytest.raises(DispatchConflict, match="版本 1→3"):
        with session_scope(city_engine) as s:
            confirm(s, iid, Selection(units=(("T-A", 1),)), COMMANDER)


def test_units_move_through_states_then_release(city_engine):
    iid = _setup(city_engine)
    with session_scope(city_engine, readonly=True) as s:
        p = propose(s, iid, get_plan("内涝", "IV"))  # 1 排涝抢险队, 1 排涝泵车, 200 沙袋
    with session_scope(city_engine) as s:
        confirm(s, iid, p.selection(), COMMANDER)
    with session_scope(city_engine) as s:
        res.advance(s, "T-A", "en_route", COMMANDER)
        res.advance(s, "T-A", "on_site", COMMANDER)
    with pytest.raises(ValueError, match="不能从"):
        with session_scope(city_engine) as s:
            res.advance(s, "T-A", "available", COMMANDER)
    with pytest.raises(res.StaleState):
        with session_scope(city_engine) as s:
            res.advance(s, "P-1", "on_site", COMMANDER, expected_status="en_route")
    with session_scope(city_engine, readonly=True) as s:
        bag = s.scalars(select(Dispatch).where(Dispatch.incident_id == iid, Dispatch.item == "沙袋")).one()
    with pytest.raises(ValueError, match="消耗量"):
        with session_scope(city_engine) as s:
            release(s, iid, COMMANDER, used={bag.id: 201})
    with session_scope(city_engine) as s:
        out = release(s, iid, COMMANDER, used={bag.id: 120})
    assert (out.units_available, out.units_returning, out.stock_returned, out.stock_used) == (1, 1, 80, 120)
    assert _status(city_engine, "T-A") == "returning" and _status(city_engine, "P-1") == "available"
    assert _stock(city_engine, "W-1") == (180, 0)
    with session_scope(city_engine) as s:
        res.advance(s, "T-A", "available", COMMANDER)
        close_incident(s, iid, COMMANDER, "积水排除")
    with session_scope(city_engine, readonly=True) as s:
        a = s.get(Resource, "T-A")
        assert (a.status, a.incident_id) == ("available", None)
        assert s.scalar(select(func.count()).select_from(Dispatch).where(Dispatch.status == "active")) == 0
        actions = s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert actions.count("emergency_status") == 3 and actions.count("emergency_release") == 3
        assert actions[0] == "emergency_open" and actions[-1] == "emergency_close"
        log = s.scalars(select(IncidentLog.kind).where(IncidentLog.incident_id == iid).order_by(IncidentLog.id)).all()
        assert log == ["open", "dispatch", "status", "status", "release", "status", "close"]


def test_close_refused_while_dispatches_active(city_engine):
    iid = _setup(city_engine)
    with session_scope(city_engine) as s:
        confirm(s, iid, Selection(units=(("T-A", 1),)), COMMANDER)
    with pytest.raises(ValueError, match="未释放"):
        with session_scope(city_engine) as s:
            close_incident(s, iid, COMMANDER)


def test_leader_views_but_cannot_dispatch(city_engine):
    iid = _setup(city_engine)
    with session_scope(city_engine, readonly=True) as s:
        p = propose(s, iid, viewer=LEADER)  # looking is allowed
    for action in (lambda s: confirm(s, iid, p.selection(), LEADER),
                   lambda s: release(s, iid, LEADER),
                   lambda s: res.advance(s, "T-A", "out_of_service", LEADER),
                   lambda s: open_incident(s, incident_type="火灾", level="IV", lon=110.5, lat=21.5, actor=LEADER)):
        with pytest.raises(PermissionDenied):
            with session_scope(city_engine) as s:
                action(s)
    assert _status(city_engine, "T-A") == "available"


def test_commander_cannot_reach_outside_zone(city_engine):
    with session_scope(city_engine) as s:
        add_resource(s, "E-1", "排涝抢险队", 111.5, 21.5, name="东区队")
        add_resource(s, "W-T", "排涝抢险队", 110.5, 21.5, name="西区队")
        iid = open_incident(s, incident_type="内涝", level="IV", lon=110.4, lat=21.4, actor=WEST_COMMANDER).id
    with session_scope(city_engine, readonly=True) as s:
        p = propose(s, iid, viewer=WEST_COMMANDER)
    assert set(p.units["resource_id"]) == {"W-T"}  # the scoped search never offers the east team
    with pytest.raises(DispatchConflict, match="不在您的管辖范围内"):
        with session_scope(city_engine) as s:
            confirm(s, iid, Selection(units=(("E-1", 1), ("W-T", 1))), WEST_COMMANDER)
    assert _status(city_engine, "W-T") == "available"
    with pytest.raises(ValueError, match="管辖范围"):
        with session_scope(city_engine) as s:
            open_incident(s, incident_type="火灾", level="IV", lon=111.5, lat=21.5, actor=WEST_COMMANDER)
