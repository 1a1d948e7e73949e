"""Case commands: import-events, event-rollup-check."""
from __future__ import annotations

from events.intake import SOURCES
from store.db import get_engine, session_scope
from tabular import TabularError


def register(sub) -> None:  # noqa: ANN001
    p = sub.add_parser("import-events", help="从 CSV/Excel 导入 12345 工单或巡查案件（全部成功才写入）")
    p.add_argument("file", help="CSV（UTF-8 或 GBK）或 .xlsx 文件")
    p.add_argument("--source", required=True, choices=SOURCES, help="案件来源")
    p.add_argument("--crs", default="wgs84", help="文件坐标系：wgs84 / gcj02 / bd09（默认 wgs84）")
    p.add_argument("--dry-run", action="store_true", help="只检查，不写入")
    p.set_defaults(func=cmd_import_events)

    p = sub.add_parser("event-rollup-check", help="核对案件日汇总与案件明细是否一致（--fix 按明细重建）")
    p.add_argument("--fix", action="store_true", help="不一致时按明细重建日汇总")
    p.set_defaults(func=cmd_rollup_check)


def cmd_import_events(args) -> int:  # noqa: ANN001
    from events.importer import import_file  # loaded when the command runs, not at every manage.py start

    engine = get_engine()
    try:
        # Checked and prepared outside the write lock; only the final write holds it.
        report = import_file(engine, args.file, args.source, args.crs, check_only=args.dry_run)
    except TabularError as exc:
        print(exc)
        return 1
    if args.dry_run:
        print(f"检查通过（未写入）：{report.file}，共 {report.total} 行（来源 {report.source}，坐标系 {report.crs}）")
    else:
        print(report.summary())
        for line in report.suspected_lines():
            print(f"  {line}")
    if report.ignored_columns:
        print(f"未使用的列：{'、'.join(report.ignored_columns)}")
    return 0


def cmd_rollup_check(args) -> int:  # noqa: ANN001
    from events import rollup  # loaded when the command runs: keeps `manage.py --help` fast

    engine = get_engine()
    with session_scope(engine, readonly=not args.fix) as session:
        diff = rollup.differences(session)
        by_department = rollup.department_differences(session)  # the 考核 of departments reads this copy
        by_district = rollup.district_differences(session)  # the district and grid×month copies the engine reads
        if diff.empty and by_department.empty and by_district.empty:
            print("案件日汇总（含区县、部门、网格月汇总）与明细一致")
            return 0
        for label, frame in (("日汇总", diff), ("部门日汇总", by_department), ("区县日汇总/网格月汇总", by_district)):
            if not frame.empty:
                print(f"发现 {len(frame)} 个不一致的{label}行，例如：")
                print(frame.head(10).to_string())
        if args.fix:
            n = rollup.rebuild(session)
            print(f"已按明细重建日汇总：{n} 行")
            return 0
    return 1
