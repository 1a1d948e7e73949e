"""Engine and session factory: SQLite (WAL) by default, PostgreSQL through the same code."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

import settings

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
    """
    engine = engine or get_engine()
    if is_sqlite(engine) and not readonly:
        engine = engine.execution_options(sqlite_begin="IMMEDIATE")
    maker = sessionmaker(bind=engine, expire_on_commit=False)
    with maker() as session, session.begin():
        yield session


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
