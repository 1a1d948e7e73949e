"""Engine and session factory: SQLite (WAL) by default, PostgreSQL through the same code."""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

import settings
from store.data_version import VersionedSession

_engines: dict[str, Engine] = {}


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001 - DB-API types
        # Let SQLAlchemy, not pysqlite, issue BEGIN, so that BEGIN IMMEDIATE works for writers.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        # Writers take the write lock at the start (BEGIN IMMEDIATE): a read-then-write transaction
        # upgraded later fails with SQLITE_BUSY instead of waiting for the busy timeout.
        # Readers use a deferred BEGIN so that, under WAL, they never wait for a writer.
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL per process."""
    url = url or settings.database_url()
    if url not in _engines:
        busy = int(settings.get_settings()["database"].get("busy_timeout_ms", 15000))
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": busy / 1000, "check_same_thread": False})
            _configure_sqlite(engine, busy)
        else:
            # No JIT: it compiled the 40-subquery statement of a district's tile grid for 0.75 s to run it
            # in 0.36 s (city scale). A dashboard's queries are many and short; JIT pays off on neither.
            engine = create_engine(url, pool_pre_ping=True, connect_args={"options": "-c jit=off"})
        _engines[url] = engine
    return _engines[url]


def dispose_engines() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def session_scope(engine: Engine | None = None, *, readonly: bool = False) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error.

    Write transactions (the default) take SQLite's write lock up front; `readonly=True` does not.
    Every session is a store.data_version.VersionedSession: a transaction that writes moves the data
    version of each domain it wrote, in the same commit (a "read-only" one that writes all the same, too).
    """
    engine = engine or get_engine()
    if is_sqlite(engine) and not readonly:
        engine = engine.execution_options(sqlite_begin="IMMEDIATE")
    maker = sessionmaker(bind=engine, expire_on_commit=False, class_=VersionedSession)
    with maker() as session, session.begin():
        yield session
    if not readonly:
        _note_own_write(engine)


# -- the read replica (docs/scale-out.md) ------------------------------------------------------------
# Writes always go to the primary. A screen's reads (ReadFace.open → read_session) go to the replica
# configured as [database].replica_url — but only for a browser session (ui.data hands its ReadRoute over;
# the sign-in routes, the open API, commands and workers read the primary), and only once the replica has
# replayed that session's own last write: after a write the session notes the primary's WAL position,
# and while the replica's replay position is behind it (a few milliseconds, normally) the session reads
# the primary. So a case panel right after an action, or the console after 立案, shows the action, and
# everybody else reads the replica. An unreachable replica is skipped for REPLICA_RETRY_S.

log = logging.getLogger("store.db")
REPLICA_RETRY_S = 5.0


@dataclass
class ReadRoute:
    """One browser session's claim to see its own writes: the primary's WAL position after its last write
    (None: nothing pending), and a time before which it reads the primary whatever (monotonic seconds;
    used when the position could not be read)."""
    lsn: str | None = None
    primary_until: float = 0.0


_route_provider: Callable[[], ReadRoute | None] | None = None
_replica_down_until = 0.0


def set_route_provider(provider: Callable[[], ReadRoute | None] | None) -> Callable[[], ReadRoute | None] | None:
    """Install the function that names the current browser session's ReadRoute (None outside one);
    returns the previous one. ui.data installs it: store knows nothing of Streamlit."""
    global _route_provider
    previous, _route_provider = _route_provider, provider
    return previous


def _current_route() -> ReadRoute | None:
    provider = _route_provider
    return provider() if provider is not None else None


def replica_engine(engine: Engine | None = None) -> Engine | None:
    """The read replica's engine when one is configured and `engine` (default: the configured database)
    is the configured PostgreSQL primary; else None."""
    url = settings.replica_url()
    if not url:
        return None
    primary = settings.database_url()
    if primary.startswith("sqlite") or (engine is not None and engine is not _engines.get(primary)):
        return None
    return get_engine(url)


def _note_own_write(engine: Engine) -> None:
    """After a committed write: remember where the primary's WAL stands for this browser session."""
    if _route_provider is None or replica_engine(engine) is None:
        return
    route = _current_route()
    if route is None:
        return
    try:
        with engine.connect() as conn:
            route.lsn = conn.exec_driver_sql("SELECT pg_current_wal_insert_lsn()::text").scalar()
    except SQLAlchemyError:  # the write committed; without its position read the primary for a while
        route.primary_until = time.monotonic() + 30
        log.warning("无法读取主库 WAL 位置：本会话 30 秒内从主库读取", exc_info=True)


def _replica_ready(replica: Engine, route: ReadRoute) -> bool:
    """May this session read the replica now? It must be reachable, and past the session's last write."""
    global _replica_down_until
    now = time.monotonic()
    if now < _replica_down_until or now < route.primary_until:
        return False
    try:
        with replica.connect() as conn:  # the pool's pre-ping tells a dead replica
            if route.lsn is not None:
                caught_up = conn.execute(text("SELECT pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)"),
                                         {"lsn": route.lsn}).scalar()
                if not caught_up:
                    return False
                route.lsn = None
    except SQLAlchemyError:
        _replica_down_until = now + REPLICA_RETRY_S
        log.warning("只读副本不可用，%s 秒内从主库读取", REPLICA_RETRY_S, exc_info=True)
        return False
    return True


@contextmanager
def read_session(engine: Engine | None = None, *, fresh: bool = False) -> Iterator[Session]:
    """A read-only session for a screen's reads: on the replica when the rules above allow it, else on
    `engine` (the primary). `fresh=True` reads the primary always (a read that must see the newest data)."""
    engine = engine or get_engine()
    replica = None if fresh else replica_engine(engine)
    route = _current_route() if replica is not None else None
    target = replica if route is not None and _replica_ready(replica, route) else engine
    with session_scope(target, readonly=True) as session:
        yield session


def replica_status() -> dict | None:
    """The configured read replica as both servers see it (None without one): on the replica, whether it
    is a standby, replay paused, the last replayed transaction's commit time and the WAL received but not
    yet replayed; on the primary, each standby's pg_stat_replication row (lag in bytes and the replay lag
    PostgreSQL measured; the LSN columns need superuser or pg_read_all_stats). `lag_seconds` is the replay
    lag, 0 when the standby has replayed everything (PostgreSQL reports no lag once it is idle)."""
    replica = replica_engine()
    if replica is None:
        return None
    out: dict = {"replica": replica.url.render_as_string(hide_password=True), "reachable": False,
                 "standbys": [], "lag_seconds": None}
    try:
        with replica.connect() as conn:
            row = conn.execute(text(
                "SELECT pg_is_in_recovery(), pg_is_in_recovery() AND pg_is_wal_replay_paused(), "
                "pg_last_xact_replay_timestamp(), "
                "pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())")).one()
        out.update(reachable=True, in_recovery=bool(row[0]), replay_paused=bool(row[1]), last_replay_at=row[2],
                   unreplayed_bytes=None if row[3] is None else int(row[3]))
    except SQLAlchemyError as exc:
        out["error"] = str(exc.orig if getattr(exc, "orig", None) is not None else exc).splitlines()[0][:200]
    with get_engine().connect() as conn:
        rows = conn.execute(text(
            "SELECT application_name, client_addr::text, state, "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), sent_lsn), pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), "
            "EXTRACT(epoch FROM replay_lag) FROM pg_stat_replication ORDER BY application_name, client_addr")).all()
    out["standbys"] = [{"name": r[0], "client": r[1], "state": r[2],
                        "sent_behind_bytes": None if r[3] is None else int(r[3]),
                        "replay_behind_bytes": None if r[4] is None else int(r[4]),
                        "replay_lag_seconds": None if r[5] is None else float(r[5])} for r in rows]
    lags = [s["replay_lag_seconds"] if s["replay_lag_seconds"] is not None
            else 0.0 if s["replay_behind_bytes"] == 0 else None for s in out["standbys"]]
    known = [x for x in lags if x is not None]
    out["lag_seconds"] = max(known) if known else None
    return out


def refresh_statistics(engine: Engine) -> None:
    """After a bulk load: ANALYZE so the planners know the new table sizes (SQLite otherwise reads a
    year of sensor data through the city-code index, as selective-looking as any), and on SQLite fold
    the write-ahead log back into the database file (a big load leaves a WAL as large as the data)."""
    if is_sqlite(engine):
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:  # VACUUM also sets PostgreSQL's visibility map, without which no index-only scan happens
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
