"""Sensors, emergency resources and open incidents as map layers for a scope."""
from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from geo import layers as L
from store.db import get_engine, session_scope
from store.models import Incident, Resource
from store.scope import Viewer, apply_scope, in_region

RESOURCE_STATUS_ZH = {"available": "可用", "dispatched": "已调派", "en_route": "在途", "on_site": "到场",
                      "returning": "返回中", "out_of_service": "停用"}


def resources_frame(session, viewer: Viewer, code: str) -> pd.DataFrame:  # noqa: ANN001
    stmt = (apply_scope(select(Resource.id, Resource.kind, Resource.name, Resource.lon, Resource.lat,
                               Resource.status, Resource.headcount, Resource.capacity), Resource, viewer)
            .where(in_region(Resource, code)).order_by(Resource.id))
    rows = session.execute(stmt).all()
    frame = pd.DataFrame(rows, columns=["id", "kind", "name", "lon", "lat", "status", "headcount", "capacity"])
    frame["tip"] = [
        f"{r.name}（{r.kind}）\n状态：{RESOURCE_STATUS_ZH.get(r.status, r.status)}"
        + (f"\n人数：{int(r.headcount)}" if pd.notna(r.headcount) else "")
        + (f"\n容量：{int(r.capacity)} 人" if pd.notna(r.capacity) else "")
        for r in frame.itertuples()]
    return frame


def incidents_frame(session, viewer: Viewer, code: str) -> pd.DataFrame:  # noqa: ANN001
    stmt = (apply_scope(select(Incident.id, Incident.type, Incident.level, Incident.title, Incident.lon,
                               Incident.lat, Incident.status), Incident, viewer)
            .where(in_region(Incident, code), Incident.status != "closed").order_by(Incident.id))
    frame = pd.DataFrame(session.execute(stmt).all(),
                         columns=["id", "type", "level", "title", "lon", "lat", "status"])
    frame["tip"] = [f"🚨 {r.level}级 {r.type}\n{r.title}" for r in frame.itertuples()]
    return frame


def sensors_frame(session, viewer: Viewer, code: str) -> pd.DataFrame:  # noqa: ANN001
    from sensors import queries as sensor_queries

    return sensor_queries.station_states(session, viewer, code)


def layer(kind: str, viewer: Viewer, code: str, engine=None):  # noqa: ANN001, ANN201
    with session_scope(engine or get_engine(), readonly=True) as s:
        if kind == "resources":
            frame = resources_frame(s, viewer, code)
            return L.resource_layer(frame) if not frame.empty else None
        if kind == "incidents":
            frame = incidents_frame(s, viewer, code)
            return L.incident_layer(frame) if not frame.empty else None
        if kind == "sensors":
            frame = sensors_frame(s, viewer, code)
            return L.sensor_layer(frame) if not frame.empty else None
    raise ValueError(f"unknown layer kind {kind!r}")
