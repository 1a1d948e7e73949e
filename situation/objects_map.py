"""Sensors, emergency resources and open incidents as map layers for a scope, from their domains'
scoped read models (sensors.views, emergency.views)."""
from __future__ import annotations

from datetime import datetime, timezone

from emergency import maplayers as emergency_layers
from emergency.views import EmergencyViews
from sensors import layers as sensor_layers
from sensors.views import SensorViews
from store.db import get_engine, session_scope
from store.scope import Viewer


def layer(kind: str, viewer: Viewer, code: str, engine=None):  # noqa: ANN001, ANN201
    """The pydeck layer of `kind` (sensors / resources / incidents) in region `code`, or None if empty."""
    with session_scope(engine or get_engine(), readonly=True) as s:
        if kind == "sensors":
            frame = SensorViews(s, viewer).station_map(code, datetime.now(timezone.utc))
            return sensor_layers.station_layer(frame) if not frame.empty else None
        if kind == "resources":
            frame = EmergencyViews(s, viewer).resources(code)
            return emergency_layers.resource_layer(frame, layer_id="resources") if not frame.empty else None
        if kind == "incidents":
            frame = EmergencyViews(s, viewer).incidents(code)
            return emergency_layers.incident_layer(frame, layer_id="incidents") if not frame.empty else None
    raise ValueError(f"unknown layer kind {kind!r}")
