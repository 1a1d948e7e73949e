"""Audit commands for operators: `manage.py audit archive` (retention) and `manage.py audit flush`
(write the counts of refused sign-ins for closed windows now, e.g. from cron before a report)."""
from __future__ import annotations

import argparse
import sys

from auth import audit_archive, throttle
from auth.cli import _actor
from store.db import get_engine, session_scope
from store.models import utcnow


def cmd_archive(args: argparse.Namespace) -> int:
    try:
        result = audit_archive.archive(get_engine(), actor=_actor(), days=args.retention_days,
                                       directory=args.dir)
    except audit_archive.ArchiveError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    if not result.rows:
        print(f"没有早于 {result.cutoff:%Y-%m-%d %H:%M} (UTC) 的审计记录，无需归档")
        return 0
    print(f"已归档 {result.rows} 条早于 {result.cutoff:%Y-%m-%d %H:%M} (UTC) 的审计记录到 {result.file}"
          f"（SHA-256 {result.sha256}），并已从数据库删除")
    return 0


def cmd_flush(_args: argparse.Namespace) -> int:
    with session_scope(get_engine()) as s:
        n = throttle.flush_blocked(s, utcnow())
    print(f"已写入 {n} 条登录拦截汇总审计记录")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001 - argparse's own type
    p = sub.add_parser("audit", help="审计日志：归档（保存期）、写入登录拦截汇总")
    inner = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    a = inner.add_parser("archive", help="把早于保存期的审计记录导出为 .jsonl.gz 文件并从数据库删除")
    a.add_argument("--retention-days", type=int, default=None,
                   help="保存期（天，默认 [audit].retention_days，不少于 180）")
    a.add_argument("--dir", default=None, help="归档目录（默认 [audit].archive_dir）")
    a.set_defaults(func=cmd_archive)
    f = inner.add_parser("flush", help="把已结束时间窗的登录拦截计数写入审计日志")
    f.set_defaults(func=cmd_flush)
