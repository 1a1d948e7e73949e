"""Database-level guard that keeps audit_log append-only.

The application has no update or delete path for audit rows; these triggers make the database refuse
one too (a bug, a hand-written script or a compromised app account cannot rewrite history without
DDL rights). Call `install_audit_guard(connection)` from the migration (or `audit_guard_statements`
with `op.execute`), after audit_log is created. Statements are fixed text, no input goes into them.
"""
from __future__ import annotations

from sqlalchemy import Connection

_PG = [
    """
    CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- Message built by concatenation: a percent sign would be taken for a DB-API parameter.
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'audit_log is append-only (' || TG_OP || ' refused)';
    END;
    $$
    """,
    "DROP TRIGGER IF EXISTS audit_log_no_update_delete ON audit_log",
    """
    CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
    """,
    "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
    """
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()
    """,
]

_SQLITE = [
    "DROP TRIGGER IF EXISTS audit_log_no_update",
    """
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only (UPDATE refused)'); END
    """,
    "DROP TRIGGER IF EXISTS audit_log_no_delete",
    """
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only (DELETE refused)'); END
    """,
]

_PG_DOWN = [
    "DROP TRIGGER IF EXISTS audit_log_no_update_delete ON audit_log",
    "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
    "DROP FUNCTION IF EXISTS audit_log_append_only()",
]
_SQLITE_DOWN = ["DROP TRIGGER IF EXISTS audit_log_no_update", "DROP TRIGGER IF EXISTS audit_log_no_delete"]


def audit_guard_statements(dialect: str, *, drop: bool = False) -> list[str]:
    """The DDL for `dialect` ("postgresql" or "sqlite"); drop=True gives the downgrade."""
    if dialect == "postgresql":
        return list(_PG_DOWN if drop else _PG)
    if dialect == "sqlite":
        return list(_SQLITE_DOWN if drop else _SQLITE)
    raise ValueError(f"no audit guard for dialect {dialect!r}")


def install_audit_guard(connection: Connection) -> None:
    for statement in audit_guard_statements(connection.dialect.name):
        connection.exec_driver_sql(statement)


def remove_audit_guard(connection: Connection) -> None:
    for statement in audit_guard_statements(connection.dialect.name, drop=True):
        connection.exec_driver_sql(statement)
