"""Append-only audit log. Every audited action writes its row in the same transaction as the action."""
from __future__ import annotations

from sqlalchemy.orm import Session

from store.models import AuditEntry
from store.scope import Viewer


def record(
    session: Session,
    actor: Viewer | str,
    action: str,
    *,
    object_type: str | None = None,
    object_id: str | int | None = None,
    scope: str | None = None,
    client: str | None = None,
    detail: dict | None = None,
) -> AuditEntry:
    """Add an audit row to `session` (the caller's transaction commits or rolls back both together)."""
    if isinstance(actor, Viewer):
        name, role, scope = actor.username, actor.role, scope or actor.zone_code
    else:
        name, role = actor, None
    entry = AuditEntry(
        actor=name, actor_role=role, action=action, object_type=object_type,
        object_id=None if object_id is None else str(object_id), scope=scope, client=client, detail=detail,
    )
    session.add(entry)
    return entry
