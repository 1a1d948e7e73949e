"""manage.py sub-commands of the standard address base: import-addresses, geocode.

Each command takes the argparse namespace and returns an exit code; output is Chinese. The database
is the configured one unless the namespace carries `database_url` (tests, scripts).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from geo.addresses import import_addresses
from geo.geocode import geocode, min_confidence
from store.db import get_engine, session_scope
from tabular import TabularError


def _engine(args: argparse.Namespace):  # noqa: ANN202
    return get_engine(getattr(args, "database_url", None))


def cmd_import_addresses(args: argparse.Namespace) -> int:
    try:
        with session_scope(_engine(args)) as session:
            report = import_addresses(session, Path(args.file), args.crs, source=args.source,
                                      encoding=args.encoding)
    except TabularError as exc:
        print(exc.report())
        return 1
    print(report.summary())
    if report.ignored_columns:
        print(f"未使用的列：{'、'.join(report.ignored_columns)}")
    return 0


def cmd_geocode(args: argparse.Namespace) -> int:
    match = geocode(_engine(args), args.address)
    threshold = min_confidence()
    if match.kind is None:
        print(f"未匹配：{match.note or '地址库中没有相近的地址'}")
        return 1
    verdict = "可定位" if match.placed(threshold) else f"低于阈值 {threshold:g}，将标记为待定位"
    print(f"{match.kind_name}：{match.text}（置信度 {match.confidence:.2f}，{verdict}）")
    print(f"  坐标 {match.lon:.6f}, {match.lat:.6f}（WGS-84） 网格 {match.codes.get('grid') or '—'}")
    if match.note:
        print(f"  说明：{match.note}")
    return 0 if match.placed(threshold) else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import-addresses", help="导入标准地址库（CSV/Excel/Shapefile/GeoPackage，全部成功才写入）")
    p.add_argument("file", help="CSV、xlsx、shp（或其 zip）、gpkg 文件")
    p.add_argument("--crs", default="wgs84", help="坐标系：wgs84（含 cgcs2000）、gcj02、bd09；GIS 文件声明了投影坐标系时自动转换")
    p.add_argument("--source", default=None, help="来源名称（默认文件名）；再次导入同一来源会替换其原有地址")
    p.add_argument("--encoding", default=None, help="Shapefile 属性表的编码（如 gbk），文件没有 .cpg 时使用")
    p.set_defaults(func=cmd_import_addresses)

    p = sub.add_parser("geocode", help="把一条地址匹配到标准地址库，显示结果、网格与置信度")
    p.add_argument("address", help="地址文字，如 茂南区油城五路12号")
    p.set_defaults(func=cmd_geocode)
