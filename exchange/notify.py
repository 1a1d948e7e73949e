"""Records → messages: apply the rules (exchange/rules.yaml) to outbox records, and to the deadline scan's
findings, and write one message per recipient and channel — in the 消息中心 at once, and for SMS and
robot webhooks a delivery row the worker sends (held to the end of the quiet hours unless urgent).

De-duplication is the database's: (dedup_key, channel, recipient) is unique and rows are inserted with
ON CONFLICT DO NOTHING, so one object gets one message per reason per recipient however often its rule
fires, by however many workers at once. The dedup key is `<linked object>:<reason>`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from events.statuses import OPEN_STATUSES, STATUS_NAMES
from events.workflow import STAGE_OF
from exchange.config import ExchangeConfig
from exchange.recipients import Directory, resolve
from exchange.rules import Rule, RuleSet, render
from store.models import Department, Event, Message, OutboxDelivery
from store.outbox import region_codes_of, snapshot
from store.period import local_tz

STAGE_NAMES = {"register": "立案", "dispatch": "派遣", "handle": "处置", "verify": "核查结案"}
NEAR, OVERDUE = "case.deadline_near", "case.overdue"


@dataclass(frozen=True)
class Finding:
    """A record for the rules: an outbox record, or what the deadline scan found (no outbox row)."""

    kind: str
    object_type: str
    object_id: str
    payload: dict
    codes: dict
    record_id: int | None = None


def from_record(rec) -> Finding:  # noqa: ANN001 - an OutboxRecord
    return Finding(rec.kind, rec.object_type, rec.object_id, rec.payload or {}, region_codes_of(rec), rec.id)


def link_of(f: Finding) -> tuple[str, str] | None:
    """The object a message links to: a case (?case=ID) or an incident (?incident=ID)."""
    p = f.payload
    if f.object_type == "event":
        return "event", f.object_id
    if f.object_type == "incident":
        return "incident", f.object_id
    if f.object_type == "dispatch" and p.get("incident_id"):
        return "incident", str(p["incident_id"])
    if f.object_type == "alert":
        return ("event", str(p["event_id"])) if p.get("event_id") else ("alert", f.object_id)
    if f.object_type == "task" and p.get("case_id"):
        return "event", str(p["case_id"])
    return None


def _display(value):  # noqa: ANN001, ANN202
    """Payload times (ISO, UTC) as local 'YYYY-MM-DD HH:MM'; other values as they are."""
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and "T" in value:
        try:
            return datetime.fromisoformat(value).astimezone(local_tz()).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return value
    return value


def fields_of(f: Finding, departments: dict[str, str]) -> tuple[dict, dict]:
    """(raw fields, display fields) of a finding: the payload with its change merged in, region codes,
    and what templates like to say (status, stage and department names)."""
    raw = {**f.codes, **f.payload, **(f.payload.get("_change") or {})}
    raw.pop("_change", None)
    status = raw.get("status")
    stage = raw.get("stage") or STAGE_OF.get(status or "")
    raw.update(stage=stage or "", stage_name=STAGE_NAMES.get(stage or "", ""),
               status_name=STATUS_NAMES.get(status or "", status or ""),
               department_name=departments.get(raw.get("department_code") or "", ""))
    if f.object_type == "event":
        raw.setdefault("case_id", f.object_id)
    return raw, {k: _display(v) for k, v in raw.items()}


def priority_of(rule: Rule, raw: dict) -> str:
    if rule.priority:
        return rule.priority
    if raw.get("priority") == "urgent" or raw.get("severity") == "严重":
        return "urgent"
    return "normal"


def _insert(session: Session):  # noqa: ANN202
    return (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert(Message)


class Notifier:
    """Applies a rule set within one session (the worker's transaction)."""

    def __init__(self, session: Session, cfg: ExchangeConfig, rules: RuleSet, channels: set[str]) -> None:
        self.session, self.cfg, self.rules, self.channels = session, cfg, rules, channels
        self.directory = Directory(session)
        self.departments = dict(session.execute(select(Department.code, Department.name)).all())

    def apply(self, f: Finding, now: datetime) -> int:
        """Write the messages `f` causes; the number of new messages."""
        rules = self.rules.matching(f.kind, {**f.payload, **(f.payload.get("_change") or {})})
        if not rules:
            return 0
        raw, shown = fields_of(f, self.departments)
        link = link_of(f)
        written = 0
        for rule in rules:
            who = resolve(rule.to, raw, self.directory, self.cfg)
            priority = priority_of(rule, raw)
            reason = render(rule.reason, raw)[:60]
            key = f"{link[0]}:{link[1]}:{reason}" if link else f"{f.object_type}:{f.object_id}:{reason}"
            title = render(rule.title, shown)[:200]
            body = render(rule.text, shown)[:2000]
            targets = [("inapp", u) for u in who.users] if "inapp" in rule.channels else []
            if who.group:
                contact = self.cfg.contacts.get(who.group)
                if "sms" in rule.channels and "sms" in self.channels and contact:
                    targets += [("sms", phone) for phone in contact.phones]
                if "webhook" in rule.channels and "webhook" in self.channels and \
                        ((contact and contact.webhook) or self.cfg.webhook_url):
                    targets.append(("webhook", who.group))
            for channel, recipient in targets:
                written += self._write(rule, f, link, key, reason, channel, recipient, priority, title, body, now)
        return written

    def _write(self, rule: Rule, f: Finding, link, key: str, reason: str, channel: str,  # noqa: ANN001
               recipient: str, priority: str, title: str, body: str, now: datetime) -> int:
        stmt = _insert(self.session).values(
            channel=channel, recipient=recipient, rule_id=rule.id, reason=reason, dedup_key=key[:160],
            priority=priority, title=title, body=body, object_type=link[0] if link else None,
            object_id=link[1] if link else None, record_id=f.record_id, created_at=now,
        ).on_conflict_do_nothing(index_elements=["dedup_key", "channel", "recipient"]).returning(Message.id)
        message_id = self.session.execute(stmt).scalar_one_or_none()
        if message_id is None:
            return 0  # this object already had this message for this reason: de-duplicated
        if channel != "inapp":
            held = self.rules.quiet_hours.release_at(now) if rule.quiet and \
                self.rules.quiet_hours.holds(channel, priority) else None
            self.session.add(OutboxDelivery(destination=channel, message_id=message_id, order_key=f"message:{message_id}",
                                            state="pending", attempts=0, next_attempt_at=held or now, created_at=now))
        return 1


def deadline_findings(session: Session, since: datetime, now: datetime) -> list[Finding]:
    """Open cases whose current stage's warning time (将到) or deadline (超期) fell in (since, now]."""
    e = Event
    open_now = e.status.in_(OPEN_STATUSES)
    near = session.scalars(select(e).where(open_now, e.stage_warn_at > since, e.stage_warn_at <= now,
                                           e.stage_deadline > now).order_by(e.id)).all()
    passed = session.scalars(select(e).where(open_now, e.stage_deadline > since, e.stage_deadline <= now)
                             .order_by(e.id)).all()
    out = []
    for kind, rows in ((NEAR, near), (OVERDUE, passed)):
        for ev in rows:
            payload = snapshot(ev)
            payload["stage"] = STAGE_OF.get(ev.status) or ""
            out.append(Finding(kind, "event", str(ev.id), payload, region_codes_of(ev)))
    return out


def scan_window(cursor: str | None, now: datetime, lookback_hours: float) -> datetime:
    """Where the deadline scan starts: the last scan's end, or `lookback_hours` ago on a first run."""
    if cursor:
        try:
            since = datetime.fromisoformat(cursor)
            if since.tzinfo is not None:
                return min(since, now)
        except ValueError:
            pass
    return now - timedelta(hours=lookback_hours)

