"""The point → region locator for the database a session is bound to."""
from __future__ import annotations

from sqlalchemy.orm import Session

from geo.locate import Locator, get_locator


def locator_for(session: Session) -> Locator:
    """`store.db.session_scope` binds write sessions to an execution-options copy of the engine (it
    carries SQLite's BEGIN IMMEDIATE). Handing that copy to get_locator would make its read take the
    write lock this session already holds, and defeat the locator cache (keyed by engine identity),
    so the base engine is passed instead."""
    bind = session.get_bind()
    return get_locator(getattr(bind, "_proxied", bind))
