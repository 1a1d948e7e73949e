"""Account commands for operators: create-user, set-password, deactivate-user, unlock-user, list-users."""
from __future__ import annotations

import argparse
import getpass
import os
import sys

import settings
from auth import service
from auth.passwords import PasswordRuleError, rules_text
from auth.roles import ROLE_NAMES
from auth.views import AuthViews
from store import region_codes
from store.db import get_engine, session_scope
from store.scope import PermissionDenied, Viewer


def _actor() -> str:
    """Who ran the command, for the audit log (the OS account: the shell is the credential here)."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        user = os.environ.get("USER", "unknown")
    return f"cli:{user}"[:50]


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    print(f"密码规则：{rules_text()}", file=sys.stderr)
    first = getpass.getpass("新密码：")
    second = getpass.getpass("再次输入新密码：")
    if first != second:
        raise service.UserError("两次输入的密码不一致")
    return first


def _run(fn) -> int:  # noqa: ANN001
    try:
        fn()
    except (service.UserError, PasswordRuleError, PermissionDenied) as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    def go() -> None:
        password = None if args.no_password else _read_password(args)
        with session_scope(get_engine()) as s:
            user = service.create_user(s, args.name, args.display_name or args.name, args.role, args.zone,
                                       args.department, password=password, actor=_actor())
            print(f"已创建用户 {user.username}（{ROLE_NAMES[user.role]}，管辖 {user.zone_code}）")
    return _run(go)


def cmd_set_password(args: argparse.Namespace) -> int:
    def go() -> None:
        password = _read_password(args)
        with session_scope(get_engine()) as s:
            service.set_password(s, args.name, password, actor=_actor())
        print(f"已重置 {args.name} 的密码，其现有登录会话已全部结束")
    return _run(go)


def cmd_deactivate(args: argparse.Namespace) -> int:
    def go() -> None:
        with session_scope(get_engine()) as s:
            service.deactivate(s, args.name, actor=_actor())
        print(f"已停用 {args.name}，其现有登录会话已全部结束")
    return _run(go)


def cmd_unlock(args: argparse.Namespace) -> int:
    def go() -> None:
        with session_scope(get_engine()) as s:
            service.unlock(s, args.name, actor=_actor())
        print(f"已解除 {args.name} 的登录锁定")
    return _run(go)


def cmd_set_role(args: argparse.Namespace) -> int:
    def go() -> None:
        with session_scope(get_engine()) as s:
            service.change_role(s, args.name, args.role, actor=_actor())
        print(f"已将 {args.name} 的角色改为{ROLE_NAMES[args.role]}，其现有登录会话已全部结束")
    return _run(go)


def cmd_reset_second_factor(args: argparse.Namespace) -> int:
    def go() -> None:
        with session_scope(get_engine()) as s:
            service.reset_second_factor(s, args.name, actor=_actor())
        print(f"已重置 {args.name} 的二次验证，下次登录时须重新设置")
    return _run(go)


def _operator() -> Viewer:
    """The operator at the command line reads as an account manager over the configured city's whole
    province (every account of this deployment); the shell is the credential here."""
    city = settings.get_settings()["city"]["code"]
    return Viewer(_actor(), "sys_admin", region_codes.ancestor_at(city, "province") or city)


def cmd_list_users(args: argparse.Namespace) -> int:
    with AuthViews.open(get_engine(), _operator()) as views:
        rows = views.users()
    for r in rows:
        state = "启用" if r["active"] else "停用"
        dept = f" 部门={r['department_code']}" if r["department_code"] else ""
        print(f"{r['username']:<20} {r['display_name']:<12} {r['role_name']:<8} {r['zone_code']:<15} {state}{dept}")
    print(f"共 {len(rows)} 个账号")
    return 0


def _password_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--password-stdin", action="store_true",
                   help="从标准输入读取一行作为密码（用于脚本），否则交互输入")


def register(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001 - argparse's own type
    roles = ", ".join(f"{k}={v}" for k, v in ROLE_NAMES.items())
    p = sub.add_parser("create-user", help="创建本地账号")
    p.add_argument("name", help="用户名（小写字母、数字、_ . -）")
    p.add_argument("--role", required=True, choices=sorted(ROLE_NAMES), help=f"角色：{roles}")
    p.add_argument("--zone", required=True, help="管辖区划代码（市 6 位、区县 6 位、街道 9 位、社区 12 位、网格 15 位）")
    p.add_argument("--department", default=None, help="部门代码（部门处置人员必填）")
    p.add_argument("--display-name", default=None, help="姓名（默认同用户名）")
    p.add_argument("--no-password", action="store_true", help="不设本地密码（仅统一身份认证登录）")
    _password_args(p)
    p.set_defaults(func=cmd_create_user)

    p = sub.add_parser("set-password", help="重置账号密码（并结束其登录会话）")
    p.add_argument("name")
    _password_args(p)
    p.set_defaults(func=cmd_set_password)

    p = sub.add_parser("deactivate-user", help="停用账号（并结束其登录会话）")
    p.add_argument("name")
    p.set_defaults(func=cmd_deactivate)

    p = sub.add_parser("unlock-user", help="解除账号登录锁定")
    p.add_argument("name")
    p.set_defaults(func=cmd_unlock)

    p = sub.add_parser("set-role", help="变更账号角色（授予管理员角色也用此命令）")
    p.add_argument("name")
    p.add_argument("role", choices=sorted(ROLE_NAMES), help=f"角色：{roles}")
    p.set_defaults(func=cmd_set_role)

    p = sub.add_parser("reset-2fa", help="重置账号的二次验证（手机丢失时），下次登录重新设置")
    p.add_argument("name")
    p.set_defaults(func=cmd_reset_second_factor)

    p = sub.add_parser("list-users", help="列出账号")
    p.set_defaults(func=cmd_list_users)
