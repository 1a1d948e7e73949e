"""manage.py commands of the exchange: `exchange run` (the worker; long-running like ingest-mqtt, or
`--once` for tests and cron), `exchange pull` (fetch tasks handed down), `exchange snapshot --period`
(files for the 共享交换平台), `exchange status`, `exchange replay DESTINATION`, `exchange check-rules`.
Each command imports what it runs when it runs, so registering them loads neither requests nor pandas."""
from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timezone
from pathlib import Path

import settings
from store.db import get_engine
from store.period import Period
from store.scope import Viewer


def register(sub) -> None:  # noqa: ANN001
    p = sub.add_parser("exchange", help="数据交换：上报上级平台、接收上级任务、消息推送、快照导出")
    jobs = p.add_subparsers(dest="job", required=True, metavar="JOB")
    r = jobs.add_parser("run", help="运行数据交换工作进程（持续运行，Ctrl+C 或 SIGTERM 结束）")
    r.add_argument("--once", action="store_true", help="只处理一轮（测试、cron 用）")
    r.add_argument("--max-seconds", type=float, default=None, help="运行指定秒数后退出（测试用）")
    r.set_defaults(func=cmd_run)
    pl = jobs.add_parser("pull", help="从上级平台拉取交办/督办任务（只允许出站访问的网络）")
    pl.set_defaults(func=cmd_pull)
    sn = jobs.add_parser("snapshot", help="导出一个统计期的案件、区划、指标文件（供共享交换平台挂接）")
    sn.add_argument("--period", required=True, help="统计期，如 2026-11 或 2026")
    sn.add_argument("--out", default=None, help="输出目录（默认 [exchange].snapshot_dir）")
    sn.set_defaults(func=cmd_snapshot)
    st = jobs.add_parser("status", help="显示各目的地的积压、最近成功与失败")
    st.set_defaults(func=cmd_status)
    rp = jobs.add_parser("replay", help="重发某目的地的失败记录（upper / local / sms / webhook）")
    rp.add_argument("destination")
    rp.add_argument("--waiting", action="store_true", help="连同正在退避等待的记录一起立即重发")
    rp.set_defaults(func=cmd_replay)
    ck = jobs.add_parser("check-rules", help="检查消息规则文件 exchange/rules.yaml")
    ck.set_defaults(func=cmd_check_rules)


def _operator() -> Viewer:
    # The operator at the command line is the server's administrator: the exchange status and replay
    # need manage_exchange (系统管理员).
    return Viewer("cli", "sys_admin", str(settings.get_settings()["city"]["code"]), display_name="命令行")


def cmd_run(args) -> int:  # noqa: ANN001
    from exchange.worker import Worker  # loaded when the command runs (requests, the rules)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    worker = Worker(get_engine())
    if args.once:
        print(worker.run_once().summary())
        return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.max_seconds:
        threading.Timer(args.max_seconds, stop.set).start()
    print(f"数据交换工作进程：{worker.owner}，目的地 {'、'.join(d.name for d in worker.destinations)}")
    try:
        worker.run(stop)
    except KeyboardInterrupt:
        stop.set()
    print("数据交换工作进程已结束")
    return 0


def cmd_pull(args) -> int:  # noqa: ANN001, ARG001
    from exchange import config, pull  # loaded when the command runs

    report = pull.pull_once(get_engine(), config.load())
    print(report.summary())
    for line in report.refused:
        print(f"  拒收 {line}")
    return 1 if report.error else 0


def cmd_snapshot(args) -> int:  # noqa: ANN001
    from exchange import config, snapshot  # loaded when the command runs (pandas, the indicator engine)

    try:
        period = Period.parse(args.period)
    except ValueError as exc:
        print(str(exc))
        return 2
    out = Path(args.out) if args.out else config.load().snapshot_path
    print(snapshot.export(get_engine(), period, out).summary())
    return 0


def cmd_status(args) -> int:  # noqa: ANN001, ARG001
    from exchange.views import ExchangeViews  # loaded when the command runs

    now = datetime.now(timezone.utc)
    with ExchangeViews.open(get_engine(), _operator()) as views:
        rows = views.destination_status(now=now)
    if not rows:
        print("还没有交换记录")
    for r in rows:
        print(f"  {r['label']}（{r['destination']}）：待发送 {r['pending']}，失败 {r['failed']}，"
              f"最近成功 {r['last_success_at'] or '—'}" + (f"，暂停至 {r['paused_until']}" if r['paused_until'] else "")
              + (f"，最近错误：{r['last_error']}" if r['last_error'] else ""))
    return 0


def cmd_replay(args) -> int:  # noqa: ANN001
    from exchange import actions  # loaded when the command runs

    try:
        print(actions.replay(get_engine(), _operator(), args.destination, include_waiting=args.waiting,
                             client="cli"))
    except LookupError as exc:
        print(str(exc))
        return 2
    return 0


def cmd_check_rules(args) -> int:  # noqa: ANN001, ARG001
    from exchange import config, rules  # loaded when the command runs

    path = config.load().rules_file
    try:
        ruleset = rules.load_rules(path)
    except (rules.RuleError, OSError) as exc:
        print(f"{path}：{exc}")
        return 1
    print(f"{path}：{len(ruleset.rules)} 条规则，格式正确")
    return 0
