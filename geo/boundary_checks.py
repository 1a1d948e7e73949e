"""Judge boundary features: each on its own (code, name, level, geometry) and against the others and
the database (duplicates, parents, code consistency, containment). Every problem is collected, none
stops the rest, so the user fixes a file in one round.

Two property styles are read:
- DataV GeoAtlas: adcode, name, level (province/city/district/street…), parent {"adcode": …} or a
  number, acroutes [… parent];
- our export: code, parent_code, name, level (city/district/street/community/grid), population,
  households.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.errors import GEOSException
from shapely.geometry import shape

from geo.boundary_read import Issue
from geo.crs import transform_geometry
from geo.geometry import POLYGONAL
from store.models import CODE_LENGTH as CODE_LEN
from store.models import LEVELS

LEVEL_ZH = {"city": "市", "district": "区县", "street": "街道/乡镇", "community": "社区/村", "grid": "网格"}
# Share of a child's area that must lie inside its parent. Boundaries from different sources and
# simplification disagree by metres; a child less than 90 % inside is in the wrong place.
MIN_INSIDE = 0.90

_LEVEL_WORDS = {
    "city": "city", "市": "city", "地级市": "city",
    "district": "district", "county": "district", "区县": "district", "区": "district", "县": "district",
    "县级市": "district",
    "street": "street", "town": "street", "township": "street", "街道": "street", "乡镇": "street",
    "镇": "street", "乡": "street", "街道/乡镇": "street", "街道/镇": "street",
    "community": "community", "village": "community", "社区": "community", "村": "community",
    "社区/村": "community",
    "grid": "grid", "网格": "grid",
    "province": "province", "省": "province", "country": "province",
}
_DIGITS = re.compile(r"^\d+$")
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


@dataclass
class Candidate:
    """One feature that passed its own checks, geometry converted to WGS-84."""

    index: int
    code: str
    name: str
    level: str
    parent_code: str | None
    geometry: object  # shapely (Multi)Polygon, WGS-84
    population: int | None = None
    households: int | None = None
    declared_parent: bool = True  # False when the parent was inferred from the code


def expected_level(code: str) -> str | None:
    """Level implied by a code's shape; 'province' for XX0000; None when malformed."""
    if not _DIGITS.match(code):
        return None
    if len(code) == 6:
        if code.endswith("0000"):
            return "province"
        return "city" if code.endswith("00") else "district"
    return {9: "street", 12: "community", 15: "grid"}.get(len(code))


def implied_parent(code: str, level: str) -> str | None:
    """The parent a well-formed code implies (None for a city: our tree starts there)."""
    if level == "city":
        return None
    if level == "district":
        return code[:4] + "00"
    return code[: CODE_LEN[level] - 3]


def _as_code(value) -> str | None:  # noqa: ANN001
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def feature_code(feature) -> str | None:  # noqa: ANN001
    """The code a feature claims, even when the feature is otherwise bad (to name it in messages)."""
    if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
        return None
    props = feature["properties"]
    return _as_code(props.get("code", props.get("adcode")))


def _parent_value(props: dict) -> str | None:
    if "parent_code" in props and props["parent_code"] not in (None, ""):
        return _as_code(props["parent_code"])
    parent = props.get("parent")
    if isinstance(parent, dict):
        parent = parent.get("adcode", parent.get("code"))
    if parent not in (None, ""):
        return _as_code(parent)
    routes = props.get("acroutes")
    if isinstance(routes, list) and routes:
        return _as_code(routes[-1])
    return None


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


def _explain_invalid(geom) -> str:  # noqa: ANN001
    reason = shapely.is_valid_reason(geom)
    m = re.match(r"^(.*?)\[\s*([-\d.eE+]+)\s+([-\d.eE+]+)\s*\]$", reason)
    head, where = (m.group(1).strip(), f"（位于 {float(m.group(2)):.6f}, {float(m.group(3)):.6f}）") if m \
        else (reason, "")
    return f"几何无效：{_INVALID_ZH.get(head, head)}{where}"


def _check_geometry(raw, crs: str, issues: list[str]):  # noqa: ANN001, ANN202
    """Shapely geometry in WGS-84, or None after appending the reasons it is unusable."""
    if raw is None:
        issues.append("缺少几何（geometry 为 null）")
        return None
    if not isinstance(raw, dict) or "type" not in raw:
        issues.append("几何结构不合法：geometry 应为含 type 与 coordinates 的对象")
        return None
    if raw.get("type") not in POLYGONAL:
        issues.append(f"几何类型为 {raw.get('type')}，行政区边界应为 Polygon 或 MultiPolygon")
        return None
    try:
        geom = shape(raw)
    except (GEOSException, ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        issues.append(f"几何结构不合法：坐标无法解析（{type(exc).__name__}）")
        return None
    if geom.is_empty:
        issues.append("几何为空（没有坐标）")
        return None
    xy = shapely.get_coordinates(geom)
    if not np.isfinite(xy).all():
        issues.append("几何含有非数字坐标")
        return None
    bad = (np.abs(xy[:, 0]) > 180) | (np.abs(xy[:, 1]) > 90)
    if bad.any():
        x, y = xy[bad][0]
        issues.append(f"坐标超出经纬度范围（如 {x:g}, {y:g}）：文件可能是投影坐标（米），请先转换为经纬度")
        return None
    if not geom.is_valid:
        issues.append(_explain_invalid(geom))
        return None
    converted = transform_geometry(geom, crs)
    if not converted.is_valid:
        issues.append("坐标转换后几何无效：" + _explain_invalid(converted).removeprefix("几何无效："))
        return None
    return converted


def check_feature(index: int, feature, crs: str) -> tuple[Candidate | None, list[Issue]]:  # noqa: ANN001
    """One feature on its own. Returns a candidate only when it has no issue."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return None, [Issue(index, "不是 GeoJSON Feature 对象")]
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        props = {}
    reasons: list[str] = []

    code = _as_code(props.get("code", props.get("adcode")))
    level = None
    if code is None:
        reasons.append("缺少区划代码（code 或 adcode）")
    else:
        level = expected_level(code)
        if level is None:
            reasons.append(f"区划代码 {code} 格式不正确：应为 6、9、12 或 15 位数字")
        elif level == "province":
            reasons.append(f"{code} 是省级代码；本系统的区划从地级市开始，请导入市及以下的边界")
            level = None
    given_level = props.get("level")
    if level and given_level not in (None, ""):
        mapped = _LEVEL_WORDS.get(str(given_level).strip().lower(), _LEVEL_WORDS.get(str(given_level).strip()))
        if mapped is None:
            reasons.append(f"无法识别的级别 {given_level!r}")
        elif mapped != level:
            reasons.append(f"级别 {given_level!r} 与代码 {code} 不符（按代码应为{LEVEL_ZH[level]}）")

    name = props.get("name")
    name = str(name).strip() if name is not None else ""
    if not name:
        reasons.append("缺少名称（name）")
    elif len(name) > 100:
        reasons.append("名称过长（超过 100 个字）")

    parent = _parent_value(props)
    if parent is not None and expected_level(parent) is None:
        reasons.append(f"上级代码 {parent} 格式不正确")
    population = _count(props, "population", reasons)
    households = _count(props, "households", reasons)
    geom = _check_geometry(feature.get("geometry"), crs, reasons)

    if reasons:
        return None, [Issue(index, r) for r in reasons]
    declared = parent is not None
    if level == "city":
        parent_code = None  # the province (if named) is above our tree
        if parent is not None and parent[:2] != code[:2]:
            return None, [Issue(index, f"代码 {code} 与上级 {parent} 不一致（市代码前两位应与所属省相同）")]
    else:
        parent_code = parent if declared else implied_parent(code, level)
    return Candidate(index, code, name, level, parent_code, geom, population, households, declared), []


def parent_code_issue(c: Candidate, parent_level: str | None) -> str | None:
    """Is the declared parent the one this code belongs under? `parent_level` is the parent's
    level when known (from the file or the database)."""
    want_level = LEVELS[LEVELS.index(c.level) - 1]
    implied = implied_parent(c.code, c.level)
    if parent_level is not None and parent_level != want_level:
        return (f"上级 {c.parent_code} 是{LEVEL_ZH.get(parent_level, parent_level)}，"
                f"{LEVEL_ZH[c.level]}的上级应为{LEVEL_ZH[want_level]}")
    if c.parent_code != implied:
        if c.level == "district":
            return (f"代码 {c.code} 与上级 {c.parent_code} 不一致：该区县代码属于 {implied}，"
                    f"不属于 {c.parent_code}（区县代码前四位应与所属市相同）")
        return (f"代码 {c.code} 与上级 {c.parent_code} 不一致："
                f"{LEVEL_ZH[c.level]}代码应以上级代码开头（按代码应属于 {implied}）")
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
