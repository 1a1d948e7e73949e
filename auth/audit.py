"""Append-only audit log. Every audited action writes its row in the same transaction as the action.

When `[audit.syslog]` is on, each row is also sent to the security operations centre (auth/syslog.py)
— after its transaction commits, never for one that rolled back.
"""
from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session

from auth import syslog
from store.models import AuditEntry
from store.scope import Viewer

_OUTBOX = "audit_syslog_outbox"


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


def as_dict(entry: AuditEntry) -> dict:
    return {"id": entry.id, "at": entry.at.isoformat() if entry.at else None, "actor": entry.actor,
            "actor_role": entry.actor_role, "action": entry.action, "object_type": entry.object_type,
            "object_id": entry.object_id, "scope": entry.scope, "client": entry.client, "detail": entry.detail}


# Forwarding hooks, on every Session: rows are captured when flushed (ids and defaults are known then)
# and handed to the forwarder only after the commit; a rollback drops them.

@event.listens_for(Session, "after_flush")
def _collect(session: Session, _context) -> None:  # noqa: ANN001
    new = [obj for obj in session.new if isinstance(obj, AuditEntry)]
    if new and syslog.forwarder() is not None:
        session.info.setdefault(_OUTBOX, []).extend(as_dict(obj) for obj in new)


@event.listens_for(Session, "after_commit")
def _forward(session: Session) -> None:
    rows = session.info.pop(_OUTBOX, None)
    target = syslog.forwarder() if rows else None
    if target is not None:
        target.submit(rows)


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_OUTBOX, None)
