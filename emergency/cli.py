"""Emergency commands: import-resources, import-inventory, emergency-coverage. Each command imports what
it runs when it runs, so registering the commands (manage.py does it for every call) stays cheap."""
from __future__ import annotations

import settings
from store.db import get_engine, session_scope
from tabular import TabularError


def register(sub) -> None:  # noqa: ANN001
    p = sub.add_parser("import-resources", help="导入应急资源（CSV/Excel，全部成功才写入）")
    p.add_argument("file", help="CSV 或 .xlsx 文件；列：编号,类型,名称,经度,纬度[,人数,容量,面积,装备,地址,联系人,电话,状态]")
    p.add_argument("--crs", default="wgs84", help="文件坐标系：wgs84（默认）、gcj02（高德/腾讯）、bd09（百度）")
    p.add_argument("--user", default="manage.py", help="写入审计日志的操作人")
    p.set_defaults(func=cmd_import_resources)

    p = sub.add_parser("import-inventory", help="导入物资储备库库存（CSV/Excel，全部成功才写入）")
    p.add_argument("file", help="CSV 或 .xlsx 文件；列：仓库编号,物资,单位,数量")
    p.add_argument("--user", default="manage.py", help="写入审计日志的操作人")
    p.set_defaults(func=cmd_import_inventory)

    p = sub.add_parser("emergency-coverage", help="各区县应急服务覆盖情况（消防站、医疗点、避难场所）")
    p.add_argument("--level", default="district", choices=["district", "street"])
    p.set_defaults(func=cmd_coverage)


def _run_import(fn, args, **kwargs) -> int:  # noqa: ANN001
    try:
        with session_scope(get_engine()) as session:
            summary = fn(session, args.file, actor=args.user, **kwargs)
    except TabularError as exc:
        print(exc)
        return 1
    print(f"导入完成：{summary.describe()}")
    return 0


def cmd_import_resources(args) -> int:  # noqa: ANN001
    from emergency.importer import import_resources  # loaded when the command runs (see the docstring)

    return _run_import(import_resources, args, crs=args.crs)


def cmd_import_inventory(args) -> int:  # noqa: ANN001
    from emergency.importer import import_inventory  # loaded when the command runs

    return _run_import(import_inventory, args)


def cmd_coverage(args) -> int:  # noqa: ANN001
    from emergency.coverage import region_coverage  # loaded when the command runs (pandas, numpy)

    city = settings.get_settings()["city"]["code"]
    with session_scope(get_engine(), readonly=True) as session:
        frame = region_coverage(session, city, level=args.level)
    if frame.empty:
        print("没有网格数据")
        return 1
    print(f"{'区域':<12}{'网格':>6}{'覆盖网格':>8}{'网格覆盖率':>10}{'人口覆盖率':>10}{'人均避难容量':>12}")
    for r in frame.itertuples():
        print(f"{r.name:<12}{r.grids:>6}{r.grids_covered:>8}{r.share_grids_covered:>10.1%}"
              f"{r.share_population_covered:>10.1%}{r.shelter_capacity_per_resident:>12.3f}")
    return 0
