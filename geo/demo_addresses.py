"""A generated standard address base (演示数据) for the demo city, consistent with its streets.

Each street/town gets a small grid of roads around its centre (east–west and north–south, slightly
turned), door plates along each road (odd numbers on one side, even on the other, every `spacing_m`),
and some communities a residential compound whose buildings take the nearest plate as their gate.
A plate that would fall outside its road's street is left out, so every road lies in one street and
every address's codes agree with the hierarchy (the plates are located with geo.locate like any
imported address).

Names: every district has its own 人民路 (east–west) and 中山路 (north–south), which cross, as in
most Chinese towns (so "人民路与中山路交叉口" needs its district to be placed); each district has
one numbered series (茂南区: 油城一路 … 油城十路, after the city's nickname) and the other roads
take unique names from geo.demo_names.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.affinity import rotate
from shapely.geometry import LineString, Point
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

import settings
from geo.demo_names import NamePool
from geo.geocode import bump_address_version
from geo.geometry import from_text
from geo.locate import Locator
from store.demo_scale import ScaleSpec
from store.models import Region, StandardAddress, utcnow

SOURCE = "演示数据"
COMMON_ROADS = ("人民路", "中山路")
FIRST_SERIES_STEM = "油城"
SERIES_LENGTH = 10
NUMERALS = "一二三四五六七八九十"
ROAD_SUFFIXES = ("路", "路", "路", "大道", "街", "巷")
COMPOUND_SUFFIXES = ("花园", "小区", "苑", "新村", "雅苑", "家园")
_M_PER_DEG = 111_320.0


@dataclass(frozen=True)
class Density:
    roads_per_street: int = 4       # half east–west, half north–south
    plates_per_side: int = 24
    spacing_m: float = 30.0
    road_gap_m: float = 250.0       # between parallel roads
    compound_share: float = 0.5     # communities with a compound
    buildings: tuple[int, int] = (4, 10)


def _local(lon0: float, lat0: float):  # noqa: ANN202
    """Forward and back between WGS-84 and metres around (lon0, lat0) (equirectangular: fine over a town)."""
    kx = _M_PER_DEG * math.cos(math.radians(lat0))

    def fwd(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([(xy[:, 0] - lon0) * kx, (xy[:, 1] - lat0) * _M_PER_DEG])

    def back(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([xy[:, 0] / kx + lon0, xy[:, 1] / _M_PER_DEG + lat0])

    return fwd, back


def _road_names(districts: list[str], streets_of: dict[str, list[str]], roads_per_street: int,
                rng: np.random.Generator, reserved: set[str]) -> dict[str, list[str]]:
    """Street code → its roads' names, in the order they are laid (even index east–west)."""
    pool = NamePool(rng, reserved=set(reserved))
    taken: set[str] = set()

    def unique(suffix: str) -> str:
        while True:
            name = pool.stem() + suffix
            if name not in taken and name + "道" not in reserved and name not in reserved:
                taken.add(name)
                return name

    out: dict[str, list[str]] = {}
    for d_index, district in enumerate(districts):
        stem = FIRST_SERIES_STEM if d_index == 0 else pool.stem()
        series = [f"{stem}{NUMERALS[i]}路" for i in range(SERIES_LENGTH)]
        taken.update(series)
        for s_index, street in enumerate(streets_of[district]):
            names: list[str] = []
            if s_index == 0:
                names += list(COMMON_ROADS)
            while series and len(names) < max(2, roads_per_street // 2) and s_index > 0:
                names.append(series.pop(0))
            while len(names) < roads_per_street:
                names.append(unique(ROAD_SUFFIXES[int(rng.integers(len(ROAD_SUFFIXES)))]))
            # The series and the common pair run east–west/north–south alternately, so they cross.
            out[street] = names[:roads_per_street]
    return out


def _plates_along(line_m: LineString, centre_m: Point, density: Density) -> list[tuple[int, float, float]]:
    """(number, x, y) in metres: plates centred on the point of the road nearest the street's centre."""
    half = density.plates_per_side * density.spacing_m / 2
    mid = line_m.project(centre_m)
    start = max(0.0, min(mid - half, line_m.length - 2 * half))
    out = []
    for i in range(density.plates_per_side):
        s = start + (i + 0.5) * density.spacing_m
        if s > line_m.length:
            break
        p = line_m.interpolate(s)
        q = line_m.interpolate(min(line_m.length, s + 1.0))
        dx, dy = q.x - p.x, q.y - p.y
        norm = math.hypot(dx, dy) or 1.0
        nx, ny = -dy / norm * 12.0, dx / norm * 12.0  # 12 m either side of the centre line
        out.append((2 * i + 1, p.x + nx, p.y + ny))
        out.append((2 * i + 2, p.x - nx, p.y - ny))
    return out


def address_records(streets: list[tuple[str, str, str]], communities: list[tuple[str, str, str]],
                    rng: np.random.Generator, density: Density = Density(),
                    reserved_names: set[str] | None = None) -> list[dict]:
    """Door plates and buildings for `streets` [(code, district code, geometry text)] and
    `communities` [(code, street code, geometry text)], without region codes (the caller locates
    them). Each record: street_code (of its road), road, house_number, compound, building, lon, lat."""
    districts = sorted({d for _, d, _ in streets})
    streets_of = {d: sorted(c for c, dd, _ in streets if dd == d) for d in districts}
    names = _road_names(districts, streets_of, density.roads_per_street, rng, reserved_names or set())
    geoms = {code: from_text(text) for code, _, text in streets}
    records: list[dict] = []
    plates_by_street: dict[str, list[dict]] = {}
    for code, _district, _ in sorted(streets):
        geom = geoms[code]
        if geom is None or geom.is_empty:
            continue
        centre = geom.representative_point()
        fwd, back = _local(centre.x, centre.y)
        shape_m = shapely.transform(geom, fwd)
        angle = float(rng.uniform(-12, 12))
        per_dir = [0, 0]
        for k, road in enumerate(names[code]):
            direction = k % 2  # 0: east–west, 1: north–south
            offset = (per_dir[direction] - 0.5 * (math.ceil(len(names[code]) / 2) - 1)) * density.road_gap_m
            per_dir[direction] += 1
            reach = 100_000.0
            line = LineString([(-reach, offset), (reach, offset)]) if direction == 0 else \
                LineString([(offset, -reach), (offset, reach)])
            line = rotate(line, angle, origin=(0, 0))
            piece = line.intersection(shape_m)
            parts = [g for g in getattr(piece, "geoms", [piece]) if isinstance(g, LineString) and not g.is_empty]
            if not parts:
                continue
            part = min(parts, key=lambda g: g.distance(Point(0, 0)))
            for number, x, y in _plates_along(part, Point(0, 0), density):
                lon, lat = back(np.array([[x, y]]))[0]
                rec = {"street_code": code, "road": road, "house_number": str(number), "compound": None,
                       "building": None, "lon": float(lon), "lat": float(lat)}
                records.append(rec)
                plates_by_street.setdefault(code, []).append(rec)
    pool = NamePool(rng, reserved=set(reserved_names or ()) | {n for v in names.values() for n in v})
    for code, street, text in sorted(communities):
        if rng.random() >= density.compound_share or not plates_by_street.get(street):
            continue
        geom = from_text(text)
        if geom is None or geom.is_empty:
            continue
        plates = [p for p in plates_by_street[street] if p["building"] is None]
        inside = shapely.contains_xy(geom, np.array([p["lon"] for p in plates]), np.array([p["lat"] for p in plates]))
        gates = [p for p, ok in zip(plates, inside) if ok]
        if not gates:
            continue  # no road through this community: no compound with a gate on it
        gate = gates[int(rng.integers(len(gates)))]
        _, back = _local(gate["lon"], gate["lat"])
        compound = pool.stem() + COMPOUND_SUFFIXES[int(rng.integers(len(COMPOUND_SUFFIXES)))]
        for b in range(1, int(rng.integers(density.buildings[0], density.buildings[1] + 1)) + 1):
            bx, by = 40.0 + ((b - 1) % 3) * 40.0, 40.0 + ((b - 1) // 3) * 40.0  # behind the gate
            lon, lat = back(np.array([[bx, by]]))[0]
            records.append({"street_code": street, "road": gate["road"], "house_number": gate["house_number"],
                            "compound": compound, "building": str(b), "lon": float(lon), "lat": float(lat)})
    return records


def full_text(names: dict[str, str], codes: dict, rec: dict) -> str:
    """区 + 街道 + 社区 + 道路 + 门牌号 + 小区 + 楼栋, as a standard address is written."""
    parts = [names.get(codes.get(lv) or "", "") for lv in ("district", "street", "community")]
    if rec.get("road"):
        parts.append(rec["road"] + (f"{rec['house_number']}号" if rec.get("house_number") else ""))
    if rec.get("compound"):
        parts.append(rec["compound"] + (f"{rec['building']}栋" if rec.get("building") else ""))
    return "".join(parts)[:200]


def generate(session: Session, rng, scale: ScaleSpec, now=None) -> dict:  # noqa: ANN001, ARG001
    """The generator protocol of demo.seed: write the demo city's address base, return a summary."""
    city_code = str(settings.get_settings()["city"]["code"])
    regions = session.execute(select(Region.code, Region.parent_code, Region.name, Region.level, Region.geometry)
                              .where(Region.city_code == city_code)).all()
    names = {r.code: r.name for r in regions}
    streets = [(r.code, r.parent_code, r.geometry) for r in regions if r.level == "street"]
    communities = [(r.code, r.parent_code, r.geometry) for r in regions if r.level == "community"]
    records = address_records(streets, communities, rng, reserved_names=set(names.values()))
    locator = Locator.from_session(session, city_code)
    columns = locator.locate_columns(np.array([r["lon"] for r in records]), np.array([r["lat"] for r in records]))
    rows = []
    for k, rec in enumerate(records):
        codes = {lv: columns[lv][k] for lv in columns}
        if codes.get("street") != rec["street_code"]:
            continue  # the plate fell outside its road's street
        rows.append({
            "city_code": city_code, "district_code": codes.get("district"), "street_code": codes.get("street"),
            "community_code": codes.get("community"), "grid_code": codes.get("grid"),
            "district_name": names.get(codes.get("district")), "street_name": names.get(codes.get("street")),
            "community_name": names.get(codes.get("community")), "road": rec["road"],
            "house_number": rec["house_number"], "compound": rec["compound"], "building": rec["building"],
            "full_text": full_text(names, codes, rec), "lon": round(rec["lon"], 7), "lat": round(rec["lat"], 7),
            "source": SOURCE, "imported_at": now or utcnow(),
        })
    session.execute(delete(StandardAddress).where(StandardAddress.city_code == city_code,
                                                  StandardAddress.source == SOURCE))
    if rows:
        session.execute(insert(StandardAddress), rows)
    bump_address_version(session)
    return {"addresses": len(rows), "roads": len({(r["district_code"], r["road"]) for r in rows}),
            "compounds": len({r["compound"] for r in rows if r["compound"]})}
