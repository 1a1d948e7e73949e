"""manage.py sub-commands of the geo package: import-boundaries, locate, export-boundaries.

Each command takes the argparse namespace and returns an exit code; output is Chinese.
The database is the configured one unless the namespace carries `database_url` (tests, scripts).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sqlalchemy import select

import settings
from geo.boundaries import export_geojson, import_file
from geo.crs import UnknownCRS, normalize_crs, to_wgs84
from geo.locate import get_locator
from store.db import get_engine, session_scope
from store.models import LEVELS, Region

_LEVEL_ZH = {"city": "市", "district": "区县", "street": "街道/乡镇", "community": "社区/村", "grid": "网格"}


def _engine(args: argparse.Namespace):  # noqa: ANN202
    return get_engine(getattr(args, "database_url", None))


def cmd_import_boundaries(args: argparse.Namespace) -> int:
    report = import_file(_engine(args), Path(args.file), args.crs, encoding=args.encoding)
    print(report.summary())
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


def cmd_locate(args: argparse.Namespace) -> int:
    try:
        crs = normalize_crs(args.crs)
        lon, lat = to_wgs84(args.lon, args.lat, crs)
    except UnknownCRS as exc:
        print(str(exc), file=sys.stderr)
        return 2
    engine = _engine(args)
    codes = get_locator(engine).locate(lon, lat)
    if crs != "wgs84":
        print(f"WGS-84 坐标：{lon:.7f}, {lat:.7f}")
    if codes is None:
        print("该点不在本市范围内")
        return 1
    wanted = [c for c in codes.values() if c]
    with session_scope(engine, readonly=True) as session:
        names = dict(session.execute(select(Region.code, Region.name).where(Region.code.in_(wanted))).all())
    for level in LEVELS:
        code = codes[level]
        if code:
            print(f"{_LEVEL_ZH[level]}：{code} {names.get(code, '')}")
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


def register(subparsers) -> None:  # noqa: ANN001 - argparse's private _SubParsersAction
    p = subparsers.add_parser("import-boundaries", help="导入行政区划边界（GeoJSON，全部成功或全部不写入）")
    p.add_argument("file", help="GeoJSON 文件（DataV GeoAtlas 格式或本系统导出格式）")
    # No argparse `choices`: an unknown system must be refused with our own Chinese message.
    p.add_argument("--crs", required=True,
                   help="文件坐标系：wgs84（含 cgcs2000/天地图）、gcj02（高德/腾讯/DataV）、bd09（百度）")
    p.add_argument("--encoding", default=None, help="文件不是 UTF-8 时明确指定编码，如 gbk")
    p.set_defaults(func=cmd_import_boundaries)

    p = subparsers.add_parser("locate", help="查询一个坐标所属的网格及各级区划")
    p.add_argument("lon", type=float, help="经度")
    p.add_argument("lat", type=float, help="纬度")
    p.add_argument("--crs", default="wgs84", help="坐标系：wgs84（默认）、gcj02、bd09")
    p.set_defaults(func=cmd_locate)

    p = subparsers.add_parser("export-boundaries", help="导出某区划及其下级的边界（本系统 GeoJSON 格式，WGS-84）")
    p.add_argument("out", help="输出文件，如 boundaries.geojson")
    p.add_argument("--root", default=None, help="根区划代码（默认为本市）")
    p.set_defaults(func=cmd_export_boundaries)
