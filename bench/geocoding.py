"""The geocoding figure of `python -m bench`: milliseconds per address against a 100k-address base.

The base is the demo address generator (geo.demo_addresses) run denser over the benchmark city's own
streets until it holds at least `TARGET` addresses, located with the city's Locator and indexed in
memory (nothing is written to the benchmark database). The queries are a fixed mix drawn from it —
standard texts, province/city prefixes, full-width digits, Chinese numerals, 号/栋 forms, typos with
their district, intersections — plus addresses that must not match (other cities, roads that do not
exist). Figures: index build seconds, addresses, mean and p95 ms per address, and the share placed.

    python -m bench.geocoding [--scale demo] [--queries 2000]   # this figure alone
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time

import numpy as np
from sqlalchemy import select

from geo.demo_addresses import Density, address_records
from geo.geocode import AddressIndex
from geo.locate import Locator
from store.demo_scale import SCALES
from store.db import get_engine, session_scope
from store.models import Region

TARGET = 100_000
CITY = "440900"


def build_base(url: str, target: int = TARGET, seed: int = 20261206) -> tuple[AddressIndex, list[tuple], float]:
    """(index, records as RECORD_COLUMNS tuples, seconds to build the index)."""
    with session_scope(get_engine(url), readonly=True) as s:
        regions = s.execute(select(Region.code, Region.parent_code, Region.name, Region.level, Region.geometry)
                            .where(Region.city_code == CITY)).all()
        locator = Locator.from_session(s, CITY)
    streets = [(r.code, r.parent_code, r.geometry) for r in regions if r.level == "street"]
    communities = [(r.code, r.parent_code, r.geometry) for r in regions if r.level == "community"]
    names = {r.code: r.name for r in regions}
    roads = 12
    plates = max(20, math.ceil(target / (2 * len(streets) * roads)))
    for _ in range(6):  # roads clipped by small urban streets hold fewer plates: grow until the target
        records = address_records(streets, communities, np.random.default_rng(seed),
                                  Density(roads_per_street=roads, plates_per_side=plates, spacing_m=20.0),
                                  reserved_names=set(names.values()))
        if len(records) >= target:
            break
        plates = math.ceil(plates * target / max(1, len(records)) * 1.05)
    cols = locator.locate_columns(np.array([r["lon"] for r in records]), np.array([r["lat"] for r in records]))
    rows = []
    for k, rec in enumerate(records):
        codes = {lv: cols[lv][k] for lv in cols}
        if codes.get("street") != rec["street_code"]:
            continue
        number = f"{rec['house_number']}号" if rec["house_number"] else ""
        building = f"{rec['compound']}{rec['building']}栋" if rec["compound"] else ""
        text = f"{names.get(codes['district'], '')}{names.get(codes['street'], '')}{rec['road']}{number}{building}"
        rows.append((len(rows) + 1, text, rec["lon"], rec["lat"], codes["city"], codes["district"], codes["street"],
                     codes["community"], codes["grid"], rec["road"], rec["house_number"], rec["compound"],
                     rec["building"]))
    started = time.perf_counter()
    index = AddressIndex(CITY, rows, [(r.code, r.name, r.level) for r in regions], city_name="茂名市",
                         province="广东省", locate=locator.locate)
    return index, rows, time.perf_counter() - started


def queries(rows: list[tuple], names: dict[str, str], n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    plates = [r for r in rows if r[12] is None]
    out: list[str] = []
    while len(out) < n:
        r = rng.choice(plates)
        district, road, number = names.get(r[5], ""), r[9], r[10]
        pick = rng.randrange(8)
        if pick == 0:
            out.append(r[1])
        elif pick == 1:
            out.append(f"广东省茂名市{district}{road}{number}号")
        elif pick == 2:
            out.append(f"{district}{road}{''.join(chr(ord(c) + 0xFEE0) for c in number)}号附近")
        elif pick == 3:
            out.append(f"{district} {road} {number} 号 3栋2单元")
        elif pick == 4:
            i = rng.randrange(max(1, len(road) - 1))
            out.append(f"{district}{road[:i]}城{road[i + 1:]}{number}号")
        elif pick == 5:
            other = rng.choice(plates)
            out.append(f"{district}{road}与{other[9]}交叉口")
        elif pick == 6:
            out.append(rng.choice(["广州市天河区体育西路100号", "北京市朝阳区建国路88号", "湛江市霞山区人民大道南50号"]))
        else:
            out.append(f"{district}鑫淼{rng.choice(['路', '大道'])}{rng.randint(1, 99)}号")
    return out


def geocode_figures(url: str, n_queries: int = 2000) -> dict:
    index, rows, build_s = build_base(url)
    with session_scope(get_engine(url), readonly=True) as s:
        names = dict(s.execute(select(Region.code, Region.name).where(Region.city_code == CITY)).all())
    texts = queries(rows, names, n_queries)
    for text in texts[:50]:  # warm the interpreter's caches, as a running server is
        index.geocode(text)
    times, placed = [], 0
    for text in texts:
        t0 = time.perf_counter()
        match = index.geocode(text)
        times.append((time.perf_counter() - t0) * 1000)
        placed += match.placed(0.8)
    times.sort()
    return {"geocode_addresses": len(rows), "geocode_index_build_s": round(build_s, 2),
            "geocode_ms_per_address": round(statistics.fmean(times), 3),
            "geocode_p95_ms": round(times[int(0.95 * (len(times) - 1))], 3),
            "geocode_placed_share": round(placed / len(texts), 3)}


def main(argv: list[str] | None = None) -> int:
    # bench.measure builds (or reuses) the benchmark database; imported here, as `python -m bench` does.
    from bench import measure  # noqa: PLC0415 - only this entry point needs the database builder

    parser = argparse.ArgumentParser(prog="python -m bench.geocoding", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="demo", choices=list(SCALES))
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args(argv)
    url = measure.database_url(args.scale, args.backend)
    measure.ensure_database(url, args.scale, rebuild=False)
    for key, value in geocode_figures(url, args.queries).items():
        print(f"{key:32s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
