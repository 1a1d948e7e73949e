"""The transactional outbox and what reads from it (exchange/): records, their deliveries per
destination, each destination's state, the messages sent to people, and tasks handed down.

A record is written by the domain that made the change, in the change's own transaction (store.outbox);
a delivery row per destination is written with it, so a destination never has to discover new records
by scanning (a cursor over ids would skip a record whose transaction commits after a later one's).
Everything after that — sending upward, turning records into messages, sending messages out — is done
by the exchange worker, never inside a user's transaction.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from store.models.base import Base, RegionKeyed, UTCDateTime, utcnow


class OutboxRecord(RegionKeyed, Base):
    """One change worth telling someone about: a case step, an alert, an incident, a dispatch, a task.
    Carries the region codes of what it is about (for scoped reads and the 上报及时率 indicator).

    Written on every workflow step, so it has no index but its key: the worker reaches records by id
    from their delivery rows, and the indicator through the deliveries' own time index."""

    __tablename__ = "outbox"

    city_code: Mapped[str] = mapped_column(String(6))
    district_code: Mapped[str | None] = mapped_column(String(6))
    street_code: Mapped[str | None] = mapped_column(String(9))
    community_code: Mapped[str | None] = mapped_column(String(12))
    grid_code: Mapped[str | None] = mapped_column(String(15))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # case.dispatch / alert.open / incident.open ...
    object_type: Mapped[str] = mapped_column(String(20))  # event / alert / incident / dispatch / task
    object_id: Mapped[str] = mapped_column(String(64))
    # Records with one key go out in id order (a case's steps; an incident and its dispatches).
    order_key: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict] = mapped_column(JSON)
    actor: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    deliveries: Mapped[list["OutboxDelivery"]] = relationship(back_populates="record")


class OutboxDelivery(Base):
    """One record (or one message) to one destination: its state, attempts, lease and last result.

    state: pending → delivered, or failed (the receiver refused it for good; `replay` puts it back).
    A worker claims a pending row by writing its own lease token and expiry; a crash leaves the lease to
    expire and another worker takes the row again (the receiver de-duplicates by record id)."""

    __tablename__ = "outbox_deliveries"
    __table_args__ = (
        # The claim: pending rows of a destination whose time has come, oldest first.
        Index("ix_outbox_deliveries_claim", "destination", "state", "next_attempt_at"),
        # In order per key: "is there an earlier undelivered row with my key?"
        Index("ix_outbox_deliveries_order", "destination", "order_key", "state", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    destination: Mapped[str] = mapped_column(String(20))  # upper / local / sms / webhook
    record_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    order_key: Mapped[str] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # 上报及时率: a record is reported on time when acknowledged by `due_at` (created + [exchange].timely_minutes).
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    on_time: Mapped[bool | None] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)  # HTTP status of the last attempt, if any
    last_error: Mapped[str | None] = mapped_column(Text)

    record: Mapped[OutboxRecord | None] = relationship(back_populates="deliveries")


class ExchangeDestination(Base):
    """A destination's own state: paused after failures (backoff for the whole destination, so new
    records do not hammer a platform that is down), last success and failure, and a cursor for jobs
    that walk time (the deadline scan) or a remote list (pulling tasks)."""

    __tablename__ = "exchange_destinations"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive failed attempts
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    cursor: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Message(Base):
    """One notice to one recipient on one channel: in the 消息中心 (a user), by SMS (a phone number) or
    to a robot webhook (a group). (dedup_key, channel, recipient) is unique: one message per object per
    reason per recipient, however often the rule fires. Text is plain text, shown as such."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("dedup_key", "channel", "recipient", name="uq_messages_dedup"),
        Index("ix_messages_inbox", "channel", "recipient", "read_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(10))  # inapp / sms / webhook
    recipient: Mapped[str] = mapped_column(String(200))  # username / phone / webhook target name
    rule_id: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(60))
    dedup_key: Mapped[str] = mapped_column(String(160))
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    object_type: Mapped[str | None] = mapped_column(String(20))  # event / incident / alert
    object_id: Mapped[str | None] = mapped_column(String(64))
    record_id: Mapped[int | None] = mapped_column(Integer)  # the outbox record that caused it, if any
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ExchangeTask(RegionKeyed, Base):
    """A task handed down by the upper platform (交办/督办): the case it became or raised, by which way
    it came (route / pull), and the task as received. task_id is the upper level's id, unique: the same
    task delivered twice changes nothing the second time."""

    __tablename__ = "exchange_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # 交办 / 督办
    via: Mapped[str] = mapped_column(String(10))  # route / pull
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    outcome: Mapped[str] = mapped_column(String(10))  # created / escalated
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payload: Mapped[dict] = mapped_column(JSON)
    result_record_id: Mapped[int | None] = mapped_column(Integer)  # the task.result record, once the case ended
