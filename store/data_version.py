"""Data versions: one value per data domain, changed in the same transaction as every write to that domain,
so a cached screen figure can be keyed by the versions it was computed from — a write is seen at the next
rerun, and an unchanged database is never recomputed (a time-to-live did both wrong: stale for up to the
TTL, and recomputed every TTL on a database nobody touched).

Where the versions live: rows `data_version:<domain>` in the `meta` table (no table of their own, so no
migration). The value is the UTC time of the write plus a random tag: new on every write, never repeated
by a rebuilt database (a re-seeded demo would otherwise count from 1 again under a running server).

How they move (centrally, nobody calls this by hand): `VersionedSession` — the class `store.db.session_scope`
opens — notes the tables each transaction writes (the unit of work's flushes, INSERT/UPDATE/DELETE
statements run through the session, and `note_write` for loaders that write past the ORM, i.e.
`store.bulkload`) and, just before COMMIT, sets the version of every domain written: one upsert per
write transaction, none for a read. Because it runs last, a PostgreSQL writer holds the version row's
lock only for its commit, and writers of different domains never wait on each other.

Why per domain, not one global version: sensors ingest a batch every second and the wall refreshes every
30 s; with one version every case figure would be recomputed on every sensor batch. Each cached screen
function names the domains it reads (ui/versions.py).
"""
from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Iterable

from sqlalchemy import Table, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import Base, Meta

KEY_PREFIX = "data_version:"
_NOTED = "data_version_domains"  # Session.info key: domains written in the current transaction
NEVER = "0"  # the version of a domain never written (a fresh database)

# Every table belongs to exactly one data domain, or is listed in UNTRACKED with the reason no cached
# screen depends on it. tests/test_data_version.py fails on a table in neither (a new table must choose).
DOMAINS: dict[str, tuple[str, ...]] = {
    "regions": ("regions", "cities", "basemap_features", "basemap_tiles", "departments", "standard_addresses"),
    "events": ("events", "event_transitions", "event_daily_rollup", "event_district_daily",
               "event_department_daily", "event_grid_monthly", "event_grid_month_totals",
               "event_status_cohort"),
    "supervision": ("supervisions", "escalations", "hotspots"),
    # The station registry and its alerts change rarely; the readings every ingest batch (about a second).
    "sensors": ("sensors", "alerts"),
    "readings": ("sensor_readings", "sensor_hourly", "sensor_daily", "sensor_latest", "sensor_area_daily",
                 "quarantined_readings"),
    "emergency": ("incidents", "incident_log", "dispatches", "resources", "inventory"),
    "statistics": ("external_values",),
    "exchange": ("outbox", "outbox_deliveries", "exchange_destinations", "exchange_tasks", "messages"),
    "meta": ("meta",),  # the demo flag, seed facts, geo's boundary/address versions (not these rows)
}
UNTRACKED: dict[str, str] = {
    **{t: "accounts and security: read uncached, on every rerun, by design" for t in (
        "users", "auth_sessions", "audit_log", "audit_archives", "login_attempts", "login_block_windows",
        "password_history", "recovery_codes")},
    **{t: "the open intake API's keys and throttle windows: never shown through a cached screen" for t in (
        "api_keys", "api_call_windows", "open311_tokens")},
    "ingest_status": "ingest counters, written every batch; the status display reads them uncached",
}
ALL: tuple[str, ...] = tuple(sorted(DOMAINS))
_DOMAIN_OF = {table: domain for domain, tables in DOMAINS.items() for table in tables}


def domain_of(table: str) -> str | None:
    """The domain of a table; None for an untracked or unknown one."""
    return _DOMAIN_OF.get(table)


def unclassified_tables() -> list[str]:
    """Tables of the schema in neither DOMAINS nor UNTRACKED (must be empty)."""
    return sorted(set(Base.metadata.tables) - set(_DOMAIN_OF) - set(UNTRACKED))


# -- reading --------------------------------------------------------------------------------------------
def current(session: Session, domains: Iterable[str] = ALL) -> dict[str, str]:
    """{domain: version} for `domains` (NEVER for a domain not written yet). One indexed read of meta."""
    wanted = tuple(domains)
    rows = dict(session.execute(select(Meta.key, Meta.value).where(
        Meta.key.in_([KEY_PREFIX + d for d in wanted]))).all())
    return {d: rows.get(KEY_PREFIX + d, NEVER) for d in wanted}


# -- noting writes --------------------------------------------------------------------------------------
def note_write(session: Session, *tables: Table | str) -> None:
    """Record that this transaction writes `tables` (a Table, a mapped class or a name). The session
    does it by itself for the ORM and for DML it executes; a loader writing through the raw connection
    (COPY, executemany of driver SQL) calls this."""
    noted = session.info.setdefault(_NOTED, set())
    for t in tables:
        name = t if isinstance(t, str) else getattr(getattr(t, "__table__", t), "name", None)
        domain = _DOMAIN_OF.get(name or "")
        if domain is not None:
            noted.add(domain)


def written(session: Session) -> frozenset[str]:
    """Domains the session's current transaction has written so far."""
    return frozenset(session.info.get(_NOTED, ()))


def _bump(session: Session, domains: Iterable[str]) -> str:
    """Set every domain's version to one new value: one upsert, the rows in sorted order (two writers of
    several domains lock them in the same order, so they cannot deadlock). Run on the session's
    connection, not through session.execute, so it is not itself noted as a write of `meta`."""
    value = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S.%fZ}-{secrets.token_hex(3)}"
    conn = session.connection()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(Meta.__table__).values([{"key": KEY_PREFIX + d, "value": value} for d in sorted(domains)])
    conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value}))
    return value


def bump(session: Session, *domains: str) -> str:
    """Set the version of `domains` now, in the caller's transaction (tests, repair commands)."""
    return _bump(session, domains)


class VersionedSession(Session):
    """The Session store.db.session_scope opens: notes written tables and bumps their domains' versions
    just before COMMIT (listeners below, registered once on the class)."""


@event.listens_for(VersionedSession, "after_flush")
def _after_flush(session: Session, _context) -> None:  # noqa: ANN001
    # After the flush the new/dirty/deleted collections still show what was flushed.
    noted = session.info.setdefault(_NOTED, set())
    for obj in (*session.new, *session.deleted):
        _note_mapped(noted, obj)
    for obj in session.dirty:
        if session.is_modified(obj, include_collections=False):
            _note_mapped(noted, obj)


def _note_mapped(noted: set, obj) -> None:  # noqa: ANN001
    for table in getattr(getattr(obj, "__mapper__", None), "tables", ()):
        domain = _DOMAIN_OF.get(table.name)
        if domain is not None:
            noted.add(domain)


@event.listens_for(VersionedSession, "do_orm_execute")
def _on_execute(state) -> None:  # noqa: ANN001
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if table is not None:
            note_write(state.session, table)


@event.listens_for(VersionedSession, "before_commit")
def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        # A SAVEPOINT released: the outer transaction commits later. Bumping here would take the
        # version rows' lock mid-transaction and hold it to the end, queueing every other writer.
        return
    session.flush()  # the last flush happens before this hook's UPDATE, so its tables are noted too
    domains = session.info.pop(_NOTED, None)
    if domains:
        _bump(session, domains)


@event.listens_for(VersionedSession, "after_rollback")
def _after_rollback(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT rolled back: what the outer transaction wrote still stands
    session.info.pop(_NOTED, None)  # nothing was written after all
