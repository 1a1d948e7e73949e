"""Database-level guard that keeps audit_log append-only, with one narrow, recorded way out: archiving.

The application has no update path for audit rows, and these triggers make the database refuse one
too (a bug, a hand-written script or a compromised app account cannot rewrite history without DDL
rights). Deleting is refused as well, except for a row that is
- older than the newest cutoff recorded in audit_archives (so every deletion follows an archive
  record, itself append-only, naming the file the rows went to), and
- older than MIN_RETENTION_DAYS (180 days; the Cybersecurity Law asks for at least six months), a
  floor written into the trigger itself: no configuration or archive row can shorten it.
`manage.py audit archive` (auth/audit_archive.py) is the one caller. TRUNCATE is always refused.

Call `install_audit_guard(connection)` from the migration (or `audit_guard_statements` with
`op.execute`), after the tables exist. Statements are fixed text, no input goes into them.
"""
from __future__ import annotations

from sqlalchemy import Connection

MIN_RETENTION_DAYS = 180

_PG = [
    f"""
    CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE'
           AND OLD.at < now() - interval '{MIN_RETENTION_DAYS} days'
           AND OLD.at < (SELECT max(archived_before) FROM audit_archives) THEN
            RETURN OLD;  -- archived: see audit_archives
        END IF;
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
    """
    CREATE OR REPLACE FUNCTION audit_archives_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'audit_archives is append-only (' || TG_OP || ' refused)';
    END;
    $$
    """,
    "DROP TRIGGER IF EXISTS audit_archives_no_change ON audit_archives",
    """
    CREATE TRIGGER audit_archives_no_change BEFORE UPDATE OR DELETE ON audit_archives
    FOR EACH ROW EXECUTE FUNCTION audit_archives_append_only()
    """,
    "DROP TRIGGER IF EXISTS audit_archives_no_truncate ON audit_archives",
    """
    CREATE TRIGGER audit_archives_no_truncate BEFORE TRUNCATE ON audit_archives
    FOR EACH STATEMENT EXECUTE FUNCTION audit_archives_append_only()
    """,
]

# SQLite stores the UTC timestamps as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text (store.models.base), which
# compares correctly with datetime('now', …) as text. coalesce: with no archive yet, max() is NULL,
# and a NULL WHEN condition would let the DELETE through.
_SQLITE = [
    "DROP TRIGGER IF EXISTS audit_log_no_update",
    """
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only (UPDATE refused)'); END
    """,
    "DROP TRIGGER IF EXISTS audit_log_no_delete",
    f"""
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    WHEN NOT (OLD.at < datetime('now', '-{MIN_RETENTION_DAYS} days')
              AND OLD.at < coalesce((SELECT max(archived_before) FROM audit_archives), ''))
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only (DELETE refused)'); END
    """,
    "DROP TRIGGER IF EXISTS audit_archives_no_update",
    """
    CREATE TRIGGER audit_archives_no_update BEFORE UPDATE ON audit_archives
    BEGIN SELECT RAISE(ABORT, 'audit_archives is append-only (UPDATE refused)'); END
    """,
    "DROP TRIGGER IF EXISTS audit_archives_no_delete",
    """
    CREATE TRIGGER audit_archives_no_delete BEFORE DELETE ON audit_archives
    BEGIN SELECT RAISE(ABORT, 'audit_archives is append-only (DELETE refused)'); END
    """,
]

_PG_DOWN = [
    "DROP TRIGGER IF EXISTS audit_log_no_update_delete ON audit_log",
    "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
    "DROP FUNCTION IF EXISTS audit_log_append_only()",
    "DROP TRIGGER IF EXISTS audit_archives_no_change ON audit_archives",
    "DROP TRIGGER IF EXISTS audit_archives_no_truncate ON audit_archives",
    "DROP FUNCTION IF EXISTS audit_archives_append_only()",
]
_SQLITE_DOWN = ["DROP TRIGGER IF EXISTS audit_log_no_update", "DROP TRIGGER IF EXISTS audit_log_no_delete",
                "DROP TRIGGER IF EXISTS audit_archives_no_update", "DROP TRIGGER IF EXISTS audit_archives_no_delete"]


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
