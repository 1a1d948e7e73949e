"""manage.py sub-commands of the open intake API: api-key create|list|revoke, open311 process-pending.

    manage.py api-key create 12345热线 --zone 440900 [--categories 市容环境 街面秩序/占道经营] [--source 12345]
                                      [--rate 120] [--deferred]
    manage.py api-key list
    manage.py api-key revoke 12345热线
    manage.py open311 process-pending     # create deferred requests left pending (e.g. after a restart)

The key is printed once, at creation; only its hash is stored. Output is Chinese.
"""
from __future__ import annotations

import argparse

from sqlalchemy import select

from events.intake import SOURCES
from open311 import intake, keys
from store.db import get_engine, session_scope
from store.models import ApiKey, Open311Token


def _engine(args: argparse.Namespace):  # noqa: ANN202
    return get_engine(getattr(args, "database_url", None))


def cmd_create(args: argparse.Namespace) -> int:
    try:
        with session_scope(_engine(args)) as session:
            key, text = keys.create_key(session, args.name, args.zone, categories=args.categories,
                                        source=args.source, rate_per_minute=args.rate, deferred=args.deferred)
    except keys.KeyProblem as exc:
        print(f"未创建：{exc}")
        return 1
    scope = "、".join(key.categories) if key.categories else "全部类别"
    print(f"已创建接入密钥「{key.name}」（区域 {key.zone_code}，{scope}，来源 {key.source}，"
          f"每分钟 {key.rate_per_minute} 次{'，延迟创建' if key.deferred else ''}）")
    print("密钥（只显示这一次，请立即交给接入系统保管）：")
    print(text)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with session_scope(_engine(args), readonly=True) as session:
        rows = keys.list_keys(session)
    if not rows:
        print("还没有接入密钥")
        return 0
    for r in rows:
        state = f"已吊销（{r['revoked_at']:%Y-%m-%d %H:%M}，{r['revoked_by']}）" if r["revoked_at"] else "有效"
        used = f"{r['last_used_at']:%Y-%m-%d %H:%M}" if r["last_used_at"] else "从未使用"
        cats = "、".join(r["categories"]) or "全部类别"
        print(f"{r['name']}\to311_{r['prefix']}_…\t区域 {r['zone_code']}\t{cats}\t来源 {r['source']}\t"
              f"{r['rate_per_minute']}/分钟\t{'延迟创建' if r['deferred'] else '实时'}\t{state}\t最近使用 {used}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    try:
        with session_scope(_engine(args)) as session:
            key = keys.revoke_key(session, args.name)
    except keys.KeyProblem as exc:
        print(f"未吊销：{exc}")
        return 1
    print(f"已吊销接入密钥「{key.name}」：此后使用它的调用一律拒绝（403）")
    return 0


def cmd_process_pending(args: argparse.Namespace) -> int:
    engine = _engine(args)
    with session_scope(engine, readonly=True) as session:
        pending = session.execute(select(Open311Token.id, ApiKey).join(ApiKey, ApiKey.id == Open311Token.key_id)
                                  .where(Open311Token.status == "pending").order_by(Open311Token.id)).all()
        work = [(token_id, keys.client_key(row), row.revoked_at is not None) for token_id, row in pending]
    counts: dict[str, int] = {}
    for token_id, key, revoked in work:
        outcome = intake.fail_token(engine, token_id, "接入密钥已吊销，未创建案件") if revoked else \
            intake.process_token(engine, token_id, key, client="manage.py")
        counts[outcome] = counts.get(outcome, 0) + 1
    print(f"待处理 {len(work)} 件：" + ("，".join(f"{k} {v}" for k, v in sorted(counts.items())) or "无"))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("api-key", help="开放接口（Open311）接入密钥：create / list / revoke")
    actions = p.add_subparsers(dest="api_key_action", required=True, metavar="ACTION")
    c = actions.add_parser("create", help="创建接入密钥（只显示一次）")
    c.add_argument("name", help="接入系统名称，如 12345热线")
    c.add_argument("--zone", required=True, help="受理与查询的区域代码（该区域及其下级）")
    c.add_argument("--categories", nargs="*", default=None, help="允许的大类或“大类/小类”（默认全部）")
    c.add_argument("--source", default="12345", choices=SOURCES, help="案件来源（默认 12345）")
    c.add_argument("--rate", type=int, default=None, help="每分钟调用上限（默认见 [open311].default_rate_per_minute）")
    c.add_argument("--deferred", action="store_true", help="延迟创建：先返回 token，随后生成案件")
    c.set_defaults(func=cmd_create)
    ls = actions.add_parser("list", help="列出接入密钥（不含密钥本身）")
    ls.set_defaults(func=cmd_list)
    r = actions.add_parser("revoke", help="吊销接入密钥")
    r.add_argument("name")
    r.set_defaults(func=cmd_revoke)

    p = sub.add_parser("open311", help="开放接口维护：process-pending")
    ops = p.add_subparsers(dest="open311_action", required=True, metavar="ACTION")
    pp = ops.add_parser("process-pending", help="为仍在等待的延迟创建请求生成案件")
    pp.set_defaults(func=cmd_process_pending)
