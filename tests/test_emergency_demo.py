"""The demo generator on the tiny city: counts, placement, consistent reservations, determinism."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import func, select

from store.demo_scale import get_scale
from emergency import catalog
from emergency.demo import generate
from store.db import get_engine, session_scope
from store.models import Alert, Base, Dispatch, Incident, IncidentLog, InventoryItem, Resource, Sensor
from tests.support.tiny_city import codes_for_point, tiny_city_regions

NOW = datetime(2026, 11, 25, 15, 59, 59, tzinfo=timezone.utc)


def _run(engine, seed: int = 5) -> dict:  # noqa: ANN001
    with session_scope(engine) as s:
        return generate(s, np.random.default_rng(seed), get_scale("demo"), NOW)


def test_demo_resources_incidents_and_invariants(city_engine):
    with session_scope(city_engine) as s:  # an open flood alert proposing an incident, as sensors.demo leaves one
        sensor = Sensor(id="HY-9", kind="hydro", name="河道水位站", lon=110.3, lat=21.3)
        sensor.set_region(codes_for_point(110.3, 21.3))
        s.add(sensor)
        s.flush()
        alert = Alert(rule_id="water_level_guarantee", sensor_id="HY-9", severity="严重", status="open",
                      opened_at=NOW, message="超保证水位", proposal={"incident_type": "洪涝灾害", "level": "III"},
                      proposal_status="proposed")
        alert.set_region(codes_for_point(110.3, 21.3))
        s.add(alert)
    out = _run(city_engine)
    assert out["resources"] == 150 and sum(out["by_kind"].values()) == 150
    with session_scope(city_engine, readonly=True) as s:
        kinds = Counter(s.scalars(select(Resource.kind)))
        assert set(kinds) == set(catalog.resource_kinds())
        assert s.scalar(select(func.count()).select_from(Resource).where(Resource.grid_code.is_(None))) == 0
        shelters = s.scalars(select(Resource).where(Resource.kind == catalog.SHELTER)).all()
        assert all(r.capacity and r.area_m2 == r.capacity * 2 for r in shelters)
        # Every district has a warehouse, and warehouses hold the plan items.
        wh = s.scalars(select(Resource).where(Resource.kind == catalog.WAREHOUSE)).all()
        assert {r.district_code for r in wh} == {"440902", "440904"}
        assert {"沙袋", "饮用水"} <= set(s.scalars(select(InventoryItem.item)))

        incidents = s.scalars(select(Incident).order_by(Incident.id)).all()
        assert Counter(i.status for i in incidents) == {"closed": out["incidents_closed"], "responding": 1, "open": 1}
        flood = next(i for i in incidents if i.status == "responding")
        assert (flood.type, flood.level, flood.source_alert_id) == ("内涝", "III", alert.id)
        assert s.get(Alert, alert.id).incident_id == flood.id
        for inc in incidents:
            if inc.status == "closed":
                assert inc.closed_at > inc.opened_at
                assert s.scalar(select(func.count()).select_from(Dispatch).where(
                    Dispatch.incident_id == inc.id, Dispatch.status == "active")) == 0
        # Reservations equal active stock dispatches, row by row; units out are tied to the flood.
        reserved = dict(s.execute(select(InventoryItem.id, InventoryItem.reserved).where(InventoryItem.reserved > 0)).all())
        active = dict(s.execute(select(Dispatch.inventory_id, func.sum(Dispatch.quantity))
                                .where(Dispatch.status == "active", Dispatch.item.is_not(None))
                                .group_by(Dispatch.inventory_id)).all())
        assert reserved == active and reserved
        busy = s.scalars(select(Resource).where(Resource.status.in_(["dispatched", "en_route", "on_site"]))).all()
        assert busy and all(r.incident_id == flood.id for r in busy)
        assert {r.status for r in busy} >= {"on_site", "en_route"}
        assert s.scalar(select(func.count()).select_from(IncidentLog)) > 3 * len(incidents)


def test_demo_is_deterministic(tmp_path):
    rows = []
    for n in (1, 2):
        engine = get_engine(f"sqlite:///{tmp_path / f'd{n}.db'}")
        Base.metadata.create_all(engine)
        with session_scope(engine) as s:
            s.add_all(tiny_city_regions())
        _run(engine, seed=11)
        with session_scope(engine, readonly=True) as s:
            rows.append((s.execute(select(Resource.id, Resource.kind, Resource.name, Resource.lon, Resource.lat,
                                          Resource.status).order_by(Resource.id)).all(),
                         s.execute(select(InventoryItem.resource_id, InventoryItem.item, InventoryItem.quantity,
                                          InventoryItem.reserved).order_by(InventoryItem.id)).all(),
                         s.execute(select(Incident.type, Incident.level, Incident.lon, Incident.opened_at)
                                   .order_by(Incident.id)).all()))
    assert rows[0] == rows[1]
