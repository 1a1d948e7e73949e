"""A tiny hand-made city for unit tests: square regions whose codes and areas are easy to reason about.

City 440900 covers lon 110.0–112.0, lat 21.0–22.0. Two districts (440902 west, 440904 east), each with
two streets (north/south halves), each with two communities (west/east halves), each with two grids
(north/south halves): 16 grids of 0.25° × 0.25°.
"""
from __future__ import annotations

import json

from shapely.geometry import box, mapping

from store.models import Region

CITY = "440900"
DISTRICTS = {"440902": ("茂南区", 110.0), "440904": ("电白区", 111.0)}


def _region(code, parent, name, level, geom, population=None):  # noqa: ANN001
    c = geom.centroid
    return Region(
        code=code, parent_code=parent, name=name, level=level, city_code=CITY,
        geometry=json.dumps(mapping(geom)), centroid_lon=c.x, centroid_lat=c.y,
        bbox=",".join(f"{v:.6f}" for v in geom.bounds), population=population,
        households=None if population is None else population // 3, area_km2=None, source="test",
    )


def tiny_city_regions() -> list[Region]:
    rows = [_region(CITY, None, "茂名市", "city", box(110.0, 21.0, 112.0, 22.0))]
    for dcode, (dname, x0) in DISTRICTS.items():
        rows.append(_region(dcode, CITY, dname, "district", box(x0, 21.0, x0 + 1.0, 22.0)))
        for si, (y0, sname) in enumerate([(21.5, "北街道"), (21.0, "南街道")], start=1):
            scode = f"{dcode}{si:03d}"
            rows.append(_region(scode, dcode, f"{dname}{sname}", "street", box(x0, y0, x0 + 1.0, y0 + 0.5)))
            for ci, cx in enumerate([x0, x0 + 0.5], start=1):
                ccode = f"{scode}{ci:03d}"
                rows.append(_region(ccode, scode, f"{sname}{ci}社区", "community", box(cx, y0, cx + 0.5, y0 + 0.5)))
                for gi, gy in enumerate([y0 + 0.25, y0], start=1):
                    gcode = f"{ccode}{gi:03d}"
                    rows.append(_region(gcode, ccode, f"{ci}社区第{gi}网格", "grid",
                                        box(cx, gy, cx + 0.5, gy + 0.25), population=1200))
    return rows


def codes_for_point(lon: float, lat: float) -> dict[str, str]:
    """The codes tiny_city assigns to a point (computed arithmetically, independent of geo.locate)."""
    dcode = "440902" if lon < 111.0 else "440904"
    x0 = 110.0 if dcode == "440902" else 111.0
    si = 1 if lat >= 21.5 else 2
    y0 = 21.5 if si == 1 else 21.0
    ci = 1 if lon < x0 + 0.5 else 2
    gi = 1 if lat >= y0 + 0.25 else 2
    scode = f"{dcode}{si:03d}"
    ccode = f"{scode}{ci:03d}"
    return {"city": CITY, "district": dcode, "street": scode, "community": ccode, "grid": f"{ccode}{gi:03d}"}
