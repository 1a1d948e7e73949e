"""Service coverage: how far each grid is from the nearest fire station, medical point and shelter, and
where the city should build.

Public functions (the indicator engine and the 应急指挥 page read these):
- `grid_coverage(session, city_code)` → one row per grid: grid_code, name, lon, lat (grid centroid),
  district_code, street_code, community_code, population, fire_km / medical_km / shelter_km
  (great-circle distance from the centroid to the nearest facility of the kind), fire_ok / medical_ok /
  shelter_ok (within the `[emergency]` *_radius_km norm), covered (all three), street_population,
  street_shelter_capacity and shelter_capacity_per_resident (shelter places in the grid's street per
  resident of that street). A grid that is not `covered` is a coverage gap.
- `region_coverage(session, city_code, level="district")` → one row per district (or street, community,
  grid): grids, grids_covered, share_grids_covered, population, population_covered,
  share_population_covered, share_fire / share_medical / share_shelter (population share within each
  radius), shelter_capacity, shelter_capacity_per_resident (shelter places are counted per street, so a
  community or grid has its street's figures).

Facilities count whatever their live status except 停用 (out_of_service): coverage is a planning measure,
and a station whose engines are out on a call still covers its area. Distances are from the grid's
centroid (label point), so a large rural grid can be partly covered though reported as a gap.

The distance computation is cached per process, keyed by a hash of the grid and facility data it is
computed from, so a repeated call on unchanged data costs two small reads.
"""
from __future__ import annotations

import threading

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from emergency import catalog
from emergency.nearest import min_distance_km
from store import data_version
from store.models import Region, Resource
from store.frames import rows_frame

_KINDS = {"fire": catalog.FIRE_STATION, "medical": catalog.MEDICAL, "shelter": catalog.SHELTER}
# Levels region_coverage sums grids to.
LEVELS = ("district", "street", "community", "grid")
_cache: dict[str, pd.DataFrame] = {}
_cache_lock = threading.Lock()
_CACHE_MAX = 8


def _grids(session: Session, city_code: str) -> pd.DataFrame:
    """The city's grids with their community, street and district, read from the hierarchy (grid →
    community → street → district parents) rather than cut out of the codes."""
    community, street = aliased(Region), aliased(Region)
    rows = session.execute(select(Region.code, Region.name, Region.centroid_lon, Region.centroid_lat, Region.population,
                                  street.parent_code, street.code, community.code)
                           .outerjoin(community, community.code == Region.parent_code)
                           .outerjoin(street, street.code == community.parent_code)
                           .where(Region.city_code == city_code, Region.level == "grid")
                           .order_by(Region.code)).all()
    frame = rows_frame(rows, columns=["grid_code", "name", "lon", "lat", "population", "district_code", "street_code",
                                      "community_code"])
    frame["population"] = frame["population"].fillna(0).astype(np.int64)
    return frame


def _facilities(session: Session, city_code: str) -> pd.DataFrame:
    rows = session.execute(select(Resource.id, Resource.kind, Resource.lon, Resource.lat, Resource.capacity,
                                  Resource.street_code)
                           .where(Resource.city_code == city_code, Resource.kind.in_(list(_KINDS.values())),
                                  Resource.status != "out_of_service")
                           .order_by(Resource.id)).all()
    return rows_frame(rows, columns=["id", "kind", "lon", "lat", "capacity", "street_code"])


def _street_population(session: Session, city_code: str, grids: pd.DataFrame) -> pd.Series:
    """Street residents: the street's own population when recorded, else the sum of its grids."""
    from_grids = grids.groupby("street_code")["population"].sum()
    rows = session.execute(select(Region.code, Region.population)
                           .where(Region.city_code == city_code, Region.level == "street")).all()
    recorded = pd.Series({c: p for c, p in rows if p is not None}, dtype="float64")
    return recorded.combine_first(from_grids.astype("float64"))


def grid_coverage(session: Session, city_code: str) -> pd.DataFrame:
    # Kept per city until a write to the hierarchy or the emergency registry moves their data versions
    # (store.data_version): a district's first view then reads two version rows, not the city's grids.
    # A transaction that has itself written either (not committed, so not yet a new version) computes
    # afresh and keeps nothing.
    radii = {k: catalog.radius_km(kind) for k, kind in _KINDS.items()}
    domains = ("regions", "emergency")
    versions = data_version.current(session, domains)  # first: its read flushes the session's own writes
    key = None
    if not data_version.written(session) & set(domains):
        key = "|".join([str(session.get_bind().url), city_code, repr(sorted(radii.items())),
                        repr(sorted(versions.items()))])
        with _cache_lock:
            if key in _cache:
                return _cache[key].copy()
    grids = _grids(session, city_code)
    facilities = _facilities(session, city_code)
    street_pop = _street_population(session, city_code, grids)
    out = grids.copy()
    lons, lats = out["lon"].to_numpy(dtype=float), out["lat"].to_numpy(dtype=float)
    for short, kind in _KINDS.items():
        fac = facilities[facilities["kind"] == kind]
        dist, idx = min_distance_km(lons, lats, fac["lon"].to_numpy(), fac["lat"].to_numpy())
        out[f"{short}_km"] = dist
        out[f"{short}_id"] = np.where(idx >= 0, fac["id"].to_numpy(dtype=object)[np.maximum(idx, 0)], None) \
            if len(fac) else None
        out[f"{short}_ok"] = dist <= radii[short]
    out["covered"] = out["fire_ok"] & out["medical_ok"] & out["shelter_ok"]
    shelters = facilities[facilities["kind"] == catalog.SHELTER]
    capacity = shelters.groupby("street_code")["capacity"].sum()
    out["street_population"] = out["street_code"].map(street_pop).fillna(0).astype(np.int64)
    out["street_shelter_capacity"] = out["street_code"].map(capacity).fillna(0).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["shelter_capacity_per_resident"] = np.where(
            out["street_population"] > 0, out["street_shelter_capacity"] / out["street_population"], np.nan)
    if key is not None:
        with _cache_lock:
            if len(_cache) >= _CACHE_MAX:
                _cache.pop(next(iter(_cache)))
            _cache[key] = out
    return out.copy()


def region_coverage(session: Session, city_code: str, level: str = "district") -> pd.DataFrame:
    if level not in LEVELS:
        raise ValueError("覆盖率只按区县、街道、社区或网格汇总")
    grids = grid_coverage(session, city_code)
    cols = ["region_code", "name", "grids", "grids_covered", "share_grids_covered", "population",
            "population_covered", "share_population_covered", "share_fire", "share_medical", "share_shelter",
            "shelter_capacity", "shelter_capacity_per_resident"]
    if grids.empty:
        return pd.DataFrame(columns=cols)
    key = f"{level}_code"
    g = grids.assign(
        pop_covered=grids["population"] * grids["covered"],
        pop_fire=grids["population"] * grids["fire_ok"],
        pop_medical=grids["population"] * grids["medical_ok"],
        pop_shelter=grids["population"] * grids["shelter_ok"],
    )
    agg = g.groupby(key).agg(grids=("grid_code", "size"), grids_covered=("covered", "sum"),
                             population=("population", "sum"), population_covered=("pop_covered", "sum"),
                             pop_fire=("pop_fire", "sum"), pop_medical=("pop_medical", "sum"),
                             pop_shelter=("pop_shelter", "sum")).reset_index().rename(columns={key: "region_code"})
    street_figures = ["street_shelter_capacity", "street_population"]
    if level in ("district", "street"):  # the sum over the region's streets
        streets = grids.drop_duplicates("street_code")
        cap = streets.groupby(key)[street_figures].sum()
    else:  # a community or grid lies in one street: its street's figures
        cap = grids.groupby(key)[street_figures].first()
    cap.index.name = "region_code"
    agg = agg.join(cap, on="region_code")
    names = dict(session.execute(select(Region.code, Region.name).where(Region.code.in_(list(agg["region_code"])))).all())
    agg["name"] = agg["region_code"].map(names).fillna(agg["region_code"])
    pop = agg["population"].where(agg["population"] > 0)
    agg["share_grids_covered"] = agg["grids_covered"] / agg["grids"]
    agg["share_population_covered"] = agg["population_covered"] / pop
    for short in ("fire", "medical", "shelter"):
        agg[f"share_{short}"] = agg[f"pop_{short}"] / pop
    agg["shelter_capacity"] = agg["street_shelter_capacity"].astype(np.int64)
    agg["shelter_capacity_per_resident"] = agg["street_shelter_capacity"] / agg["street_population"].where(
        agg["street_population"] > 0)
    return agg[cols].sort_values("region_code").reset_index(drop=True)
