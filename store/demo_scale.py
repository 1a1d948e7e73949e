"""How big a generated city is. Every domain generator reads its sizes from one ScaleSpec."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScaleSpec:
    name: str
    streets_per_district: int      # streets/towns per district (approximate; scaled by district area)
    communities_per_street: int    # communities/villages per street
    grids_per_community: int       # grids per community (≈300–500 households each)
    events_per_year: int           # grid events over the 12 months before the anchor date
    sensors_air: int
    sensors_water: int
    sensors_noise: int
    sensors_hydro: int
    sensors_iot: int
    reading_days: int              # days of hourly readings before the anchor date
    resources: int                 # emergency resources of all kinds
    cities: int = 1                # cities generated, each at the sizes above (demo.cities: >1 = a province)


SCALES = {
    "demo": ScaleSpec("demo", 6, 5, 4, 24_000, 15, 10, 10, 8, 20, 60, 150),
    "tenth": ScaleSpec("tenth", 10, 8, 8, 100_000, 30, 20, 20, 15, 115, 365, 300),
    "city": ScaleSpec("city", 20, 10, 10, 1_000_000, 300, 200, 200, 150, 1150, 365, 3000),
    # Five cities at city size under one province: ≈5M cases a year, ≈52k grids, 10k stations (#24). Their
    # hourly readings cover the last 61 days (the benchmark's month, October, whole), not a year: a year of
    # 10k stations is ≈120M hourly rows (≈25 GB on PostgreSQL with their indexes), and a first province
    # seed with a quarter of readings filled the benchmark machine's disk while deriving the rollups.
    "province": ScaleSpec("province", 20, 10, 10, 1_000_000, 300, 200, 200, 150, 1150, 61, 3000, cities=5),
}


def get_scale(name: str) -> ScaleSpec:
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"未知的规模 {name!r}，可选：{', '.join(SCALES)}") from None
