"""The boundary version: a counter in the `meta` table bumped by every change to region boundaries.

Locators cached in other processes (the Streamlit server, the MQTT ingester) compare it on use and
rebuild when it moved, so an import is picked up without a restart.

The value is "<counter>-<random tag>": the counter is for people, the tag makes a recreated database
(a re-seeded demo starts counting again at 1) never look like the one a process cached.
"""
from __future__ import annotations

import threading
import weakref
import uuid
from typing import Any, Callable

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from store.db import get_engine, session_scope
from store.models import Meta

KEY = "boundary_version"


def boundary_version(session: Session) -> str:
    """The current version string ("0" when boundaries were never imported)."""
    return session.scalar(select(Meta.value).where(Meta.key == KEY)) or "0"


def _counter(value: str | None) -> int:
    try:
        return int(str(value or "0").split("-", 1)[0])
    except ValueError:
        return 0


def bump_boundary_version(session: Session) -> str:
    """Increment inside the caller's transaction. FOR UPDATE (PostgreSQL) serialises concurrent
    imports so no bump is lost; SQLite writers already hold the database lock (BEGIN IMMEDIATE)."""
    row = session.scalars(select(Meta).where(Meta.key == KEY).with_for_update()).first()
    if row is None:
        row = Meta(key=KEY, value="0")
        session.add(row)
    row.value = f"{_counter(row.value) + 1}-{uuid.uuid4().hex[:8]}"
    session.flush()
    return row.value


class VersionedCache:
    """One object per (database URL, city), rebuilt only when its version (read from the database on every
    use) has moved, so an import in any process is picked up without a restart. Keyed by database URL, not
    engine identity: store.db.session_scope binds write sessions to an execution-options copy of the engine,
    and every such copy must share one object.

    Given a Session, the version and the data are read through it (its own uncommitted writes included, no
    second connection). Given an engine, they are read in a deferred (non-locking) transaction even when the
    engine copy carries SQLite's BEGIN IMMEDIATE, so a caller already holding the write lock does not wait
    on itself."""

    def __init__(self, version: Callable[[Session], str], build: Callable[[Session, str], Any]):
        self._version, self._build = version, build
        self._items: dict[tuple[str, str], tuple[str, Any]] = {}
        self._lock = threading.Lock()
        _ALL.add(self)

    def get(self, bind: Engine | Session | None, city_code: str) -> Any:  # noqa: ANN401 - what `build` makes
        if isinstance(bind, Session):
            return self._cached(bind, (bind.get_bind().url.render_as_string(hide_password=True), city_code))
        engine = bind or get_engine()
        reader = engine.execution_options(sqlite_begin="DEFERRED") if engine.dialect.name == "sqlite" else engine
        with session_scope(reader, readonly=True) as session:
            return self._cached(session, (engine.url.render_as_string(hide_password=True), city_code))

    def _cached(self, session: Session, key: tuple[str, str]) -> Any:  # noqa: ANN401
        version = self._version(session)
        cached = self._items.get(key)
        if cached and cached[0] == version:
            return cached[1]
        with self._lock:  # one build per version, however many sessions ask at once
            cached = self._items.get(key)
            if cached and cached[0] == version:
                return cached[1]
            item = self._build(session, key[1])
            self._items[key] = (version, item)
            return item

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_ALL: "weakref.WeakSet[VersionedCache]" = weakref.WeakSet()


def clear_all_caches() -> None:
    """Forget every VersionedCache's objects: for a database emptied and refilled under the same URL
    (test fixtures), where a version string can repeat ("0" before any import)."""
    for cache in list(_ALL):
        cache.clear()

