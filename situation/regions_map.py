"""Region shapes for the choropleth: the scope's children (or the scope itself when it is a grid),
with the scope's bounding box for the map view."""
from __future__ import annotations

import json

import pandas as pd
from sqlalchemy.orm import Session

from geo import hierarchy
from store.scope import Viewer


def _bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if not text:
        return None
    a, b, c, d = (float(v) for v in text.split(","))
    return a, b, c, d


def scope_shapes(session: Session, viewer: Viewer, code: str) -> tuple[pd.DataFrame, dict, tuple]:
    """(children frame [code, name, level, geometry(dict), centroid_lon, centroid_lat],
    the scope's own geometry dict, the scope's bbox)."""
    scope = hierarchy.get_region(session, code, viewer)
    kids = hierarchy.children(session, code, viewer) or [scope]
    frame = pd.DataFrame([{
        "code": r.code, "name": r.name, "level": r.level,
        "geometry": json.loads(r.geometry) if r.geometry else None,
        "centroid_lon": r.centroid_lon, "centroid_lat": r.centroid_lat,
    } for r in kids if r.geometry])
    own = json.loads(scope.geometry) if scope.geometry else None
    bbox = _bbox(scope.bbox) or (110.0, 21.0, 112.0, 23.0)
    return frame, own, bbox
