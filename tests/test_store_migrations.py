"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL, and
install the append-only guard on the audit log."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, text, update
from sqlalchemy.exc import DatabaseError

from store.db import get_engine
from tests.conftest import _reset_pg
from store.models import AuditEntry, Base
from store.schema import migrate


@pytest.fixture(params=["sqlite", "postgres"])
def blank_engine(request, tmp_path):
    if request.param == "sqlite":
        return get_engine(f"sqlite:///{tmp_path / 'm.db'}")
    url = request.getfixturevalue("pg_url")
    _reset_pg(url)
    return get_engine(url)


def test_migrations_match_models_and_guard_audit(blank_engine):
    migrate(blank_engine)
    migrate(blank_engine)  # idempotent
    with blank_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
        assert diff == [], diff
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0003"
    with blank_engine.begin() as conn:
        conn.execute(insert(AuditEntry).values(actor="t", action="login"))
    with pytest.raises(DatabaseError, match="append-only"):
        with blank_engine.begin() as conn:
            conn.execute(update(AuditEntry).values(actor="x"))
    with pytest.raises(DatabaseError, match="append-only"):
        with blank_engine.begin() as conn:
            conn.execute(AuditEntry.__table__.delete())
