"""Scoped reads for the admin page (both backends): account list by zone, audit log filters (actor,
action, object, local date range), injection strings as filter values, and the append-only guard."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DatabaseError

from auth import audit, queries
from auth.audit_guard import audit_guard_statements, install_audit_guard, remove_audit_guard
from store.db import session_scope
from store.models import AuditEntry
from store.scope import PermissionDenied, Viewer
from tests.test_auth_support import auth_test_settings, make_user  # noqa: F401

ADMIN = Viewer("admin", "admin", "440900")
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
    with session_scope(city_engine, readonly=True) as s:
        everything = queries.audit_log(s, ADMIN)
        assert [r["actor"] for r in everything] == ["ghost", "dianbai_100%", "maonan", "zhiban", "zhiban"]
        assert [r["action"] for r in queries.audit_log(s, ADMIN, actor="ZHI")] == ["export", "login"]  # any case
        assert [r["action"] for r in queries.audit_log(s, ADMIN, actor="zhi")] == ["export", "login"]
        assert [r["actor"] for r in queries.audit_log(s, ADMIN, action="login")] == ["maonan", "zhiban"]
        assert [r["object_id"] for r in queries.audit_log(s, ADMIN, object_text="42")] == ["42"]
        assert [r["action"] for r in queries.audit_log(s, ADMIN, object_text="事件")] == ["export"]
        # Local dates (Asia/Shanghai): 2026-10-05 starts at 2026-10-04 16:00 UTC.
        day = queries.audit_log(s, ADMIN, since=date(2026, 10, 5), until=date(2026, 10, 5))
        assert [r["action"] for r in day] == ["login", "export"]
        assert len(queries.audit_log(s, ADMIN, until=date(2026, 10, 4))) == 1
        assert len(queries.audit_log(s, ADMIN, limit=2)) == 2
        # "%" and "_" match themselves, not everything.
        assert [r["actor"] for r in queries.audit_log(s, ADMIN, actor="100%")] == ["dianbai_100%"]
        assert [r["actor"] for r in queries.audit_log(s, ADMIN, actor="i_1")] == ["dianbai_100%"]
        assert queries.audit_actions(s, ADMIN) == ["dispatch", "export", "login", "login_failed"]


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_strings_in_audit_and_user_filters(city_engine, value):
    """Every filter value is data: the result is exactly the rows whose field contains it literally
    (Python's `in` is the oracle), and nothing is changed."""
    _entries(city_engine)
    make_user(city_engine, "zhiban")
    needle = queries.clean_filter(value)
    with session_scope(city_engine, readonly=True) as s:
        everything = queries.audit_log(s, ADMIN)

        def has(field_values):  # noqa: ANN001
            return needle is None or any(needle.lower() in (v or "").lower() for v in field_values)

        assert queries.audit_log(s, ADMIN, actor=value) == [r for r in everything if has([r["actor"]])]
        assert queries.audit_log(s, ADMIN, object_text=value) == \
            [r for r in everything if has([r["object_type"], r["object_id"]])]
        assert queries.audit_log(s, ADMIN, action=value) == \
            (everything if needle is None else [r for r in everything if r["action"] == needle])
        users = queries.list_users(s, ADMIN)
        assert queries.list_users(s, ADMIN, search=value) == \
            [u for u in users if has([u["username"], u["display_name"]])]
    assert [r["actor"] for r in everything if "%" in r["actor"]] == ["dianbai_100%"]
    with session_scope(city_engine, readonly=True) as s:
        assert len(queries.audit_log(s, ADMIN)) == 6  # nothing was deleted or altered


def test_narrow_admin_sees_only_their_zone(city_engine):
    _entries(city_engine)
    make_user(city_engine, "aa1", "leader", "440902")
    make_user(city_engine, "aa2", "leader", "440904001")
    make_user(city_engine, "aa3", "leader", "440900")
    district_admin = Viewer("dadmin", "admin", "440902")
    with session_scope(city_engine, readonly=True) as s:
        rows = queries.audit_log(s, district_admin)
        assert [(r["action"], r["scope"]) for r in rows] == \
            [("user_create", "440902"), ("login", "440902"), ("export", "440902")]
        assert [u["username"] for u in queries.list_users(s, district_admin)] == ["aa1"]
        assert [u["username"] for u in queries.list_users(s, ADMIN)] == ["aa1", "aa2", "aa3"]
        assert queries.list_users(s, ADMIN, role="leader", active=True)[0]["zone_name"] == "茂南区"


@pytest.mark.parametrize("role", ["duty_officer", "leader", "department", "grid_officer"])
def test_other_roles_cannot_read_accounts_or_audit(city_engine, role):
    viewer = Viewer("x", role, "440900", "CGJ")
    with session_scope(city_engine, readonly=True) as s:
        with pytest.raises(PermissionDenied):
            queries.audit_log(s, viewer)
        with pytest.raises(PermissionDenied):
            queries.list_users(s, viewer)


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
