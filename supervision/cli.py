"""Supervision commands: `supervision escalate` (apply the escalation rules, periodically, e.g. every 15
minutes from cron or a systemd timer) and `supervision hotspots` (the daily 研判)."""
from __future__ import annotations

from datetime import date

from store.db import get_engine
from supervision import actions


def register(sub) -> None:  # noqa: ANN001
    p = sub.add_parser("supervision", help="督办与研判的定时任务：escalate 超期自动升级；hotspots 每日研判")
    jobs = p.add_subparsers(dest="job", required=True, metavar="JOB")
    e = jobs.add_parser("escalate", help="按 supervision/escalation.yaml 的规则升级超期案件（重复运行只升级一次）")
    e.set_defaults(func=cmd_escalate)
    h = jobs.add_parser("hotspots", help="找出本周案件显著高于自身基线的网格、街道与激增的 12345 诉求（每日运行）")
    h.add_argument("--day", help="研判日期 YYYY-MM-DD（默认今天；统计该日之前的 7 天）")
    h.set_defaults(func=cmd_hotspots)


def cmd_escalate(args) -> int:  # noqa: ANN001, ARG001
    print(actions.run_escalation(get_engine()).summary())
    return 0


def cmd_hotspots(args) -> int:  # noqa: ANN001
    try:
        day = date.fromisoformat(args.day) if args.day else None
    except ValueError:
        print(f"日期「{args.day}」格式不正确，应为 YYYY-MM-DD")
        return 2
    print(actions.run_hotspots(get_engine(), today=day).summary())
    return 0
