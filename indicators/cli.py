"""manage.py commands of the indicator library: import-stats, check-indicators."""
from __future__ import annotations

import argparse
import getpass
import sys

from store.db import get_engine
from tabular import TabularError


def register(sub) -> None:  # noqa: ANN001
    p = sub.add_parser("import-stats", help="导入外部统计数据（CSV/Excel：指标编号、区划代码、期间、数值），全部成功才写入")
    p.add_argument("file", help="CSV（UTF-8 或 GBK）或 .xlsx 文件")
    p.add_argument("--source", default=None, help="数据来源（文件中没有“来源”列时使用），如：市统计局月报")
    p.set_defaults(func=cmd_import_stats)

    p = sub.add_parser("check-indicators", help="检查指标库定义（YAML），列出全部问题")
    p.add_argument("--path", default=None, help="指标库目录或文件（默认 indicators/library）")
    p.set_defaults(func=cmd_check)


def cmd_import_stats(args: argparse.Namespace) -> int:
    from indicators.external_import import import_file  # loaded when the command runs, not at every start
    from indicators.library import LibraryError  # loaded when the command runs

    try:
        report = import_file(get_engine(getattr(args, "database_url", None)), args.file,
                             actor=f"manage.py:{getpass.getuser()}", source=args.source)
    except TabularError as exc:
        print(exc, file=sys.stderr)
        return 1
    except LibraryError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(report.summary())
    print("说明：已存在的同一指标、区划、期间的数值已被本次文件中的数值覆盖（以最新报送为准）。")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from indicators.library import load_library, validate_library  # loaded when the command runs (start-up time)

    problems = validate_library(args.path)
    if problems:
        print(f"指标库有 {len(problems)} 处问题：", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    lib = load_library(args.path)
    print(f"指标库有效：共 {len(lib)} 个指标")
    return 0
