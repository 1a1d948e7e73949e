"""manage.py sub-commands of the geo package: import-boundaries, locate, export-boundaries,
city add|list, basemap add|info.

Each command takes the argparse namespace and returns an exit code; output is Chinese.
The database is the configured one unless the namespace carries `database_url` (tests, scripts).
"""
from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

from sqlalchemy import select

import settings
from geo import actions, basemap, cities
from geo.boundaries import export_geojson, import_file
from geo.boundary_read import FieldMap
from geo.crs import UnknownCRS, normalize_crs, to_wgs84
from geo.locate import ALL_CITIES, get_locator
from store.db import get_engine, session_scope
from store.models import LEVELS, Region
from store.region_codes import LEVEL_NAMES_ZH


def _engine(args: argparse.Namespace):  # noqa: ANN202
    return get_engine(getattr(args, "database_url", None))


def _fields(args: argparse.Namespace) -> FieldMap:
    """--fields FILE, overridden field by field by --code-field …; ValueError (Chinese) on a bad file."""
    base = FieldMap.from_file(args.fields) if getattr(args, "fields", None) else FieldMap()
    flags = FieldMap(code=args.code_field, name=args.name_field, parent=args.parent_field, level=args.level_field,
                     population=args.population_field, households=args.households_field)
    return base.merged(flags)


def _print_report(report, indent: str = "") -> None:  # noqa: ANN001 - geo.boundaries.ImportReport
    print(indent + report.summary())
    for note in report.notes:
        print(f"{indent}读取：{note}")
    for line in report.lines():
        print(indent + line)
    for line in report.repair_lines():
        print(f"{indent}修复：{line}")
    for line in report.warning_lines():
        print(f"{indent}提示：{line}")


def cmd_import_boundaries(args: argparse.Namespace) -> int:
    try:
        fields = _fields(args)
    except ValueError as exc:
        print(str(exc))
        return 1
    report = import_file(_engine(args), Path(args.file), args.crs, encoding=args.encoding, layer=args.layer,
                         fields=fields, check_only=args.check)
    _print_report(report)
    return 0 if report.ok else 1


def cmd_locate(args: argparse.Namespace) -> int:
    try:
        crs = normalize_crs(args.crs)
        lon, lat = to_wgs84(args.lon, args.lat, crs)
    except UnknownCRS as exc:
        print(str(exc), file=sys.stderr)
        return 2
    engine = _engine(args)
    codes = get_locator(engine, ALL_CITIES).locate(lon, lat)
    if crs != "wgs84":
        print(f"WGS-84 坐标：{lon:.7f}, {lat:.7f}")
    if codes is None:
        print("该点不在本系统的任何城市范围内")
        return 1
    wanted = [c for c in codes.values() if c]
    with session_scope(engine, readonly=True) as session:
        names = dict(session.execute(select(Region.code, Region.name).where(Region.code.in_(wanted))).all())
    for level in LEVELS:
        code = codes[level]
        if code:
            print(f"{LEVEL_NAMES_ZH[level]}：{code} {names.get(code, '')}")
    if codes["grid"] is None:
        print("（该点不在任何网格内，已归到最深一级的所属区域）")
    return 0


def cmd_export_boundaries(args: argparse.Namespace) -> int:
    root = args.root or str(settings.get_settings()["city"]["code"])
    try:
        with session_scope(_engine(args), readonly=True) as session:
            doc = export_geojson(session, root)
    except LookupError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    print(f"已导出 {len(doc['features'])} 个区划（根：{root}，WGS-84）到 {out}")
    return 0


def _calendar(path: str | None) -> dict | None:
    if not path:
        return None
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"工作日历文件 {path} 无法读取：{exc}") from None
    table = raw.get("workday", raw)
    return {k: [str(d) for d in table.get(k, [])] for k in ("holidays", "workdays")}


def cmd_city_add(args: argparse.Namespace) -> int:
    try:
        fields = _fields(args)
        calendar = _calendar(args.calendar)
    except ValueError as exc:
        print(str(exc))
        return 1
    files = [cities.BoundaryFile(Path(f), args.crs, layer=args.layer, encoding=args.encoding, fields=fields)
             for f in args.boundary or []]
    files += [cities.BoundaryFile(Path(f), args.grids_crs or args.crs, layer=args.grids_layer, encoding=args.encoding,
                                  fields=fields) for f in args.grids or []]
    result = actions.onboard_city(_engine(args), args.code, name=args.name, province=args.province, boundaries=files,
                                  population=args.population, routing_file=args.routing_file, calendar=calendar,
                                  check=args.check)
    for line in result.lines():
        print(line)
    return 0 if result.ok else 1


def cmd_city_list(args: argparse.Namespace) -> int:
    with session_scope(_engine(args), readonly=True) as session:
        rows = cities.list_cities(session)
    default = cities.default_city_code()
    for r in rows:
        depth = LEVEL_NAMES_ZH.get(r["deepest_level"] or "", "无")
        mark = "（默认）" if r["code"] == default else ""
        row = "" if r["has_row"] else "，未登记城市设置（使用 config.toml）"
        print(f"{r['code']} {r['name']}{mark}  省 {r['province_code']}  边界到{depth}{row}")
    print(f"共 {len(rows)} 个城市")
    return 0


def cmd_basemap_add(args: argparse.Namespace) -> int:
    report = actions.load_base_layer(_engine(args), args.city, args.kind, Path(args.file), args.crs, layer=args.layer,
                                     encoding=args.encoding, name_field=args.name_field, class_field=args.class_field,
                                     replace=not args.append, check=args.check)
    print(report.summary())
    for note in report.notes:
        print(f"读取：{note}")
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


def cmd_basemap_info(args: argparse.Namespace) -> int:
    with session_scope(_engine(args), readonly=True) as session:
        info = basemap.summary(session)
    for city, kinds in sorted(info["cities"].items()):
        print(f"{city}：" + "、".join(f"{basemap.KINDS[k][0]} {n}" for k, n in sorted(kinds.items())))
    print(f"底图瓦片 {info['tiles']} 张" if info["tiles"] else "尚未导入任何底图图层（地图只显示本系统的区划边界）")
    return 0


def _read_args(p: argparse.ArgumentParser, *, crs_help: str) -> None:
    p.add_argument("--crs", default=None, help=crs_help)
    p.add_argument("--encoding", default=None, help="属性表编码无法自动识别时明确指定，如 gbk")
    p.add_argument("--layer", default=None, help="GeoPackage 的图层名，或压缩包内的文件名（不带扩展名）")


def _field_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fields", default=None, help="字段对应文件（TOML，[fields] code = \"XZQDM\" …）")
    p.add_argument("--code-field", default=None, help="区划代码所在字段（默认 code 或 adcode）")
    p.add_argument("--name-field", default=None, help="名称所在字段（默认 name）")
    p.add_argument("--parent-field", default=None, help="上级代码所在字段（默认 parent_code、parent 或 acroutes）")
    p.add_argument("--level-field", default=None, help="级别所在字段（默认 level，可无）")
    p.add_argument("--population-field", default=None, help="人口数所在字段（默认 population，可无）")
    p.add_argument("--households-field", default=None, help="户数所在字段（默认 households，可无）")


CRS_HELP = ("文件坐标系（文件自带 .prj/坐标系时可省略）：wgs84 或 cgcs2000（GPS、天地图）、gcj02（高德、DataV）、"
            "bd09（百度），或 EPSG 代码如 EPSG:4546（CGCS2000 3度带 111°E）")


def register(subparsers) -> None:  # noqa: ANN001 - argparse's private _SubParsersAction
    p = subparsers.add_parser("import-boundaries",
                              help="导入行政区划/网格边界（GeoJSON、Shapefile/zip、GeoPackage、KML/KMZ；全部成功或全部不写入）")
    p.add_argument("file", help="边界文件：DataV GeoAtlas 或本系统 GeoJSON、.shp 或 .zip、.gpkg、.kml/.kmz")
    # No argparse `choices`: an unknown system must be refused with our own Chinese message.
    _read_args(p, crs_help=CRS_HELP)
    _field_args(p)
    p.add_argument("--check", action="store_true", help="只检查并打印报告（含自动修复），不写入")
    p.set_defaults(func=cmd_import_boundaries)

    p = subparsers.add_parser("locate", help="查询一个坐标所属的网格及各级区划（本系统的所有城市）")
    p.add_argument("lon", type=float, help="经度")
    p.add_argument("lat", type=float, help="纬度")
    p.add_argument("--crs", default="wgs84", help="坐标系：wgs84（默认）、gcj02、bd09")
    p.set_defaults(func=cmd_locate)

    p = subparsers.add_parser("export-boundaries", help="导出某区划及其下级的边界（本系统 GeoJSON 格式，WGS-84）")
    p.add_argument("out", help="输出文件，如 boundaries.geojson")
    p.add_argument("--root", default=None, help="根区划代码（默认为本市）")
    p.set_defaults(func=cmd_export_boundaries)

    p = subparsers.add_parser("city", help="城市：接入新城市（边界、网格、城市设置）、列出城市")
    inner = p.add_subparsers(dest="city_command", required=True, metavar="ACTION")
    a = inner.add_parser("add", help="接入（或更新）一个城市：省级区划、边界文件、网格文件、城市设置，一次事务")
    a.add_argument("code", help="城市代码（6 位，如 445200）")
    a.add_argument("--name", default=None, help="城市名称（默认取边界文件中的名称）")
    a.add_argument("--province", default=None, help="省名（省级区划尚未建立且代码不在内置表中时需要）")
    a.add_argument("--boundary", action="append", help="边界文件，可多次给出，按顺序导入（先本市轮廓，再区县…）")
    a.add_argument("--grids", action="append", help="网格（或街道/社区）文件，可多次给出，在边界之后导入")
    a.add_argument("--grids-crs", default=None, help="网格文件的坐标系（默认同 --crs）")
    a.add_argument("--grids-layer", default=None, help="网格文件的图层名")
    a.add_argument("--population", type=int, default=None, help="常住人口（可选）")
    a.add_argument("--routing-file", default=None, help="本市的派遣路由规则文件（默认 [events].routing_file）")
    a.add_argument("--calendar", default=None, help="本市的工作日历（TOML：holidays = [...]、workdays = [...]）")
    _read_args(a, crs_help=CRS_HELP)
    _field_args(a)
    a.add_argument("--check", action="store_true", help="完整演练一遍并打印报告，然后撤销，不写入")
    a.set_defaults(func=cmd_city_add)
    li = inner.add_parser("list", help="列出本系统的城市")
    li.set_defaults(func=cmd_city_list)

    p = subparsers.add_parser("basemap", help="离线底图：导入本市的道路、水系、建筑、地名图层（矢量瓦片）")
    inner = p.add_subparsers(dest="basemap_command", required=True, metavar="ACTION")
    a = inner.add_parser("add", help="导入一个底图图层并重建矢量瓦片（全部成功或全部不写入）")
    a.add_argument("city", help="城市代码")
    a.add_argument("kind", help="图层：roads（道路）、water（水系）、buildings（建筑）、places（地名）")
    a.add_argument("file", help="Shapefile（.shp 或 .zip）、GeoPackage、GeoJSON 或 KML")
    _read_args(a, crs_help=CRS_HELP)
    a.add_argument("--name-field", default=None, help="名称字段（默认 name）")
    a.add_argument("--class-field", default=None, help="等级/类型字段（默认 class、fclass、highway 或 type）")
    a.add_argument("--append", action="store_true", help="追加到本市已有的同类图层（默认替换）")
    a.add_argument("--check", action="store_true", help="只检查，不写入")
    a.set_defaults(func=cmd_basemap_add)
    i = inner.add_parser("info", help="底图中有哪些图层")
    i.set_defaults(func=cmd_basemap_info)
