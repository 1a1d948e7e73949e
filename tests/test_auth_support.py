"""Shared fixtures and helpers for the auth tests (imported by tests/test_auth_*.py; no tests here).

Argon2 runs with a cheap cost in tests (the production cost is ~0.1 s per hash), and the cookie
secret comes from the environment so no key file is written into data/.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

import settings
from auth import service
from store.db import session_scope

PW = "Str0ng!Passw0rd"
T0 = datetime(2026, 10, 5, 1, 0, tzinfo=timezone.utc)  # 09:00 Asia/Shanghai
TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


@pytest.fixture(autouse=True)
def auth_test_settings(monkeypatch):
    monkeypatch.setenv("CITYOPS_AUTH_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("CITYOPS_AUTH_ARGON2_MEMORY_KIB", "8192")
    monkeypatch.setenv("CITYOPS_AUTH_ARGON2_PARALLELISM", "1")
    monkeypatch.setenv("CITYOPS_SECRET_KEY", TEST_SECRET)
    settings.reload_settings()
    yield
    monkeypatch.undo()
    settings.reload_settings()


def make_user(engine, username: str, role: str = "duty_officer", zone: str = "440900",  # noqa: ANN001
              department: str | None = None, password: str | None = PW, display_name: str | None = None) -> None:
    with session_scope(engine) as s:
        service.create_user(s, username, display_name or username, role, zone, department, password=password)


def audit_rows(engine, action: str | None = None) -> list:  # noqa: ANN001
    from sqlalchemy import select

    from store.models import AuditEntry

    with session_scope(engine, readonly=True) as s:
        stmt = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        return list(s.execute(stmt).scalars())
