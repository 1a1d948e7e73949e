"""Where deliveries go. Each destination takes a claimed batch and says what became of each row
(exchange.queue.Outcome); the worker settles them.

- UpperDestination (`upper`): the provincial platform. One signed POST per batch; 2xx acknowledges the
  batch (except records the answer lists as rejected); 5xx, 401/403/404/408/409/425/429, timeouts and
  refused connections are retried — the whole destination pauses with backoff, so records wait (in
  order) while the platform is down, and nothing is given up; other 4xx refuse the batch (visible,
  replayable).
- LocalDestination (`local`): our own follow-up, in one transaction with the settlement: message rules
  (exchange.notify) and task results (exchange.tasks.record_results).
- ChannelDestination (`sms`, `webhook`): one message at a time through its adapter (exchange.channels).
"""
from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine, select

from exchange import tasks, upper
from exchange.channels import Channel
from exchange.config import ExchangeConfig
from exchange.notify import Notifier, from_record
from exchange.queue import Claimed, Outcome, settle
from exchange.rules import load_rules
from exchange.signing import sign_headers
from exchange.transport import Client, Fault
from store.db import session_scope
from store.models import Department, ExchangeTask, Message, OutboxRecord
from store.outbox import LOCAL, UPPER

RETRY_STATUSES = frozenset({401, 403, 404, 408, 409, 425, 429})
LABELS = {UPPER: "上级平台", LOCAL: "本地规则（消息、任务回报）", "sms": "短信网关", "webhook": "群机器人"}


class Destination(Protocol):
    name: str
    remote: bool  # a failure of the whole batch pauses the destination
    settles: bool  # records its outcomes itself, in the transaction of its own writes

    def deliver(self, engine: Engine, token: str, items: list[Claimed], now: datetime) -> dict[int, Outcome]: ...


class UpperDestination:
    name = UPPER
    remote = True
    settles = False

    def __init__(self, cfg: ExchangeConfig, client: Client | None = None) -> None:
        self.cfg = cfg
        self.client = client or Client(timeout=cfg.upper_timeout_seconds, client_cert=cfg.upper_client_cert,
                                       client_key=cfg.upper_client_key, ca_bundle=cfg.upper_ca_bundle)

    def bodies(self, engine: Engine, items: list[Claimed]) -> dict[int, dict]:
        """delivery id → the record as the upper platform takes it."""
        with session_scope(engine, readonly=True) as s:
            records = {r.id: r for r in s.scalars(select(OutboxRecord).where(
                OutboxRecord.id.in_([i.record_id for i in items])))}
            departments = dict(s.execute(select(Department.code, Department.name)).all())
            case_ids = {int(r.object_id) for r in records.values() if r.object_type == "event"}
            task_ids: dict[int, list[str]] = {}
            if case_ids:
                for event_id, task_id in s.execute(select(ExchangeTask.event_id, ExchangeTask.task_id)
                                                   .where(ExchangeTask.event_id.in_(case_ids))
                                                   .order_by(ExchangeTask.id)):
                    task_ids.setdefault(event_id, []).append(task_id)
            return {i.id: upper.record_body(self.cfg.system_id, records[i.record_id], departments,
                                            task_ids.get(int(records[i.record_id].object_id), [])
                                            if records[i.record_id].object_type == "event" else [])
                    for i in items if i.record_id in records}

    def deliver(self, engine: Engine, token: str, items: list[Claimed], now: datetime) -> dict[int, Outcome]:  # noqa: ARG002
        bodies = self.bodies(engine, items)
        missing = {i.id: Outcome.refuse("记录已不存在") for i in items if i.id not in bodies}
        ordered = [bodies[i.id] for i in items if i.id in bodies]
        if not ordered:
            return missing
        body = upper.batch(self.cfg.system_id, ordered, now)
        headers = sign_headers(self.cfg.upper_secret, body, self.cfg.system_id, now) if self.cfg.upper_secret else {}
        reply = self.client.post_json(self.cfg.upper_url, body, headers)
        if isinstance(reply, Fault):
            return {**missing, **{i: Outcome.retry(reply.reason) for i in bodies}}
        if reply.ok:
            refused = upper.rejected(reply.body)
            out = {}
            for i, doc in bodies.items():
                why = refused.get(doc["recordId"])
                out[i] = Outcome.refuse(f"上级平台拒收：{why}", reply.status) if why else Outcome.ok(reply.status)
            return {**missing, **out}
        reason = f"HTTP {reply.status}：{reply.text(200)}"
        if reply.status >= 500 or reply.status in RETRY_STATUSES:
            return {**missing, **{i: Outcome.retry(reason, reply.status) for i in bodies}}
        return {**missing, **{i: Outcome.refuse(reason, reply.status) for i in bodies}}


class LocalDestination:
    name = LOCAL
    remote = False
    settles = True

    def __init__(self, cfg: ExchangeConfig, channels: set[str]) -> None:
        self.cfg, self.channels = cfg, channels

    def deliver(self, engine: Engine, token: str, items: list[Claimed], now: datetime) -> dict[int, Outcome]:
        """Apply the rules to each record and settle the rows, all in one transaction: a crash before
        the commit leaves neither messages nor settlement (and the unique keys make a rerun harmless)."""
        rules = load_rules(self.cfg.rules_file)
        with session_scope(engine) as s:
            records = {r.id: r for r in s.scalars(select(OutboxRecord).where(
                OutboxRecord.id.in_([i.record_id for i in items])))}
            notifier = Notifier(s, self.cfg, rules, self.channels)
            outcomes = {}
            for item in items:
                rec = records.get(item.record_id)
                if rec is None:
                    outcomes[item.id] = Outcome.refuse("记录已不存在")
                    continue
                notifier.apply(from_record(rec), now)
                tasks.record_results(s, rec, now)
                outcomes[item.id] = Outcome.ok()
            settle(None, self.name, token, items, outcomes, now=now, session=s)
        return outcomes


class ChannelDestination:
    remote = True
    settles = False

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.name = channel.name

    def deliver(self, engine: Engine, token: str, items: list[Claimed], now: datetime) -> dict[int, Outcome]:  # noqa: ARG002
        with session_scope(engine, readonly=True) as s:
            messages = {m.id: m for m in s.scalars(select(Message).where(
                Message.id.in_([i.message_id for i in items])))}
        out = {}
        for item in items:
            m = messages.get(item.message_id)
            out[item.id] = Outcome.refuse("消息已不存在") if m is None else \
                self.channel.send(m.recipient, m.title, m.body)
        return out
