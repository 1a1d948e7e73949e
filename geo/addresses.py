"""Import a standard address base (标准地址库): CSV / Excel / Shapefile / GeoPackage, all rows or none.

Columns (any of the names in CONTRACT): 区、街道、社区、道路（街路巷）、门牌号、小区、楼栋, optional 标准地址,
and 经度/纬度 (CSV, Excel) — a Shapefile or GeoPackage gives the point by its geometry instead (a
polygon, e.g. a building outline, by a point inside it). Coordinates may be WGS-84/CGCS2000, GCJ-02 or
BD-09 (`crs`); a GIS file that declares a projected system (e.g. CGCS2000 / 3-degree Gauss-Kruger, as
surveying departments deliver) is reprojected to longitude/latitude first.

CSV and Excel are read by `tabular` (encodings, headers, cell types, line numbers); a GIS file's
attribute table goes through the same reader, so one set of column names and one error report serve
every format. Every row is checked before anything is written — a road or a compound, a door number
and a building in their usual forms, the point inside the city, the 区 written agreeing with the point,
no duplicates within the file — and any problem raises one TabularError listing every bad row.

An import replaces the addresses of the same `source` (by default the file name), so importing a
corrected file again is safe; it bumps the address version, so every process's geocoder index
(geo.geocode) rebuilds on its next use.
"""
from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

import settings
from auth import audit
from geo import address_text
from geo.crs import UnknownCRS, normalize_crs, to_wgs84_array
from geo.geocode import bump_address_version
from geo.locate import get_locator
from store.models import Region, StandardAddress, utcnow
from tabular import BadValue, CellError, Column, Contract, Float, TabularError, Text, read_table

WHAT = "标准地址导入"
GIS_SUFFIXES = (".shp", ".zip", ".gpkg")
_NUMBER = re.compile(r"^[0-9]{1,6}(?:-[0-9]{1,4})?[A-Za-z]?$")
_BUILDING = re.compile(r"^[0-9A-Za-z]{1,6}(?:-[0-9]{1,3})?$")


@dataclass(frozen=True)
class DoorNumber:
    """门牌号 as stored: "12", "12-1", "12A" (号 and full-width forms folded)."""

    def parse(self, cell) -> str:  # noqa: ANN001
        text = unicodedata.normalize("NFKC", str(cell)).strip().replace(" ", "")
        if isinstance(cell, float) and cell.is_integer():
            text = str(int(cell))
        text = re.sub(r"号$", "", text.replace("之", "-"))
        if not _NUMBER.match(text):
            raise BadValue(f"门牌号应为数字（如 12、12-1、12A），收到“{str(cell)[:20]}”")
        return text


@dataclass(frozen=True)
class BuildingNo:
    """楼栋 as stored: "3" for 3栋/3幢/3座/3号楼/三栋."""

    def parse(self, cell) -> str:  # noqa: ANN001
        text = str(int(cell)) if isinstance(cell, float) and cell.is_integer() else str(cell)
        folded = address_text.fold(text if re.search(r"[栋幢座楼]$", text) else text + "栋")
        m = re.match(r"^([0-9A-Za-z\-]+)栋$", folded)
        if not m or not _BUILDING.match(m.group(1)):
            raise BadValue(f"楼栋应为编号（如 3、3栋、3号楼），收到“{str(cell)[:20]}”")
        return m.group(1)


CONTRACT = Contract(WHAT, (
    Column("district_name", "区", Text(max_length=50), aliases=("区县", "县区", "区（县、市）", "所属区县")),
    Column("street_name", "街道", Text(max_length=50), aliases=("街道（镇）", "乡镇街道", "镇街", "所属街道")),
    Column("community_name", "社区", Text(max_length=50), aliases=("社区（村）", "村居", "所属社区")),
    Column("road", "道路", Text(max_length=60), aliases=("街路巷", "街巷", "道路名称", "路名")),
    Column("house_number", "门牌号", DoorNumber(), aliases=("门牌", "门牌号码", "号")),
    Column("compound", "小区", Text(max_length=60), aliases=("小区名称", "小区/大院", "楼盘")),
    Column("building", "楼栋", BuildingNo(), aliases=("楼号", "栋号", "幢号")),
    Column("full_text", "标准地址", Text(max_length=200), aliases=("地址", "完整地址")),
    Column("lon", "经度", Float(-180, 180), required=True, aliases=("lng", "longitude", "x")),
    Column("lat", "纬度", Float(-90, 90), required=True, aliases=("latitude", "y")),
))


@dataclass
class ImportReport:
    source: str
    crs: str
    file: str = ""
    total: int = 0
    imported: int = 0
    replaced: int = 0
    by_district: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = "、".join(f"{k} {v} 条" for k, v in sorted(self.by_district.items()))
        again = f"，替换同来源的原有 {self.replaced} 条" if self.replaced else ""
        return (f"{self.file}：共 {self.total} 行，已全部导入 {self.imported} 条标准地址{again}"
                f"（来源「{self.source}」，坐标系 {self.crs}）" + (f"：{parts}" if parts else ""))


def _fail(message: str) -> TabularError:
    return TabularError([CellError(0, message)], WHAT)


# -- GIS files: attribute table + point → the same table reader -------------------------------------------
def gis_as_csv(path: Path, crs: str, encoding: str | None = None) -> tuple[bytes, str, str]:
    """(CSV bytes with 经度/纬度 columns, how it was read, the CRS its coordinates are in now)."""
    try:
        frame = gpd.read_file(path, encoding=encoding) if encoding else gpd.read_file(path)
    except Exception as exc:  # noqa: BLE001 - GDAL's errors for an unreadable file come in many types
        raise _fail(f"无法读取 GIS 文件 {path.name}：{str(exc)[:200]}") from None
    if frame.empty:
        raise _fail("文件中没有要素")
    described = f"{path.suffix.lstrip('.').upper()}，{len(frame)} 个要素（第 N 行 = 第 N-1 个要素）"
    if frame.crs is not None and not frame.crs.is_geographic:
        projected = frame.crs.name
        frame = frame.to_crs(4490)  # CGCS2000 geographic = WGS-84 for our purposes (geo.crs)
        crs, described = "wgs84", described + f"，已由 {projected} 转为经纬度"
    # A geographic file keeps `crs` as given: the file cannot tell WGS-84 from GCJ-02 numbers.
    geoms = frame.geometry
    missing = geoms.isna() | geoms.is_empty
    points = geoms.where(geoms.geom_type == "Point", geoms.representative_point())
    table = frame.drop(columns=frame.geometry.name)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*map(str, table.columns), "经度", "纬度"])
    for values, point, bad in zip(table.itertuples(index=False), points, missing):
        cells = ["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in values]
        writer.writerow([*cells, "" if bad else repr(point.x), "" if bad else repr(point.y)])
    return out.getvalue().encode("utf-8"), described, crs


# -- the import -----------------------------------------------------------------------------------------
def _key(v: dict) -> tuple:
    return (v.get("district_name") or "", v.get("road") or "", v.get("house_number") or "", v.get("compound") or "",
            v.get("building") or "")


def import_addresses(session: Session, src, crs: str = "wgs84", *, source: str | None = None,  # noqa: ANN001
                     name: str | None = None, encoding: str | None = None, actor: str = "manage.py",
                     client: str | None = None) -> ImportReport:
    """Check every row of `src` (a path; or bytes/an upload of CSV/Excel with `name`); when all are good,
    replace the addresses of `source` (default: the file name) in the caller's transaction."""
    try:
        crs = normalize_crs(crs)
    except UnknownCRS as exc:
        raise _fail(str(exc)) from None
    how = None
    if isinstance(src, (str, Path)) and Path(src).suffix.lower() in GIS_SUFFIXES:
        path = Path(src)
        if not path.exists():
            raise _fail(f"文件不存在：{path}")
        data, how, crs = gis_as_csv(path, crs, encoding)
        name = name or path.name
        table = read_table(data, CONTRACT, name=Path(name).stem + ".csv")
    else:
        table = read_table(src, CONTRACT, name=name)
        name = name or (Path(src).name if isinstance(src, (str, Path)) else table.name)
    source = (source or Path(name or "导入").name)[:100]
    report = ImportReport(source=source, crs=crs, file=how or table.describe(), total=len(table.rows),
                          ignored_columns=table.ignored)
    errors: list[CellError] = []
    label = table.contract.label
    city_code = str(settings.get_settings()["city"]["code"])

    rows = []
    for row in table.rows:
        v = dict(row.values)
        if not v.get("road") and not v.get("compound"):
            errors.append(CellError(row.line, "「道路」和「小区」至少要填一项", label("road")))
        if v.get("building") and not v.get("compound") and not v.get("house_number"):
            errors.append(CellError(row.line, "有「楼栋」时须填写「小区」或「门牌号」", label("building")))
        if v.get("house_number") and not v.get("road"):
            errors.append(CellError(row.line, "有「门牌号」时须填写「道路」", label("road")))
        rows.append((row.line, v))

    first: dict[tuple, int] = {}
    for line, v in rows:
        if v.get("road") or v.get("compound"):
            k = _key(v)
            if k in first:
                errors.append(CellError(line, f"与第 {first[k]} 行是同一个地址", label("house_number")))
            else:
                first[k] = line

    good = [(line, v) for line, v in rows if v.get("lon") is not None and v.get("lat") is not None]
    located: dict[int, dict] = {}
    if good:
        lons, lats = to_wgs84_array(np.array([v["lon"] for _, v in good]), np.array([v["lat"] for _, v in good]), crs)
        columns = get_locator(session, city_code).locate_columns(lons, lats)
        names = dict(session.execute(select(Region.code, Region.name).where(Region.city_code == city_code)).all())
        for k, (line, v) in enumerate(good):
            codes = {lv: columns[lv][k] for lv in columns}
            if not codes.get("city"):
                errors.append(CellError(line, f"坐标（{v['lon']}, {v['lat']}，{crs}）不在本市范围内", label("lon")))
                continue
            written = v.get("district_name")
            actual = names.get(codes.get("district") or "")
            if written and actual and address_text.short_name(written) != address_text.short_name(actual):
                errors.append(CellError(line, f"坐标位于{actual}，与「区」列的“{written}”不一致（坐标或区县有误）",
                                        label("district_name")))
                continue
            located[line] = {"codes": codes, "lon": float(lons[k]), "lat": float(lats[k]), "names": names}
    table.raise_if_any(errors)

    now = utcnow()
    out = []
    for line, v in rows:
        loc = located[line]
        codes, names = loc["codes"], loc["names"]
        text = v.get("full_text") or _full_text(v, codes, names)
        out.append({
            "city_code": city_code, "district_code": codes.get("district"), "street_code": codes.get("street"),
            "community_code": codes.get("community"), "grid_code": codes.get("grid"),
            "district_name": v.get("district_name") or names.get(codes.get("district") or ""),
            "street_name": v.get("street_name") or names.get(codes.get("street") or ""),
            "community_name": v.get("community_name") or names.get(codes.get("community") or ""),
            "road": v.get("road"), "house_number": v.get("house_number"), "compound": v.get("compound"),
            "building": v.get("building"), "full_text": text[:200], "lon": round(loc["lon"], 7),
            "lat": round(loc["lat"], 7), "source": source, "imported_at": now,
        })
        district = names.get(codes.get("district") or "", "未分区")
        report.by_district[district] = report.by_district.get(district, 0) + 1
    report.replaced = session.scalar(select(func.count()).select_from(StandardAddress).where(
        StandardAddress.city_code == city_code, StandardAddress.source == source)) or 0
    session.execute(delete(StandardAddress).where(StandardAddress.city_code == city_code,
                                                  StandardAddress.source == source))
    for i in range(0, len(out), 5000):
        session.execute(insert(StandardAddress), out[i:i + 5000])
    report.imported = len(out)
    bump_address_version(session)
    audit.record(session, actor, "address_import", object_type="standard_address", client=client, scope=city_code,
                 detail={"source": source, "crs": crs, "rows": report.total, "imported": report.imported,
                         "replaced": report.replaced, "file": name})
    return report


def _full_text(v: dict, codes: dict, names: dict) -> str:
    parts = [v.get("district_name") or names.get(codes.get("district") or "", ""),
             v.get("street_name") or names.get(codes.get("street") or "", ""),
             v.get("community_name") or names.get(codes.get("community") or "", "")]
    if v.get("road"):
        parts.append(v["road"] + (f"{v['house_number']}号" if v.get("house_number") else ""))
    if v.get("compound"):
        parts.append(v["compound"] + (f"{v['building']}栋" if v.get("building") else ""))
    return "".join(parts)
