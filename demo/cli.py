"""Demo command: seed-demo (the generated demo city; 演示数据, never real data)."""
from __future__ import annotations

import os
from datetime import date

from demo.progress import ProgressLine
from demo.seed import AlreadySeeded, is_seeded, seed_demo
from store.demo_scale import SCALES
from store.db import get_engine


def register(sub) -> None:  # noqa: ANN001
    p = sub.add_parser("seed-demo", help="生成演示城市数据（演示数据，非真实数据）")
    p.add_argument("--scale", default="demo", choices=list(SCALES))
    p.add_argument("--seed", type=int, default=20261125)
    p.add_argument("--until", type=date.fromisoformat, default=None, help="演示数据截止日期 YYYY-MM-DD（默认今天）")
    p.add_argument("--force", action="store_true", help="已有数据时删除并重建")
    p.add_argument("--if-missing", action="store_true", help="数据库已有数据时什么也不做")
    p.set_defaults(func=cmd_seed_demo)


def cmd_seed_demo(args) -> int:  # noqa: ANN001
    engine = get_engine()
    if args.if_missing and is_seeded(engine):
        print("演示数据已存在，跳过生成")
        return 0
    print(f"正在生成演示城市（规模 {args.scale}，随机种子 {args.seed}）…")
    bar = ProgressLine()

    def log(line: str) -> None:
        bar.clear()
        print(line, flush=True)

    try:
        summary = seed_demo(engine, args.scale, args.seed, args.until, force=args.force, log=log, progress=bar)
    except AlreadySeeded as exc:
        print(exc)
        return 1
    finally:
        bar.clear()
    size = ""
    if engine.dialect.name == "sqlite" and engine.url.database:
        files = [engine.url.database + suffix for suffix in ("", "-wal")]
        size = f"，数据库 {sum(os.path.getsize(f) for f in files if os.path.exists(f)) / 1e6:.1f} MB"
    print(f"完成：用时 {summary['seconds']} 秒{size}")
    return 0
