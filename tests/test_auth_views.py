"""The auth read face (auth.views.AuthViews) on both backends: the account list by zone (for the
account and security administrators), audit log filters (actor, action, object, local date range)
for the audit administrator only, injection strings as filter values, one's own account, and the
append-only guard."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DatabaseError

from auth import audit
from auth.views import AuthViews, clean_filter
from auth.audit_guard import audit_guard_statements, install_audit_guard, remove_audit_guard
from store.db import session_scope
from store.models import AuditEntry
from store.scope import PermissionDenied, Viewer
from tests.test_auth_support import auth_test_settings, make_user  # noqa: F401

AUDITOR = Viewer("shenji", "audit_admin", "440900")
SYS = Viewer("xitong", "sys_admin", "440900")
SEC = Viewer("anquan", "sec_admin", "440900")
INJECTIONS = ["' OR 1=1 --", "%", "_", "\\", "%_%", "a'||'b", "𠀀", "\x00", "1; DELETE FROM audit_log"]


def _entries(engine):  # noqa: ANN001
    rows = [  # (at UTC, actor, action, object_type, object_id, scope)
        (datetime(2026, 10, 4, 15, 59, tzinfo=timezone.utc), "zhiban", "login", "user", "zhiban", "440900"),
        (datetime(2026, 10, 4, 16, 1, tzinfo=timezone.utc), "zhiban", "export", "事件列表", None, "440902"),
        (datetime(2026, 10, 5, 2, 0, tzinfo=timezone.utc), "maonan", "login", "user", "maonan", "440902"),
        (datetime(2026, 10, 6, 2, 0, tzinfo=timezone.utc), "dianbai_100%", "dispatch", "event", "42", "440904"),
        (datetime(2026, 10, 6, 3, 0, tzinfo=timezone.utc), "ghost", "login_failed", "user", "ghost", None),
    ]
    with session_scope(engine) as s:
        for at, actor, action, otype, oid, scope in rows:
            entry = audit.record(s, actor, action, object_type=otype, object_id=oid, scope=scope)
            entry.at = at


def test_audit_filters(city_engine):
    _entries(city_engine)
    with AuthViews.open(city_engine, AUDITOR) as v:
        everything = v.audit_log()
        assert [r["actor"] for r in everything] == ["ghost", "dianbai_100%", "maonan", "zhiban", "zhiban"]
        assert [r["action"] for r in v.audit_log(actor="ZHI")] == ["export", "login"]  # any case
        assert [r["action"] for r in v.audit_log(actor="zhi")] == ["export", "login"]
        assert [r["actor"] for r in v.audit_log(action="login")] == ["maonan", "zhiban"]
        assert [r["object_id"] for r in v.audit_log(object_text="42")] == ["42"]
        assert [r["action"] for r in v.audit_log(object_text="事件")] == ["export"]
        # Local dates (Asia/Shanghai): 2026-10-05 starts at 2026-10-04 16:00 UTC.
        day = v.audit_log(start=date(2026, 10, 5), end=date(2026, 10, 5))
        assert [r["action"] for r in day] == ["login", "export"]
        assert len(v.audit_log(end=date(2026, 10, 4))) == 1
        assert len(v.audit_log(limit=2)) == 2
        # "%" and "_" match themselves, not everything.
        assert [r["actor"] for r in v.audit_log(actor="100%")] == ["dianbai_100%"]
        assert [r["actor"] for r in v.audit_log(actor="i_1")] == ["dianbai_100%"]
        assert v.audit_actions() == ["dispatch", "export", "login", "login_failed"]


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_strings_in_audit_and_user_filters(city_engine, value):
    """Every filter value is data: the result is exactly the rows whose field contains it literally
    (Python's `in` is the oracle), and nothing is changed."""
    _entries(city_engine)
    make_user(city_engine, "zhiban")
    needle = clean_filter(value)
    with AuthViews.open(city_engine, AUDITOR) as v:
        everything = v.audit_log()

        def has(field_values):  # noqa: ANN001
            return needle is None or any(needle.lower() in (v or "").lower() for v in field_values)

        assert v.audit_log(actor=value) == [r for r in everything if has([r["actor"]])]
        assert v.audit_log(object_text=value) == \
            [r for r in everything if has([r["object_type"], r["object_id"]])]
        assert v.audit_log(action=value) == \
            (everything if needle is None else [r for r in everything if r["action"] == needle])
    with AuthViews.open(city_engine, SYS) as v:
        users = v.users()
        assert v.users(search=value) == [u for u in users if has([u["username"], u["display_name"]])]
    assert [r["actor"] for r in everything if "%" in r["actor"]] == ["dianbai_100%"]
    with AuthViews.open(city_engine, AUDITOR) as v:
        assert len(v.audit_log()) == 6  # nothing was deleted or altered


def test_narrow_administrators_see_only_their_zone(city_engine):
    _entries(city_engine)
    make_user(city_engine, "aa1", "leader", "440902")
    make_user(city_engine, "aa2", "leader", "440904001")
    make_user(city_engine, "aa3", "leader", "440900")
    with AuthViews.open(city_engine, Viewer("dshenji", "audit_admin", "440902")) as v:
        rows = v.audit_log()
        # A district auditor sees rows of the district only, not the unscoped ones (ghost's failure).
        assert [(r["action"], r["scope"]) for r in rows] == \
            [("user_create", "440902"), ("login", "440902"), ("export", "440902")]
    with AuthViews.open(city_engine, Viewer("dxitong", "sys_admin", "440902")) as v:
        assert [u["username"] for u in v.users()] == ["aa1"]
    for manager in (SYS, SEC):
        with AuthViews.open(city_engine, manager) as v:
            assert [u["username"] for u in v.users()] == ["aa1", "aa2", "aa3"]
            assert v.users(role="leader", active=True)[0]["zone_name"] == "茂南区"


@pytest.mark.parametrize("role", ["duty_officer", "leader", "department", "grid_officer", "wall_display"])
def test_business_roles_cannot_read_accounts_or_audit(city_engine, role):
    with AuthViews.open(city_engine, Viewer("x", role, "440900", "CGJ")) as v:
        with pytest.raises(PermissionDenied):
            v.audit_log()
        with pytest.raises(PermissionDenied):
            v.audit_actions()
        with pytest.raises(PermissionDenied):
            v.users()


def test_separation_of_duties_in_reads(city_engine):
    """三权分立: the account administrators cannot read the audit log, the auditor cannot list accounts."""
    _entries(city_engine)
    for manager in (SYS, SEC):
        with AuthViews.open(city_engine, manager) as v, pytest.raises(PermissionDenied, match="审计管理员"):
            v.audit_log()
    with AuthViews.open(city_engine, AUDITOR) as v, pytest.raises(PermissionDenied):
        v.users()


def test_own_account(city_engine):
    make_user(city_engine, "maonan", "leader", "440902")
    with AuthViews.open(city_engine, Viewer("maonan", "leader", "440902")) as v:
        me = v.account()
        assert (me["username"], me["zone_code"], me["totp_policy"], me["totp_enabled"]) == \
            ("maonan", "440902", "optional", False)
        assert me["password_expires_at"] - me["password_changed_at"] == timedelta(days=90)
    with AuthViews.open(city_engine, Viewer("nobody", "leader", "440902")) as v:
        assert v.account() is None


def test_audit_guard_refuses_update_and_delete(city_engine):
    _entries(city_engine)
    with city_engine.begin() as conn:
        install_audit_guard(conn)
        install_audit_guard(conn)  # idempotent (migrations may run it again)
    for stmt in (update(AuditEntry).values(actor="someone-else"), delete(AuditEntry)):
        with pytest.raises(DatabaseError, match="append-only"):
            with session_scope(city_engine) as s:
                s.execute(stmt)
    with session_scope(city_engine) as s:  # inserting still works
        audit.record(s, "admin", "user_create", object_type="user", object_id="new")
    with session_scope(city_engine, readonly=True) as s:
        assert len(s.execute(select(AuditEntry)).scalars().all()) == 6
        assert {a for a in s.execute(select(AuditEntry.actor)).scalars()} >= {"zhiban", "ghost"}
    if city_engine.dialect.name == "postgresql":
        with pytest.raises(DatabaseError, match="append-only"):
            with city_engine.begin() as conn:
                conn.execute(text("TRUNCATE audit_log"))
    with city_engine.begin() as conn:
        remove_audit_guard(conn)
    with session_scope(city_engine) as s:
        s.execute(delete(AuditEntry))  # without the guard (downgrade) the statement goes through


def test_audit_guard_statements_per_dialect():
    assert any("TRUNCATE" in s for s in audit_guard_statements("postgresql"))
    assert any("RAISE(ABORT" in s for s in audit_guard_statements("sqlite"))
    with pytest.raises(ValueError):
        audit_guard_statements("mysql")
