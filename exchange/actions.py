"""The writes pages trigger, each one transaction on the engine: mark a message read (one, or all of
the viewer's), and replay deliveries (系统管理员: failed ones, or every one waiting out a backoff).
Each returns a Chinese message; a refusal raises PermissionDenied or LookupError with one."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Engine, update

from auth import audit
from auth.roles import can
from exchange import queue
from exchange.destinations import LABELS
from store.db import session_scope
from store.models import Message
from store.scope import PermissionDenied, Viewer


def mark_read(engine: Engine, viewer: Viewer, message_id: int, *, now: datetime | None = None) -> bool:
    """Mark one of the viewer's own messages read; False when it was read already or is not theirs."""
    now = now or datetime.now(timezone.utc)
    with session_scope(engine) as s:
        return s.execute(update(Message).where(Message.id == int(message_id), Message.channel == "inapp",
                                               Message.recipient == viewer.username, Message.read_at.is_(None))
                         .values(read_at=now).execution_options(synchronize_session=False)).rowcount == 1


def mark_all_read(engine: Engine, viewer: Viewer, *, now: datetime | None = None) -> int:
    now = now or datetime.now(timezone.utc)
    with session_scope(engine) as s:
        return s.execute(update(Message).where(Message.channel == "inapp", Message.recipient == viewer.username,
                                               Message.read_at.is_(None))
                         .values(read_at=now).execution_options(synchronize_session=False)).rowcount


def replay(engine: Engine, viewer: Viewer, destination: str, *, delivery_ids: list[int] | None = None,
           include_waiting: bool = False, client: str | None = None) -> str:
    """Send again: the destination's failed rows (or `delivery_ids` among them), and with
    `include_waiting` the rows waiting out a backoff too (now, not at their next attempt). Audited."""
    if not can(viewer.role, "manage_exchange"):
        raise PermissionDenied("您的角色无权重发数据交换记录（仅系统管理员）")
    if destination not in LABELS:
        raise LookupError(f"没有名为「{destination}」的交换目的地")
    with session_scope(engine) as s:
        n = queue.replay(s, destination, ids=delivery_ids, failed_only=not include_waiting)
        audit.record(s, viewer, "exchange_replay", object_type="exchange", object_id=destination, client=client,
                     detail={"rows": n, "ids": delivery_ids[:50] if delivery_ids else None,
                             "include_waiting": include_waiting})
    label = LABELS[destination]
    return f"已将 {n} 条{label}记录重新排队发送" if n else f"{label}没有可重发的记录"
