"""Record reference conversions from an independent library (prcoords 1.0.2, CC0, by Mingye Wang),
installed only into a scratch folder, never into the project:

    .venv/bin/pip install --target /tmp/xcheck-geo prcoords
    PYTHONPATH=/tmp/xcheck-geo .venv/bin/python tests/data/geo/make_xcheck.py

The points are fixed pseudo-random places across China plus named ones; the file is what
tests/test_geo_crs.py compares our own module with when the scratch install is absent.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import prcoords

NAMED = {"天安门": (116.397428, 39.90923), "茂名市政府": (110.925439, 21.662999),
         "高州": (110.853251, 21.915153), "信宜": (110.947043, 22.354385), "上海人民广场": (121.475, 31.2317),
         "乌鲁木齐": (87.6168, 43.8256), "三亚": (109.5119, 18.2528), "哈尔滨": (126.535, 45.8038)}


def main() -> None:
    rnd = random.Random(20260501)
    points = dict(NAMED)
    for i in range(60):
        points[f"random{i:02d}"] = (rnd.uniform(75, 134), rnd.uniform(18, 53))
    out = []
    for name, (lon, lat) in points.items():
        g = prcoords.wgs_gcj((lat, lon), True)
        b = prcoords.wgs_bd((lat, lon), True)
        w_from_g = prcoords.gcj_wgs_bored((lat, lon))  # treat the point itself as GCJ-02
        w_from_b = prcoords.bd_wgs_bored((lat, lon))  # … and as BD-09
        out.append({"name": name, "wgs84": [lon, lat], "gcj02": [g.lon, g.lat], "bd09": [b.lon, b.lat],
                    "gcj02_to_wgs84": [w_from_g.lon, w_from_g.lat], "bd09_to_wgs84": [w_from_b.lon, w_from_b.lat]})
    Path(__file__).with_name("xcheck_prcoords.json").write_text(
        json.dumps({"library": "prcoords 1.0.2", "points": out}, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
