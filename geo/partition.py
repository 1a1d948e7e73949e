"""Cut a polygon into n plausible pieces: seeded random points, a couple of Lloyd relaxation steps
(so pieces are of similar size, as real grids are drawn to hold similar numbers of households), then
Voronoi cells clipped to the polygon. The pieces tile the polygon exactly, so every child lies
inside its parent and the children's areas add up to the parent's.
"""
from __future__ import annotations

import numpy as np
import shapely

from geo.geometry import polygonal

LLOYD_STEPS = 2


def random_points_in(geom, n: int, rng: np.random.Generator) -> np.ndarray:  # noqa: ANN001
    """n uniform points inside `geom` (rejection sampling over its bounding box)."""
    minx, miny, maxx, maxy = geom.bounds
    shapely.prepare(geom)
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        batch = max(64, 4 * (n - have))
        xs = rng.uniform(minx, maxx, batch)
        ys = rng.uniform(miny, maxy, batch)
        keep = shapely.contains_xy(geom, xs, ys)
        pts = np.column_stack([xs[keep], ys[keep]])
        out.append(pts)
        have += len(pts)
    return np.concatenate(out)[:n]


def _cells(geom, seeds: np.ndarray) -> list:  # noqa: ANN001
    cells = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=geom, ordered=True)
    clipped = shapely.intersection(np.asarray(shapely.get_parts(cells), dtype=object), geom)
    return [polygonal(c) for c in clipped]


def _inside_point(cell, fallback: np.ndarray) -> np.ndarray:  # noqa: ANN001
    if cell.is_empty:
        return fallback
    c = cell.centroid
    if not cell.contains(c):
        c = cell.representative_point()
    return np.array([c.x, c.y])


def partition(geom, n: int, rng: np.random.Generator, lloyd_steps: int = LLOYD_STEPS) -> list:  # noqa: ANN001
    """n non-empty polygonal pieces of `geom`, numbered in reading order (north-west first)."""
    if n <= 1:
        return [geom]
    seeds = random_points_in(geom, n, rng)
    cells = _cells(geom, seeds)
    for _ in range(lloyd_steps):
        seeds = np.array([_inside_point(c, s) for c, s in zip(cells, seeds)])
        seeds = seeds + rng.normal(0.0, 1e-9, seeds.shape)  # never two identical seeds
        cells = _cells(geom, seeds)
    cells = [c for c in cells if not c.is_empty]
    # Reading order: rows of roughly equal latitude from the north, west to east within a row.
    height = (geom.bounds[3] - geom.bounds[1]) or 1.0
    band = height / max(1.0, np.sqrt(len(cells)))
    keys = [(-int((c.centroid.y - geom.bounds[1]) // band), c.centroid.x) for c in cells]
    return [c for _, c in sorted(zip(keys, cells), key=lambda kc: kc[0])]
