"""Sensors, emergency resources and open incidents as map layers for a scope, from their domains'
scoped read models (sensors.queries, emergency.queries)."""
from __future__ import annotations

from datetime import datetime, timezone

from emergency import queries as emergency_queries
from geo import layers as L
from sensors import queries as sensor_queries
from store.db import get_engine, session_scope
from store.scope import Viewer


def layer(kind: str, viewer: Viewer, code: str, engine=None):  # noqa: ANN001, ANN201
    """The pydeck layer of `kind` (sensors / resources / incidents) in region `code`, or None if empty."""
    with session_scope(engine or get_engine(), readonly=True) as s:
        if kind == "sensors":
            frame = sensor_queries.station_map(s, viewer, code, datetime.now(timezone.utc))
            return L.sensor_layer(frame) if not frame.empty else None
        if kind == "resources":
            frame = emergency_queries.resources(s, viewer, code)
            return L.resource_layer(frame) if not frame.empty else None
        if kind == "incidents":
            frame = emergency_queries.incidents(s, viewer, code)
            return L.incident_layer(frame) if not frame.empty else None
    raise ValueError(f"unknown layer kind {kind!r}")
