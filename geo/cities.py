"""The cities of a deployment: onboarding a city from its own boundary files, its province, and the
settings that vary per city (centre, population, routing rules file, working calendar).

One database may hold several cities under their provinces (广东: 茂名、揭阳、阳江 …). config.toml's
[city].code names only the default city; everything else about a city is its `cities` row, and a city
without a row falls back to config.toml (a database built before cities had rows).

Onboarding is one transaction: the province region (created when missing, its outline the union of its
cities), each boundary file in order (the city's own outline, its districts, later streets,
communities or grids — any format geo.boundary_read takes), then the city row with its centre taken
from the imported boundary. Any file that fails leaves the database exactly as it was.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import settings
from geo.boundaries import DERIVED_PROVINCE, ImportReport, import_boundaries
from geo.boundary_read import FieldMap
from store.models import City, Region
from store.region_codes import LEVEL_NAMES_ZH, LEVELS, ancestor_at, code_inside, level_or_none

# GB/T 2260 province-level divisions, so `city add` needs no --province for a known code.
PROVINCE_NAMES = {
    "110000": "北京市", "120000": "天津市", "130000": "河北省", "140000": "山西省", "150000": "内蒙古自治区",
    "210000": "辽宁省", "220000": "吉林省", "230000": "黑龙江省", "310000": "上海市", "320000": "江苏省",
    "330000": "浙江省", "340000": "安徽省", "350000": "福建省", "360000": "江西省", "370000": "山东省",
    "410000": "河南省", "420000": "湖北省", "430000": "湖南省", "440000": "广东省", "450000": "广西壮族自治区",
    "460000": "海南省", "500000": "重庆市", "510000": "四川省", "520000": "贵州省", "530000": "云南省",
    "540000": "西藏自治区", "610000": "陕西省", "620000": "甘肃省", "630000": "青海省", "640000": "宁夏回族自治区",
    "650000": "新疆维吾尔自治区", "710000": "台湾省", "810000": "香港特别行政区", "820000": "澳门特别行政区",
}


class CityError(ValueError):
    """A city cannot be added as asked. The message is Chinese and names the file or field."""


class OnboardFailed(Exception):
    """A boundary file of an onboarding failed its checks; raised to roll the whole onboarding back.
    `result` holds the reports so far, the failed one last."""

    def __init__(self, report: ImportReport, result: "Onboarding") -> None:
        super().__init__(report.summary())
        self.report = report
        self.result = result


@dataclass(frozen=True)
class BoundaryFile:
    """One file of an onboarding: where it is (a path, or bytes with `name`), how to read it."""

    source: bytes | str | Path
    crs: str | None = None
    name: str | None = None
    layer: str | None = None
    encoding: str | None = None
    fields: FieldMap | None = None


@dataclass
class Onboarding:
    """What `onboard_city` did (or, with check=True, would do)."""

    code: str
    name: str
    province_code: str
    reports: list[ImportReport] = field(default_factory=list)
    created_province: bool = False
    created_city: bool = False
    deepest_level: str | None = None
    check_only: bool = False
    error: str | None = None  # why nothing was written (a bad argument; a failed file's report says its own)

    @property
    def ok(self) -> bool:
        return self.error is None and all(r.ok for r in self.reports)

    def lines(self) -> list[str]:
        if self.error:
            return [f"未写入任何数据：{self.error}"]
        out = []
        for r in self.reports:
            out.append(r.summary())
            out += [f"  读取：{n}" for n in r.notes]
            out += [f"  {line}" for line in r.lines()]
            out += [f"  修复：{line}" for line in r.repair_lines()]
            out += [f"  提示：{line}" for line in r.warning_lines()]
        if not self.ok:
            return out + ["未写入任何数据：以上文件有错误，整个接入已撤销"]
        verb = "将" if self.check_only else "已"
        if self.created_province:
            out.append(f"{verb}新建省级区划 {self.province_code}（{PROVINCE_NAMES.get(self.province_code, '')}）")
        out.append(f"{verb}{'登记' if self.created_city else '更新'}城市 {self.code} {self.name}")
        if self.deepest_level in ("city", "district"):
            out.append(f"提示：本市目前只有{LEVEL_NAMES_ZH[self.deepest_level]}边界；街道、社区、网格可稍后用 "
                       "import-boundaries 从本市网格化管理中心的文件导入")
        return out


@dataclass(frozen=True)
class CitySettings:
    """What varies per city, resolved: the city's row where it has one, else config.toml."""

    code: str
    name: str
    province_code: str
    province_name: str
    center: tuple[float, float]
    population: int | None
    routing_file: str | None
    holidays: tuple[date, ...]
    workdays: tuple[date, ...]


def default_city_code() -> str:
    return str(settings.get_settings()["city"]["code"])


def _calendar_dates(raw: list, label: str) -> tuple[date, ...]:
    try:
        return tuple(date.fromisoformat(str(d)) for d in raw)
    except ValueError as exc:
        raise CityError(f"{label} 中有无效日期：{exc}（应为 YYYY-MM-DD）") from None


def city_settings(session: Session, code: str | None = None) -> CitySettings:
    """The settings of city `code` (default: config.toml's city)."""
    code = code or default_city_code()
    cfg = settings.get_settings()
    row = session.get(City, code)
    province = ancestor_at(code, "province") or code
    workday = cfg.get("workday", {})
    if row is None:
        city_cfg = cfg.get("city", {}) if str(cfg.get("city", {}).get("code")) == code else {}
        region = session.get(Region, code)
        center = tuple(city_cfg.get("center") or (
            (region.centroid_lon, region.centroid_lat) if region is not None and region.centroid_lon is not None
            else (0.0, 0.0)))
        return CitySettings(code, city_cfg.get("name") or (region.name if region else code), province,
                            city_cfg.get("province") or PROVINCE_NAMES.get(province, ""),
                            (float(center[0]), float(center[1])), city_cfg.get("population"),
                            cfg.get("events", {}).get("routing_file"),
                            _calendar_dates(workday.get("holidays", []), "[workday].holidays"),
                            _calendar_dates(workday.get("workdays", []), "[workday].workdays"))
    calendar = json.loads(row.calendar) if row.calendar else {}
    province_row = session.get(Region, row.province_code)
    return CitySettings(
        row.code, row.name, row.province_code,
        province_row.name if province_row is not None else PROVINCE_NAMES.get(row.province_code, ""),
        (row.center_lon, row.center_lat), row.population,
        row.routing_file or cfg.get("events", {}).get("routing_file"),
        _calendar_dates(calendar.get("holidays", workday.get("holidays", [])), f"{row.code} 的假日表"),
        _calendar_dates(calendar.get("workdays", workday.get("workdays", [])), f"{row.code} 的调休工作日表"),
    )


def list_cities(session: Session) -> list[dict]:
    """Every city region with its row (if any): [{code, name, province_code, has_row, deepest_level}]."""
    rows = {c.code: c for c in session.scalars(select(City))}
    regions = session.execute(select(Region.code, Region.name, Region.parent_code)
                              .where(Region.level == "city").order_by(Region.code)).all()
    return [{"code": r.code, "name": rows[r.code].name if r.code in rows else r.name,
             "province_code": ancestor_at(r.code, "province"), "has_row": r.code in rows,
             "deepest_level": deepest_level(session, r.code)} for r in regions]


def deepest_level(session: Session, code: str) -> str | None:
    """The deepest level that has regions under (or at) region `code`."""
    levels = set(session.scalars(select(Region.level).where(code_inside(Region.code, code)).distinct()))
    return next((lv for lv in reversed(LEVELS) if lv in levels), None)


def ensure_province(session: Session, province_code: str, name: str | None = None) -> bool:
    """Create the province region when it is missing (outline: the union of its cities, kept by
    geo.boundaries); returns True when created. Cities already loaded under it are moved under it."""
    if level_or_none(province_code) != "province":
        raise CityError(f"省级区划代码 {province_code} 格式不正确（应为 XX0000）")
    if session.get(Region, province_code) is not None:
        return False
    name = (name or PROVINCE_NAMES.get(province_code) or "").strip()
    if not name:
        raise CityError(f"未知的省级区划 {province_code}，请用 --province 给出省名")
    session.add(Region(code=province_code, parent_code=None, name=name[:100], level="province",
                       city_code=province_code, source=DERIVED_PROVINCE))
    session.flush()
    return True


def _check_code(code: str) -> str:
    code = (code or "").strip()
    if level_or_none(code) != "city":
        raise CityError(f"城市代码 {code or '（空）'} 格式不正确：应为 6 位地级市代码，如 445200")
    return code


def onboard_city(session: Session, code: str, *, name: str | None = None, province: str | None = None,
                 boundaries: list[BoundaryFile] = (), population: int | None = None,
                 routing_file: str | None = None, calendar: dict | None = None,
                 progress: Callable[[int, int], None] | None = None) -> Onboarding:
    """Add (or update) city `code` inside `session`'s transaction: its province, its boundary files in
    the order given (the city's own outline first, then its districts, grids…), then its row, centred
    on its boundary. A failing file raises OnboardFailed (its report lists every problem), a bad
    argument CityError: the caller's transaction then rolls back whatever came before. A dry run is
    this inside a transaction that is rolled back (geo.actions.onboard_city(check=True))."""
    code = _check_code(code)
    if population is not None and population < 0:
        raise CityError("人口数应为非负整数")
    province_code = ancestor_at(code, "province")
    result = Onboarding(code, name or "", province_code)
    result.created_province = ensure_province(session, province_code, province)
    for i, item in enumerate(boundaries):
        step = (lambda done, total, _i=i: progress(done + _i * total, total * len(boundaries))) if progress else None
        report = import_boundaries(session, item.source, item.crs, encoding=item.encoding, source_name=item.name,
                                   progress=step, layer=item.layer, fields=item.fields)
        result.reports.append(report)
        if not report.ok:
            raise OnboardFailed(report, result)
    region = session.get(Region, code)
    if region is None:
        raise CityError(f"数据库和所给文件中都没有 {code} 本市的边界：请先给出本市的边界文件"
                        f"（DataV GeoAtlas 的 {code}.json，或含本市轮廓的 Shapefile/GeoPackage/KML）")
    if not region.geometry:
        raise CityError(f"{code} 没有边界几何，无法确定城市中心")
    result.name = name or region.name
    row = session.get(City, code)
    result.created_city = row is None
    result.deepest_level = deepest_level(session, code)
    values = {"name": result.name[:100], "province_code": province_code,
              "center_lon": region.centroid_lon, "center_lat": region.centroid_lat}
    if population is not None:
        values["population"] = population
    if routing_file is not None:
        values["routing_file"] = routing_file
    if calendar is not None:
        _calendar_dates(calendar.get("holidays", []), "假日表")
        _calendar_dates(calendar.get("workdays", []), "调休工作日表")
        values["calendar"] = json.dumps(calendar, ensure_ascii=False)
    if row is None:
        session.add(City(code=code, **values))
    else:
        for key, value in values.items():
            setattr(row, key, value)
    if name and region.name != name:
        region.name = name[:100]
    session.flush()
    return result


def ensure_city_row(session: Session, code: str, *, population: int | None = None) -> None:
    """A row for a city whose regions are already loaded (the demo), centred on its boundary."""
    if session.get(City, code) is not None:
        return
    region = session.get(Region, code)
    if region is None:
        raise CityError(f"没有 {code} 的区划")
    session.add(City(code=code, name=region.name, province_code=ancestor_at(code, "province"),
                     center_lon=region.centroid_lon or 0.0, center_lat=region.centroid_lat or 0.0,
                     population=population))
    session.flush()


def city_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Region).where(Region.level == "city")) or 0)
