"""Repair a boundary polygon, and say what was done — or refuse when a repair would change it.

Files from GIS offices and DataV GeoAtlas often carry tiny defects: a ring crossing itself near a
vertex, a repeated vertex, a hair-thin spike. Refusing the whole file for them means the city cannot
start, so each defect is repaired and listed (feature, code, what, where, area change in m² and %):

- consecutive repeated vertices are removed;
- an invalid polygon is rebuilt with GEOS MakeValid (the "structure" method: rings are read as the
  outline of an area, as a person drawing them meant) and only its polygonal parts are kept;
- slivers — polygon parts and holes under SLIVER_M2 — are removed (no boundary is surveyed that fine).

A repair is refused — the feature must be fixed in a GIS program — when its area changes by more
than MAX_AREA_CHANGE (0.1 %), when nothing polygonal is left, or when a part of the original larger
than a sliver disappears. A bow-tie drawn across a grid is such a case: which of its halves was meant
cannot be known.

Areas are measured in metres on the China Albers equal-area projection (geo.geometry). The area of
an invalid polygon is read as GEOS does (each ring's shoelace area), which is what its drawing says.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import shapely

from geo.geometry import POLYGONAL, polygonal, to_albers

MAX_AREA_CHANGE = 0.001  # 0.1 %: above it a repair is refused
SLIVER_M2 = 10.0  # polygon parts and holes smaller than this (about 3 m × 3 m) are slivers

_INVALID_ZH = {
    "Self-intersection": "边界自相交",
    "Ring Self-intersection": "边界环自相交",
    "Too few points in geometry component": "多边形的点数过少",
    "Hole lies outside shell": "内洞位于外环之外",
    "Nested holes": "内洞嵌套",
    "Interior is disconnected": "内部不连通（内洞把多边形切开）",
    "Nested shells": "多个外环相互嵌套",
    "Duplicate Rings": "存在重复的环",
    "Invalid Coordinate": "坐标无效（非数字）",
    "Ring is not closed": "环没有闭合（首尾点不同）",
}


def explain_invalid(geom) -> tuple[str, tuple[float, float] | None]:  # noqa: ANN001
    """(Chinese reason, (lon, lat) of the defect or None) for an invalid geometry."""
    reason = shapely.is_valid_reason(geom)
    m = re.match(r"^(.*?)\[\s*([-\d.eE+]+)\s+([-\d.eE+]+)\s*\]$", reason)
    if m:
        return _INVALID_ZH.get(m.group(1).strip(), m.group(1).strip()), (float(m.group(2)), float(m.group(3)))
    return _INVALID_ZH.get(reason, reason), None


def where_text(point: tuple[float, float] | None) -> str:
    return f"（位于 {point[0]:.6f}, {point[1]:.6f}）" if point else ""


@dataclass
class Step:
    """One defect found in a feature and what was done about it."""

    problem: str
    action: str
    where: tuple[float, float] | None = None

    def text(self) -> str:
        return f"{self.problem}{where_text(self.where)}，{self.action}"


@dataclass
class Outcome:
    geometry: object | None  # the repaired (or untouched) WGS-84 geometry; None when refused
    steps: list[Step] = field(default_factory=list)
    area_before_m2: float = 0.0
    area_after_m2: float = 0.0
    refusal: str | None = None  # Chinese reason when the feature cannot be repaired honestly

    @property
    def changed(self) -> bool:
        return bool(self.steps)

    @property
    def area_change_m2(self) -> float:
        return self.area_after_m2 - self.area_before_m2

    @property
    def area_change_share(self) -> float:
        return abs(self.area_change_m2) / self.area_before_m2 if self.area_before_m2 > 0 else (
            0.0 if self.area_after_m2 == 0 else 1.0)

    def change_text(self) -> str:
        if self.area_before_m2 < SLIVER_M2:  # a bow-tie's halves cancel out: no percentage means anything
            return f"面积由约 {self.area_before_m2:,.1f} m² 变为 {self.area_after_m2:,.1f} m²"
        sign = "+" if self.area_change_m2 >= 0 else "−"
        pct = abs(self.area_change_m2) / self.area_before_m2 * 100
        share = "<0.0001" if 0 < pct < 0.0001 else f"{pct:.4f}"
        return f"面积变化 {sign}{abs(self.area_change_m2):,.1f} m²（{sign}{share}%）"


def _area_m2(geom) -> float:  # noqa: ANN001
    return float(shapely.area(to_albers(geom)))


def _drop_slivers(geom) -> tuple[object, list[Step]]:  # noqa: ANN001
    """Remove polygon parts and holes below SLIVER_M2, one step per kind with the first location."""
    steps: list[Step] = []
    kept_parts = []
    dropped_parts: list[object] = []
    dropped_holes: list[object] = []
    for part in shapely.get_parts(geom):
        if _area_m2(part) < SLIVER_M2:
            dropped_parts.append(part)
            continue
        holes = []
        for ring in part.interiors:
            hole = shapely.Polygon(ring)
            if _area_m2(hole) < SLIVER_M2:
                dropped_holes.append(hole)
            else:
                holes.append(ring)
        kept_parts.append(shapely.Polygon(part.exterior, holes) if len(holes) != len(part.interiors) else part)
    if dropped_parts:
        p = dropped_parts[0].representative_point()
        steps.append(Step(f"碎片多边形 {len(dropped_parts)} 个（每个小于 {SLIVER_M2:g} m²）", "已删除", (p.x, p.y)))
    if dropped_holes:
        p = dropped_holes[0].representative_point()
        steps.append(Step(f"碎片内洞 {len(dropped_holes)} 个（每个小于 {SLIVER_M2:g} m²）", "已删除", (p.x, p.y)))
    if not steps:
        return geom, steps
    if not kept_parts:
        return shapely.Polygon(), steps
    return (kept_parts[0] if len(kept_parts) == 1 else shapely.MultiPolygon(kept_parts)), steps


def _lost_part(original, repaired) -> tuple[float, tuple[float, float]] | None:  # noqa: ANN001
    """(area m², location) of an original part larger than a sliver that the repair lost (less than
    half of it is still covered), or None."""
    for part in shapely.get_parts(original):
        area = _area_m2(part)
        if area < SLIVER_M2:
            continue
        hull = part if part.is_valid else shapely.make_valid(part)
        kept = _area_m2(shapely.intersection(hull, repaired)) if not hull.is_empty else 0.0
        own = _area_m2(hull) if not hull.is_empty else 0.0
        if own >= SLIVER_M2 and kept < own * 0.5:
            p = part.envelope.centroid
            return own, (p.x, p.y)
    return None


def _first_repeat(geom) -> tuple[float, float] | None:  # noqa: ANN001
    """Where the first repeated vertex is (consecutive equal points within one ring)."""
    for ring in shapely.get_rings(shapely.get_parts(geom)):
        xy = shapely.get_coordinates(ring)
        same = (xy[1:] == xy[:-1]).all(axis=1)
        if same.any():
            x, y = xy[int(same.argmax())]
            return float(x), float(y)
    return None


def repair(geom) -> Outcome:  # noqa: ANN001 - a shapely (Multi)Polygon in WGS-84
    """Repair `geom` as described above. The outcome says every step, the area before and after, and
    a refusal when the repair would not be honest."""
    before = _area_m2(geom)
    out = Outcome(geom, area_before_m2=before, area_after_m2=before)
    g = geom

    n_before = int(shapely.get_num_coordinates(g))
    deduped = shapely.remove_repeated_points(g, tolerance=0.0)
    removed = n_before - int(shapely.get_num_coordinates(deduped))
    if removed > 0:
        where = _first_repeat(g)
        out.steps.append(Step(f"重复顶点 {removed} 个", "已删除", where))
        g = deduped

    if not g.is_valid:
        reason, where = explain_invalid(g)
        fixed = polygonal(shapely.make_valid(g, method="structure", keep_collapsed=False))
        out.steps.append(Step(reason, "已按边界走向重建为有效多边形", where))
        g = fixed

    if not g.is_empty:
        g, sliver_steps = _drop_slivers(g)
        out.steps.extend(sliver_steps)

    if not out.steps:
        return out
    out.area_after_m2 = _area_m2(g) if not g.is_empty else 0.0
    if g.is_empty or g.geom_type not in POLYGONAL:
        what = "；".join(s.problem + where_text(s.where) for s in out.steps)
        out.geometry, out.refusal = None, f"{what}：修复后没有剩下任何面，无法修复，请在 GIS 软件中修正"
        return out
    lost = _lost_part(geom, g)
    if lost is not None:
        out.geometry = None
        out.refusal = (f"几何无效且无法如实修复：修复会丢掉约 {lost[0]:,.0f} m² 的一部分{where_text(lost[1])}，"
                       "请在 GIS 软件中修正")
        return out
    if out.area_change_share > MAX_AREA_CHANGE:
        what = "；".join(s.problem + where_text(s.where) for s in out.steps)
        out.geometry = None
        out.refusal = (f"{what}：自动修复会使{out.change_text()}，超过 {MAX_AREA_CHANGE:.1%} 的上限，"
                       "无法如实修复，请在 GIS 软件中修正")
        return out
    out.geometry = g
    return out
