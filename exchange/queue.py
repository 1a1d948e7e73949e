"""The delivery table as a work queue: claim, settle, pause, replay.

Claim. A worker takes up to `limit` pending rows of one destination whose time has come and whose
lease (if any) has run out, writing its own lease token and expiry in the same transaction — with
`FOR UPDATE SKIP LOCKED` on PostgreSQL (two workers skip each other's rows instead of waiting) and a
conditional UPDATE on SQLite (whose writers are serialised by BEGIN IMMEDIATE; the condition re-checks
the lease). A claim holds, for each order key, a run of rows from the key's oldest pending row on,
without a gap — a row whose earlier pending row is leased elsewhere, waiting out a backoff, or not in
this claim waits — so the records of one case leave in the order they were written, even across
workers and retries. The lease is committed before anything is sent; a worker that dies mid-batch leaves its
rows to come back when the lease expires, and only those (unacknowledged) rows are sent again.

Settle. Each claimed row ends as delivered, failed (refused for good) or pending again with its next
attempt pushed back (exponential backoff with jitter). The UPDATE names the lease token: a worker whose
lease ran out and was taken over cannot overwrite the newer claim's result.
"""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, and_, case, func, null, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from store.db import is_sqlite, session_scope
from store.models import ExchangeDestination, OutboxDelivery

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
ERROR_MAX = 500


@dataclass(frozen=True)
class Claimed:
    id: int
    record_id: int | None
    message_id: int | None
    order_key: str
    attempts: int  # including this one


@dataclass(frozen=True)
class Outcome:
    """What became of one row: ok, retry later (a fault on the way or at the receiver), or refused."""

    kind: str  # ok / retry / refuse
    reason: str | None = None
    status: int | None = None  # HTTP status, when there was an answer

    @classmethod
    def ok(cls, status: int | None = None) -> "Outcome":
        return cls("ok", None, status)

    @classmethod
    def retry(cls, reason: str, status: int | None = None) -> "Outcome":
        return cls("retry", reason, status)

    @classmethod
    def refuse(cls, reason: str, status: int | None = None) -> "Outcome":
        return cls("refuse", reason, status)


def backoff_seconds(attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: base·2^(n−1), capped, then a random share between a half and
    the whole of it, so that many rows (and many workers) failing together do not retry together."""
    n = max(1, int(attempts))
    delay = min(cap, base * (2 ** min(n - 1, 30)))
    return delay * (0.5 + 0.5 * (rng or random).random())


def new_token(owner: str) -> str:
    return f"{owner[:40]}:{uuid.uuid4().hex[:16]}"


def ensure_destinations(engine: Engine, names) -> None:  # noqa: ANN001
    """A state row for each destination (created once; concurrent workers may race, so tolerate it)."""
    try:
        with session_scope(engine) as s:
            have = set(s.scalars(select(ExchangeDestination.name)))
            for name in names:
                if name not in have:
                    s.add(ExchangeDestination(name=name, failures=0))
    except IntegrityError:
        pass  # another worker starting at the same moment inserted them first


def paused_until(engine: Engine, destination: str) -> datetime | None:
    with session_scope(engine, readonly=True) as s:
        return s.scalar(select(ExchangeDestination.paused_until).where(ExchangeDestination.name == destination))


def claimable(destination: str, now: datetime):  # noqa: ANN201 - a SQL condition
    """Rows of `destination` a worker may take now: pending, due, not leased, and of an order key none of
    whose pending rows is leased or waiting out a backoff."""
    d, e = OutboxDelivery, aliased(OutboxDelivery)
    # Keys with a row in flight or waiting out a backoff, as one uncorrelated set (a hashed NOT IN on
    # PostgreSQL, however many rows wait): none of that key's rows is taken meanwhile.
    blocked = select(e.order_key).where(e.destination == destination, e.state == PENDING,
                                        or_(e.lease_until >= now, e.next_attempt_at > now))
    return and_(d.destination == destination, d.state == PENDING, d.next_attempt_at <= now,
                or_(d.lease_until.is_(None), d.lease_until < now), d.order_key.not_in(blocked))


def _behind_others(session: Session, ids: list[int]) -> set[int]:
    """Of `ids`, those with an earlier pending row of their key that is not among `ids` (taken by another
    worker this instant, or cut off by the limit): they wait, so that a key's rows leave in order."""
    d, e = OutboxDelivery, aliased(OutboxDelivery)
    return set(session.scalars(select(d.id).join(e, and_(e.destination == d.destination, e.order_key == d.order_key,
                                                         e.state == PENDING, e.id < d.id))
                               .where(d.id.in_(ids), e.id.not_in(ids)).distinct()))


def claim(engine: Engine, destination: str, *, owner: str, limit: int, lease_seconds: float,
          now: datetime | None = None) -> tuple[str, list[Claimed]]:
    """Lease up to `limit` claimable rows to a new token; (token, rows in id order). Several rows of one
    key may come in one claim, always from its head and without a gap."""
    now = now or datetime.now(timezone.utc)
    token = new_token(owner)
    d = OutboxDelivery
    with session_scope(engine) as s:
        candidates = select(d.id).where(claimable(destination, now)).order_by(d.id).limit(int(limit))
        if not is_sqlite(engine):
            candidates = candidates.with_for_update(skip_locked=True)
        ids = list(s.scalars(candidates))
        if not ids:
            return token, []
        s.execute(update(d).where(d.id.in_(ids), or_(d.lease_until.is_(None), d.lease_until < now), d.state == PENDING)
                  .values(lease_owner=token, lease_until=now + timedelta(seconds=lease_seconds),
                          attempts=d.attempts + 1)
                  .execution_options(synchronize_session=False))
        leased = list(s.scalars(select(d.id).where(d.lease_owner == token)))
        # Order per key is checked on what this claim actually holds, against the committed state: on
        # PostgreSQL a row another worker is claiming this instant was skipped, not seen as leased.
        behind = _behind_others(s, leased) if leased else set()
        if behind:
            s.execute(update(d).where(d.id.in_(behind), d.lease_owner == token)
                      .values(lease_owner=None, lease_until=None, attempts=d.attempts - 1)
                      .execution_options(synchronize_session=False))
        rows = s.execute(select(d.id, d.record_id, d.message_id, d.order_key, d.attempts)
                         .where(d.lease_owner == token).order_by(d.id)).all()
    return token, [Claimed(r.id, r.record_id, r.message_id, r.order_key, r.attempts) for r in rows]


def settle(engine: Engine | None, destination: str, token: str, items: list[Claimed], outcomes: dict[int, Outcome],
           *, now: datetime | None = None, base: float = 5.0, cap: float = 900.0, max_attempts: int | None = None,
           rng: random.Random | None = None, session: Session | None = None) -> dict[str, int]:
    """Record each claimed row's outcome under the claim's token (rows whose lease was taken over are
    left to the newer claim). A row without an outcome goes back to pending at once. `max_attempts`
    (channels) turns a retry into a refusal after that many attempts; the upper platform has none, so
    its records wait as long as the platform is down. In `session` when given (a destination that
    writes its own results in the same transaction), else in a transaction of its own."""
    now = now or datetime.now(timezone.utc)
    if session is None:
        with session_scope(engine) as s:
            return settle(None, destination, token, items, outcomes, now=now, base=base, cap=cap,
                          max_attempts=max_attempts, rng=rng, session=s)
    d = OutboxDelivery
    mine = and_(d.lease_owner == token, d.state == PENDING)
    counts = {"ok": 0, "retry": 0, "refuse": 0}
    ok = [i.id for i in items if outcomes.get(i.id, Outcome("none")).kind == "ok"]
    if ok:
        on_time = case((d.due_at.is_(None), null()), (d.due_at >= now, True), else_=False)
        counts["ok"] = session.execute(
            update(d).where(d.id.in_(ok), mine)
            .values(state=DELIVERED, delivered_at=now, on_time=on_time, lease_owner=None, lease_until=None,
                    last_error=None, last_status=_status_of(outcomes, ok))
            .execution_options(synchronize_session=False)).rowcount
    for item in items:
        out = outcomes.get(item.id)
        if out is not None and out.kind == "ok":
            continue
        if out is None:  # not attempted (the batch stopped early): straight back, no penalty
            session.execute(update(d).where(d.id == item.id, mine)
                            .values(lease_owner=None, lease_until=None, attempts=d.attempts - 1)
                            .execution_options(synchronize_session=False))
            continue
        reason = (out.reason or "")[:ERROR_MAX]
        give_up = out.kind == "refuse" or (max_attempts is not None and item.attempts >= max_attempts)
        values = dict(lease_owner=None, lease_until=None, last_error=reason, last_status=out.status)
        if give_up:
            values["state"] = FAILED
            if out.kind != "refuse":
                values["last_error"] = f"已重试 {item.attempts} 次仍未成功：{reason}"[:ERROR_MAX]
        else:
            values["next_attempt_at"] = now + timedelta(seconds=backoff_seconds(item.attempts, base, cap, rng))
        done = session.execute(update(d).where(d.id == item.id, mine).values(**values)
                               .execution_options(synchronize_session=False)).rowcount
        counts["refuse" if give_up else "retry"] += done
    return counts


def _status_of(outcomes: dict[int, Outcome], ids: list[int]) -> int | None:
    return next((outcomes[i].status for i in ids if outcomes[i].status is not None), None)


def note_success(engine: Engine, destination: str, now: datetime | None = None) -> None:
    now = now or datetime.now(timezone.utc)
    with session_scope(engine) as s:
        s.execute(update(ExchangeDestination).where(ExchangeDestination.name == destination)
                  .values(failures=0, paused_until=None, last_success_at=now, updated_at=now))


def note_failure(engine: Engine, destination: str, reason: str, *, now: datetime | None = None, base: float = 5.0,
                 cap: float = 900.0, rng: random.Random | None = None) -> datetime:
    """A failure of the destination itself (down, refusing connections, answering 5xx): pause it with
    the same backoff, so new records wait too instead of each trying the dead platform once."""
    now = now or datetime.now(timezone.utc)
    with session_scope(engine) as s:
        failures = (s.scalar(select(ExchangeDestination.failures).where(ExchangeDestination.name == destination))
                    or 0) + 1
        until = now + timedelta(seconds=backoff_seconds(failures, base, cap, rng))
        s.execute(update(ExchangeDestination).where(ExchangeDestination.name == destination)
                  .values(failures=failures, paused_until=until, last_failure_at=now, last_error=reason[:ERROR_MAX],
                          updated_at=now))
    return until


def replay(session: Session, destination: str, *, ids: list[int] | None = None, failed_only: bool = True,
           now: datetime | None = None) -> int:
    """Put rows of `destination` back to be sent now: the failed ones (or `ids` among them), and — with
    `failed_only=False` — the pending ones waiting out a backoff too. Clears the destination's pause."""
    now = now or datetime.now(timezone.utc)
    d = OutboxDelivery
    states = [FAILED] if failed_only else [FAILED, PENDING]
    stmt = update(d).where(d.destination == destination, d.state.in_(states), d.lease_owner.is_(None))
    if ids is not None:
        stmt = stmt.where(d.id.in_([int(i) for i in ids]))
    n = session.execute(stmt.values(state=PENDING, next_attempt_at=now, attempts=0)
                        .execution_options(synchronize_session=False)).rowcount
    session.execute(update(ExchangeDestination).where(ExchangeDestination.name == destination)
                    .values(paused_until=None, failures=0, updated_at=now))
    return n


def backlog(session: Session) -> dict[str, dict]:
    """Per destination: pending rows, the oldest pending row's age, failed rows."""
    d = OutboxDelivery
    rows = session.execute(select(d.destination, d.state, func.count(), func.min(d.created_at))
                           .where(d.state.in_([PENDING, FAILED])).group_by(d.destination, d.state)).all()
    out: dict[str, dict] = {}
    for dest, state, n, oldest in rows:
        entry = out.setdefault(dest, {"pending": 0, "failed": 0, "oldest_pending": None})
        entry[state] = int(n)
        if state == PENDING:
            entry["oldest_pending"] = oldest
    return out
