"""The read face of the exchange (ExchangeViews): the viewer's own 消息中心, and for the system
administrator the state of every destination.

Messages and deliveries are not region-keyed fact tables; their restrictions are explicit here:
- a message is read only by its recipient (channel inapp, recipient = the viewer's user name);
- the exchange status (backlog, last success, failures with reasons) needs `manage_exchange`
  (系统管理员), and names records by kind and object number only — never their content, which is
  business data the administrator does not see (三权分立).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from auth.roles import can
from exchange.destinations import LABELS
from exchange.queue import FAILED, PENDING, backlog
from store.models import ExchangeDestination, Message, OutboxDelivery, OutboxRecord
from store.outbox import UPPER
from store.scope import PermissionDenied, ReadFace

PAGE_SIZE = 50
# The worker's periodic jobs, shown beside the destinations: their last success says the worker runs.
JOBS = {"deadline_scan": "时限扫描（消息提醒）", "tasks_pull": "上级任务拉取"}


class ExchangeViews(ReadFace):
    def _own(self, *conditions):  # noqa: ANN001, ANN202
        return select(Message).where(Message.channel == "inapp", Message.recipient == self.viewer.username,
                                     *conditions)

    def messages(self, *, limit: int = PAGE_SIZE, page: int = 1, unread_only: bool = False) -> list[dict]:
        """The viewer's messages, newest first: id, title, body (plain text), rule, priority, when, read,
        and the object it links to (link_type event/incident/alert, link_id)."""
        stmt = self._own(Message.read_at.is_(None)) if unread_only else self._own()
        rows = self.session.scalars(stmt.order_by(Message.created_at.desc(), Message.id.desc())
                                    .limit(max(1, int(limit))).offset(max(0, int(page) - 1) * max(1, int(limit))))
        return [{"id": m.id, "title": m.title, "body": m.body, "rule_id": m.rule_id, "priority": m.priority,
                 "created_at": m.created_at, "read_at": m.read_at, "link_type": m.object_type,
                 "link_id": m.object_id} for m in rows]

    def unread_count(self) -> int:
        """How many of the viewer's messages are unread (the sidebar's badge)."""
        return int(self.session.scalar(select(func.count()).select_from(
            self._own(Message.read_at.is_(None)).subquery())) or 0)

    def _require_admin(self) -> None:
        if not can(self.viewer.role, "manage_exchange"):
            raise PermissionDenied("您的角色无权查看数据交换状态（仅系统管理员）")

    def destination_status(self, *, now: datetime | None = None) -> list[dict]:
        """Per destination: label, pending rows and the oldest one's time, failed rows, last success,
        last failure with its reason, paused until."""
        self._require_admin()
        counts = backlog(self.session)
        states = {d.name: d for d in self.session.scalars(select(ExchangeDestination))}
        order = [*LABELS, *JOBS]
        names = sorted(set(counts) | {n for n in states if n in order},
                       key=lambda n: order.index(n) if n in order else len(order))
        out = []
        for name in names:
            c = counts.get(name, {})
            st = states.get(name)
            label = LABELS.get(name) or JOBS.get(name) or name
            out.append({"destination": name, "label": label, "pending": c.get(PENDING, 0),
                        "failed": c.get(FAILED, 0), "oldest_pending": c.get("oldest_pending"),
                        "last_success_at": st.last_success_at if st else None,
                        "last_failure_at": st.last_failure_at if st else None,
                        "last_error": st.last_error if st else None,
                        "paused_until": st.paused_until if st and (now is None or (st.paused_until or now) > now)
                        else None})
        return out

    def failures(self, *, destination: str | None = None, limit: int = PAGE_SIZE) -> list[dict]:
        """Rows that failed for good, and rows waiting to retry after an error, newest error first."""
        self._require_admin()
        d = OutboxDelivery
        stmt = (select(d.id, d.destination, d.state, d.attempts, d.last_status, d.last_error, d.next_attempt_at,
                       d.created_at, OutboxRecord.kind, OutboxRecord.object_type, OutboxRecord.object_id)
                .outerjoin(OutboxRecord, OutboxRecord.id == d.record_id)
                .where((d.state == FAILED) | ((d.state == PENDING) & d.last_error.is_not(None))))
        if destination:
            stmt = stmt.where(d.destination == destination)
        rows = self.session.execute(stmt.order_by(d.id.desc()).limit(max(1, int(limit)))).all()
        return [{"delivery_id": r.id, "destination": r.destination, "label": LABELS.get(r.destination, r.destination),
                 "state": r.state, "attempts": r.attempts, "last_status": r.last_status, "last_error": r.last_error,
                 "next_attempt_at": r.next_attempt_at if r.state == PENDING else None, "created_at": r.created_at,
                 "kind": r.kind or "message", "object_type": r.object_type, "object_ref": r.object_id} for r in rows]

    def timeliness(self, *, since: datetime | None = None) -> dict:
        """Upward records acknowledged, on time, late, and still due: the raw counts behind 上报及时率."""
        self._require_admin()
        d = OutboxDelivery
        stmt = select(d.on_time, func.count()).where(d.destination == UPPER)
        if since is not None:
            stmt = stmt.where(d.created_at >= since)
        counts = dict(self.session.execute(stmt.group_by(d.on_time)).all())
        return {"on_time": int(counts.get(True, 0)), "late": int(counts.get(False, 0)),
                "waiting": int(counts.get(None, 0))}
