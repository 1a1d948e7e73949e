"""Store commands: migrate, info."""
from __future__ import annotations

from sqlalchemy import func, inspect, select

from store.db import get_engine, session_scope
from store.models import Base
from store.schema import migrate


def register(sub) -> None:  # noqa: ANN001
    p = sub.add_parser("migrate", help="把数据库结构升级到最新版本（Alembic）")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("info", help="显示数据库位置与各表行数")
    p.set_defaults(func=cmd_info)


def cmd_migrate(args) -> int:  # noqa: ANN001
    migrate(get_engine())
    print("数据库结构已是最新版本")
    return 0


def cmd_info(args) -> int:  # noqa: ANN001
    engine = get_engine()
    print(f"数据库：{engine.url.render_as_string(hide_password=True)}")
    present = set(inspect(engine).get_table_names())
    with session_scope(engine, readonly=True) as s:
        for table in Base.metadata.sorted_tables:
            if table.name in present:
                print(f"  {table.name:24s} {s.execute(select(func.count()).select_from(table)).scalar_one():>10,}")
    return 0
