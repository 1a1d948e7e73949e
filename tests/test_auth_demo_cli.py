"""Demo accounts (one per role — the three separated administrators each their own —, zones from the
regions) and the account commands of manage.py."""
from __future__ import annotations

import io
import sys
from datetime import datetime, timezone

import numpy as np
import pytest
from sqlalchemy import select

import manage
import settings
from auth import demo, service
from auth.roles import ROLE_NAMES
from events.departments import ensure_demo_departments
from store.db import session_scope
from store.models import Department, User
from tests.test_auth_support import PW, audit_rows, auth_test_settings, make_user  # noqa: F401


def test_demo_users_one_per_role_and_all_can_sign_in(city_engine):
    with session_scope(city_engine) as s:
        ensure_demo_departments(s)  # demo/seed.py runs it just before (the events package owns the list)
        summary = demo.generate(s, np.random.default_rng(1), None, datetime(2026, 10, 5, tzinfo=timezone.utc))
    assert summary["users"] == len(ROLE_NAMES) + 1 and summary["password"] == demo.DEMO_PASSWORD  # two leaders
    with session_scope(city_engine, readonly=True) as s:
        users = {u.username: u for u in s.execute(select(User)).scalars()}
        chengguan_dept = s.get(Department, users["chengguan"].department_code)
    assert {u.role for u in users.values()} == set(ROLE_NAMES)
    assert (users["maonan_lingdao"].zone_code, users["wangge"].zone_code) == ("440902", "440902001001001")
    assert users["zhiban"].zone_code == users["lingdao"].zone_code == users["xitong"].zone_code == "440900"
    # 三权分立: one account per administrator role, and no account holds two (one role column).
    assert sorted(u.role for u in users.values() if u.role in ("sys_admin", "sec_admin", "audit_admin")) == \
        ["audit_admin", "sec_admin", "sys_admin"]
    assert chengguan_dept is not None and chengguan_dept.code.endswith("CGJ")  # a real department row
    for name in users:
        viewer, _token = service.sign_in(city_engine, name, demo.DEMO_PASSWORD, "127.0.0.1")
        assert viewer.username == name
    assert len(audit_rows(city_engine, "user_create")) == len(users)
    assert demo.DEMO_PASSWORD and not service.passwords.password_problems(demo.DEMO_PASSWORD)


def test_demo_needs_regions(db_engine):
    with pytest.raises(RuntimeError, match="行政区划"):
        with session_scope(db_engine) as s:
            demo.demo_users(s)


@pytest.fixture
def cli_db(city_engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", city_engine.url.render_as_string(hide_password=False))
    settings.reload_settings()
    return city_engine


def _run(monkeypatch, argv, stdin_text=""):  # noqa: ANN001
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin_text))
    return manage.main(argv)


def test_cli_create_user_with_password_stdin(cli_db, monkeypatch, capsys):
    code = _run(monkeypatch, ["create-user", "Newbie", "--role", "leader", "--zone", "440902",
                              "--display-name", "新领导", "--password-stdin"], PW + "\n")
    assert code == 0
    assert "已创建用户 newbie" in capsys.readouterr().out
    with session_scope(cli_db, readonly=True) as s:
        user = s.execute(select(User).where(User.username == "newbie")).scalar_one()
    assert (user.role, user.zone_code, user.display_name) == ("leader", "440902", "新领导")
    [row] = audit_rows(cli_db, "user_create")
    assert row.actor.startswith("cli:")
    assert service.sign_in(cli_db, "newbie", PW, "127.0.0.1")[0].zone_code == "440902"


@pytest.mark.parametrize("argv, stdin_text, message", [
    (["create-user", "newbie", "--role", "leader", "--zone", "999999", "--password-stdin"], PW, "不存在"),
    (["create-user", "newbie", "--role", "leader", "--zone", "440902", "--password-stdin"], "short", "至少 10 位"),
    (["create-user", "newbie", "--role", "department", "--zone", "440902", "--password-stdin"], PW, "所属部门"),
    (["set-password", "nobody", "--password-stdin"], PW, "不存在"),
])
def test_cli_errors_are_chinese_and_exit_2(cli_db, monkeypatch, capsys, argv, stdin_text, message):
    assert _run(monkeypatch, argv, stdin_text + "\n") == 2
    assert message in capsys.readouterr().err
    with session_scope(cli_db, readonly=True) as s:
        assert s.execute(select(User)).scalars().all() == []


def test_cli_interactive_prompt_and_account_commands(cli_db, monkeypatch, capsys):
    answers = iter([PW, PW])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert manage.main(["create-user", "zhiban", "--role", "duty_officer", "--zone", "440900"]) == 0
    make_user(cli_db, "admin", "sys_admin")
    assert _run(monkeypatch, ["set-password", "zhiban", "--password-stdin"], "N3w!Password\n") == 0
    assert service.sign_in(cli_db, "zhiban", "N3w!Password", "127.0.0.1")
    assert _run(monkeypatch, ["deactivate-user", "zhiban"]) == 0
    assert _run(monkeypatch, ["unlock-user", "zhiban"]) == 0
    assert _run(monkeypatch, ["list-users"]) == 0
    out = capsys.readouterr().out
    assert "zhiban" in out and "停用" in out and "共 2 个账号" in out
    with pytest.raises(service.LoginFailed):
        service.sign_in(cli_db, "zhiban", "N3w!Password", "127.0.0.1")
    answers = iter([PW, PW + "x"])
    assert manage.main(["create-user", "other", "--role", "leader", "--zone", "440900"]) == 2
    assert "不一致" in capsys.readouterr().err
