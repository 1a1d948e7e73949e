"""Partition commands (PostgreSQL): `partitions list | ensure | detach` (store.partitions)."""
from __future__ import annotations

from datetime import date

from store import partitions
from store.db import get_engine


def _month(text: str) -> date:
    """YYYY-MM → the first day of that month (argparse shows the ValueError's type name on failure)."""
    year, month = text.split("-")
    return date(int(year), int(month), 1)


_month.__name__ = "月份（YYYY-MM）"


def register(sub) -> None:  # noqa: ANN001
    p = sub.add_parser("partitions", help="按月分区（PostgreSQL）：列出、预建、归档旧月份")
    ps = p.add_subparsers(dest="partitions_command", required=True, metavar="ACTION")
    q = ps.add_parser("list", help="列出分区表的各月分区及估计行数")
    q.set_defaults(func=cmd_list)
    q = ps.add_parser("ensure", help="预建本月及之后若干月的分区（默认分区中对应月份的数据随之迁入）")
    q.add_argument("--from", dest="start", type=_month, default=None, help="从此月份起（YYYY-MM，默认本月）")
    q.add_argument("--ahead", type=int, default=partitions.MONTHS_AHEAD, help="预建到本月之后的月数")
    q.set_defaults(func=cmd_ensure)
    q = ps.add_parser("detach", help="把早于某月的分区脱离并移入 archive 模式，供导出后删除")
    q.add_argument("--before", type=_month, required=True, help="归档此月份之前的各月（YYYY-MM，不含此月）")
    q.add_argument("--table", default=None, help="只处理这张表（默认全部分区表）")
    q.set_defaults(func=cmd_detach)


def _postgres(engine) -> bool:  # noqa: ANN001
    if engine.dialect.name == "postgresql":
        return True
    print("当前数据库不是 PostgreSQL：SQLite 不分区，无需操作")
    return False


def cmd_list(args) -> int:  # noqa: ANN001, ARG001
    engine = get_engine()
    if not _postgres(engine):
        return 0
    with engine.connect() as conn:
        parts = partitions.list_partitions(conn)
    if not parts:
        print("没有按月分区的表（请先运行 manage.py migrate）")
        return 0
    for p in parts:
        month = p.month.strftime("%Y-%m") if p.month else "默认分区"
        rows = "未统计" if p.rows < 0 else f"{p.rows:,}"
        print(f"  {p.table:18s} {month:8s} {partitions.SCHEMA}.{p.name:32s} 约 {rows} 行")
    return 0


def cmd_ensure(args) -> int:  # noqa: ANN001
    if args.ahead < 0 or args.ahead > 36:
        print("--ahead 应在 0 到 36 之间")
        return 2
    engine = get_engine()
    if not _postgres(engine):
        return 0
    with engine.begin() as conn:
        made = partitions.ensure(conn, args.start, ahead=args.ahead)
        partitions.tune_autovacuum(conn)
    print(f"新建分区 {len(made)} 个" + (f"：{', '.join(made)}" if made else "（均已存在）"))
    return 0


def cmd_detach(args) -> int:  # noqa: ANN001
    engine = get_engine()
    if not _postgres(engine):
        return 0
    try:
        with engine.begin() as conn:
            moved = partitions.detach(conn, args.before, args.table)
    except partitions.PartitionError as exc:
        print(exc)
        return 1
    if not moved:
        print(f"{args.before:%Y-%m} 之前没有可归档的分区")
        return 0
    print(f"已脱离并移入 {partitions.ARCHIVE} 模式的表 {len(moved)} 张：")
    for name in moved:
        print(f"  {name}")
    print("导出后删除，例如：")
    print(f"  pg_dump -Fc -t {moved[0]} <数据库> > {moved[0]}.dump && psql <数据库> -c 'DROP TABLE {moved[0]}'")
    return 0
