"""The boundary version: a counter in the `meta` table bumped by every change to region boundaries.

Locators cached in other processes (the Streamlit server, the MQTT ingester) compare it on use and
rebuild when it moved, so an import is picked up without a restart.

The value is "<counter>-<random tag>": the counter is for people, the tag makes a recreated database
(a re-seeded demo starts counting again at 1) never look like the one a process cached.
"""
from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

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
