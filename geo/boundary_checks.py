"""Judge boundary features: each on its own (code, name, level, geometry — repaired where that is
honest, see geo.boundary_repair) and against the others and the database (duplicates, parents, code
consistency, containment, overlaps and gaps between siblings). Every problem is collected, none stops
the rest, so the user fixes a file in one round.

Features arrive from geo.boundary_read with canonical attribute keys (code, name, parent, level,
population, households), whatever the file called them (DataV's adcode/parent/acroutes, our own
code/parent_code, or a GIS office's fields mapped by --code-field …).

Tolerances, stated once:
- a child must lie at least MIN_INSIDE (90 %) inside its parent: sources and simplification disagree
  by metres, but a child less than 90 % inside is in the wrong place (an error);
- overlaps between siblings and gaps between the children and their parent are reported from
  SET_TOLERANCE_M2 (1,000 m²) up, with area and location (a warning: the import goes ahead).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from geo.boundary_read import FieldMap, Issue, SourceFeature
from geo.boundary_repair import Outcome, repair, where_text
from geo.crs import out_of_china, transform_geometry
from geo.geometry import POLYGONAL, to_albers
from store.region_codes import LEVEL_NAMES_ZH, level_or_none, parent_of

MIN_INSIDE = 0.90
SET_TOLERANCE_M2 = 1_000.0
MAX_LISTED = 20  # set findings listed per parent; the rest are counted

_LEVEL_WORDS = {
    "city": "city", "市": "city", "地级市": "city",
    "district": "district", "county": "district", "区县": "district", "区": "district", "县": "district",
    "县级市": "district",
    "street": "street", "town": "street", "township": "street", "街道": "street", "乡镇": "street",
    "镇": "street", "乡": "street", "街道/乡镇": "street", "街道/镇": "street",
    "community": "community", "village": "community", "社区": "community", "村": "community",
    "社区/村": "community",
    "grid": "grid", "网格": "grid",
    "province": "province", "省": "province", "自治区": "province", "直辖市": "province",
}


@dataclass
class Candidate:
    """One feature that passed its own checks, geometry converted to WGS-84 (and repaired)."""

    index: int
    code: str
    name: str
    level: str
    parent_code: str | None
    geometry: object  # shapely (Multi)Polygon, WGS-84
    population: int | None = None
    households: int | None = None
    declared_parent: bool = True  # False when the parent was inferred from the code
    parent_optional: bool = False  # a city's province: used when present, not required


@dataclass
class Repair:
    """A feature repaired on import, as the report lists it."""

    index: int
    code: str | None
    name: str
    outcome: Outcome

    def line(self) -> str:
        who = f"第{self.index}个要素（{self.code or '无代码'} {self.name}）".replace(" ）", "）")
        steps = "；".join(step.text() for step in self.outcome.steps)
        return f"{who}：{steps}；{self.outcome.change_text()}"


def _as_code(value) -> str | None:  # noqa: ANN001
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return str(value)
        value = int(value)
    text = str(value).strip()
    return text or None


def feature_code(feature: SourceFeature) -> str | None:
    """The code a feature claims, even when the feature is otherwise bad (to name it in messages)."""
    return _as_code(feature.props.get("code"))


def _count(props: dict, key: str, issues: list[str]) -> int | None:
    value = props.get(key)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number < 0 or not number.is_integer():
        label = {"population": "人口数", "households": "户数"}[key]
        issues.append(f"{label}（{key}）应为非负整数，实际为 {value!r}")
        return None
    return int(number)


def _polygonal_input(geom):  # noqa: ANN001, ANN202
    """A GeometryCollection of polygons (KML MultiGeometry) as a MultiPolygon; anything else as is."""
    if geom.geom_type == "GeometryCollection":
        parts = [p for p in shapely.get_parts(geom) if not p.is_empty]
        if parts and all(p.geom_type in POLYGONAL for p in parts):
            flat = [q for p in parts for q in shapely.get_parts(p)]
            return shapely.MultiPolygon(flat)
    return geom


def _check_geometry(feature: SourceFeature, crs: str, geographic: bool, issues: list[str]) -> tuple[object, Outcome | None]:
    """(WGS-84 geometry or None after appending the reasons it is unusable, the repair outcome)."""
    if feature.problem:
        issues.append(feature.problem)
        return None, None
    geom = feature.geometry
    if geom is None:
        issues.append("缺少几何（geometry 为 null）")
        return None, None
    geom = _polygonal_input(geom)
    if geom.geom_type not in POLYGONAL:
        issues.append(f"几何类型为 {geom.geom_type}，行政区边界应为 Polygon 或 MultiPolygon")
        return None, None
    if geom.is_empty:
        issues.append("几何为空（没有坐标）")
        return None, None
    xy = shapely.get_coordinates(geom)
    if not np.isfinite(xy).all():
        issues.append("几何含有非数字坐标")
        return None, None
    if geographic:
        bad = (np.abs(xy[:, 0]) > 180) | (np.abs(xy[:, 1]) > 90)
        if bad.any():
            x, y = xy[bad][0]
            issues.append(f"坐标超出经纬度范围（如 {x:g}, {y:g}）：文件可能是投影坐标（米），"
                          "请用 --crs 指定投影坐标系，如 EPSG:4546（CGCS2000 3度带 中央经线 111°E）")
            return None, None
    converted = transform_geometry(geom, crs)
    cxy = shapely.get_coordinates(converted)
    if not np.isfinite(cxy).all():
        issues.append("坐标无法转换为经纬度：请检查坐标系")
        return None, None
    outside = out_of_china(cxy[:, 0], cxy[:, 1])
    if outside.mean() > 0.5:
        x, y = cxy[outside][0]
        issues.append(f"位于中国境外（如 {x:.6f}, {y:.6f}）：坐标系可能不对"
                      "（把投影坐标当成经纬度、经纬度顺序颠倒，或 --crs 指定错误）")
        return None, None
    outcome = repair(converted)
    if outcome.refusal:
        issues.append(outcome.refusal)
        return None, outcome
    return outcome.geometry, outcome


def projected_as_degrees(features: list[SourceFeature]) -> Issue | None:
    """One file-level issue when every feature's coordinates lie beyond longitude/latitude range: a
    projected file (metres) read as degrees, typically a Shapefile without its .prj."""
    shapes = [f.geometry for f in features if f.geometry is not None and not f.geometry.is_empty]
    if not shapes:
        return None
    bounds = shapely.bounds(np.asarray(shapes, dtype=object))
    beyond = (np.abs(bounds[:, [0, 2]]) > 180).any(axis=1) | (np.abs(bounds[:, [1, 3]]) > 90).any(axis=1)
    if not beyond.all():
        return None
    x, y = bounds[0, 0], bounds[0, 1]
    return Issue(None, f"全部 {len(shapes)} 个要素的坐标都超出经纬度范围（如 {x:.0f}, {y:.0f}）：文件是投影坐标（米），"
                       "请用 --crs 指定投影坐标系，如 EPSG:4546（CGCS2000 3度带 中央经线 111°E）")


def check_feature(feature: SourceFeature, crs: str, *, geographic: bool = True, fields: FieldMap | None = None
                  ) -> tuple[Candidate | None, list[Issue], Repair | None]:
    """One feature on its own. Returns a candidate only when it has no issue, and the repair made
    to its geometry (if any). `geographic`: the file's coordinates are longitude/latitude."""
    index, props = feature.index, feature.props
    fields = fields or FieldMap()
    reasons: list[str] = []

    code = _as_code(props.get("code"))
    level = None
    if code is None:
        reasons.append(f"缺少区划代码（{fields.code or 'code 或 adcode'}）")
    else:
        level = level_or_none(code)
        if level is None:
            reasons.append(f"区划代码 {code} 格式不正确：应为 6、9、12 或 15 位数字")
    given_level = props.get("level")
    if level and given_level not in (None, ""):
        word = str(given_level).strip()
        mapped = _LEVEL_WORDS.get(word.lower(), _LEVEL_WORDS.get(word))
        if mapped is None:
            reasons.append(f"无法识别的级别 {given_level!r}")
        elif mapped != level:
            reasons.append(f"级别 {given_level!r} 与代码 {code} 不符（按代码应为{LEVEL_NAMES_ZH[level]}）")

    name = props.get("name")
    name = str(name).strip() if name is not None else ""
    if not name:
        reasons.append(f"缺少名称（{fields.name or 'name'}）")
    elif len(name) > 100:
        reasons.append("名称过长（超过 100 个字）")

    parent = _as_code(props.get("parent"))
    if parent is not None and level_or_none(parent) is None and parent != "100000":
        reasons.append(f"上级代码 {parent} 格式不正确")
    population = _count(props, "population", reasons)
    households = _count(props, "households", reasons)
    geom, outcome = _check_geometry(feature, crs, geographic, reasons)
    fix = Repair(index, code, name, outcome) if outcome is not None and outcome.changed and not outcome.refusal \
        else None

    if reasons:
        return None, [Issue(index, r) for r in reasons], None
    declared = parent is not None
    optional = False
    if level == "province":
        parent_code = None  # the top of our tree (DataV names 100000, the country)
    elif level == "city":
        # The province is used when it is loaded (in this file or the database), not required.
        if parent is not None and parent != parent_of(code):
            return None, [Issue(index, f"代码 {code} 与上级 {parent} 不一致（市的上级应为所属省 {parent_of(code)}，"
                                       "市代码前两位应与所属省相同）")], None
        parent_code, optional = parent_of(code), True
    else:
        parent_code = parent if declared else parent_of(code)
    return Candidate(index, code, name, level, parent_code, geom, population, households, declared, optional), [], fix


def parent_code_issue(c: Candidate, parent_level: str | None) -> str | None:
    """Is the declared parent the one this code belongs under? `parent_level` is the parent's
    level when known (from the file or the database)."""
    implied = parent_of(c.code)
    want_level = level_or_none(implied)
    if parent_level is not None and parent_level != want_level:
        return (f"上级 {c.parent_code} 是{LEVEL_NAMES_ZH.get(parent_level, parent_level)}，"
                f"{LEVEL_NAMES_ZH[c.level]}的上级应为{LEVEL_NAMES_ZH[want_level]}")
    if c.parent_code != implied:
        if c.level == "district":
            return (f"代码 {c.code} 与上级 {c.parent_code} 不一致：该区县代码属于 {implied}，"
                    f"不属于 {c.parent_code}（区县代码前四位应与所属市相同）")
        return (f"代码 {c.code} 与上级 {c.parent_code} 不一致："
                f"{LEVEL_NAMES_ZH[c.level]}代码应以上级代码开头（按代码应属于 {implied}）")
    return None


def inside_shares(children: list, parents: list) -> np.ndarray:
    """Share of each child's area inside the matching parent. Computed in degrees: both shapes sit at
    the same latitude, so the cos(latitude) scale cancels out of the ratio."""
    ch = np.asarray(children, dtype=object)
    pa = np.asarray(parents, dtype=object)
    inter = shapely.area(shapely.intersection(ch, pa))
    area = shapely.area(ch)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(area > 0, inter / area, 1.0)


def _where(geom) -> str:  # noqa: ANN001
    p = geom.representative_point()
    return where_text((p.x, p.y))


def sibling_overlaps(siblings: list[Candidate]) -> list[Issue]:
    """Overlaps of at least SET_TOLERANCE_M2 between siblings (same parent), one warning per pair on
    the later feature, with the overlap's area and a point inside it."""
    if len(siblings) < 2:
        return []
    geoms = np.asarray([c.geometry for c in siblings], dtype=object)
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    out: list[Issue] = []
    for i, j in zip(left[keep], right[keep]):
        inter = shapely.intersection(geoms[i], geoms[j])
        if inter.is_empty:
            continue
        area = float(shapely.area(to_albers(inter)))
        if area >= SET_TOLERANCE_M2:
            a, b = siblings[int(i)], siblings[int(j)]
            out.append(Issue(b.index, f"与第{a.index}个要素（{a.code} {a.name}）重叠 {area:,.0f} m²{_where(inter)}"))
    return out


def children_gaps(parent_index: int | None, parent_code: str, parent_geom, children: list) -> list[Issue]:  # noqa: ANN001
    """Parts of the parent covered by none of its children, from SET_TOLERANCE_M2 up (a warning on the
    parent's feature, or the file when the parent is already in the database)."""
    if parent_geom is None or not children:
        return []
    rest = shapely.difference(parent_geom, shapely.union_all(np.asarray(children, dtype=object)))
    if rest.is_empty:
        return []
    parts = [p for p in shapely.get_parts(rest) if p.geom_type == "Polygon"]
    areas = shapely.area(to_albers(np.asarray(parts, dtype=object))) if parts else np.array([])
    big = sorted(((float(a), p) for a, p in zip(areas, parts) if a >= SET_TOLERANCE_M2), key=lambda t: -t[0])
    out = [Issue(parent_index, f"{parent_code} 内有 {area:,.0f} m² 不属于任何下级（空隙）{_where(p)}")
           for area, p in big[:MAX_LISTED]]
    if len(big) > MAX_LISTED:
        out.append(Issue(parent_index, f"{parent_code} 内另有 {len(big) - MAX_LISTED} 处空隙未逐一列出"))
    return out
