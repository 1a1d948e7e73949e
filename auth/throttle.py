"""Sign-in throttling by account AND client, with a progressive delay instead of a lockout.

Why not "five failures lock the account": that lets anyone lock anyone out (a weapon), and a name that
never answers "locked" tells an attacker it does not exist (an oracle). Here:

- per (account, client): `[auth].max_failed_logins` failures in `lockout_minutes` are free; after that
  each further attempt from that client for that account must wait 2 s, 4 s, 8 s … (doubling from
  `[auth].throttle_base_seconds`, capped at `lockout_minutes`) after the previous failure. A success
  from that client resets the pair. Another address — the real user at their desk — is not affected.
- per client (any account): `max_failed_per_client` failures in the window are free, then the same
  doubling delay; a success does not reset it (one valid account must not launder a spraying run).
- per account (any client): once `max_failed_per_account` failures from many addresses are seen in the
  window, a client that has itself failed for that account gets no free attempts any more (a
  distributed guess gets one try per address, not five). A fresh address — no failure of its own for
  that account — is never held back, so the right password from a new desk still works.

Everything is keyed by the name as typed (normalised), never by whether the account exists, so an
unknown name throttles and answers exactly like a known one.

Refused attempts are not recorded as attempts (they would lengthen the delay forever) and are not
audited one by one: they are counted per client and window in login_block_windows, and each closed
window becomes one `login_blocked` audit row with its count (`flush_blocked`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import settings
from auth import audit
from store.models import LoginAttempt
from store.models.security import LoginBlockWindow

MAX_NAMES_PER_WINDOW = 10


@dataclass(frozen=True)
class Policy:
    window: timedelta
    base: timedelta
    per_pair: int
    per_client: int
    per_account: int
    audit_window: timedelta

    @classmethod
    def from_settings(cls) -> "Policy":
        cfg = settings.get_settings()
        auth_cfg, sec = cfg["auth"], cfg.get("security", {})
        return cls(window=timedelta(minutes=float(auth_cfg.get("lockout_minutes", 15))),
                   base=timedelta(seconds=float(auth_cfg.get("throttle_base_seconds", 2))),
                   per_pair=int(auth_cfg.get("max_failed_logins", 5)),
                   per_client=int(auth_cfg.get("max_failed_per_client", 20)),
                   per_account=int(auth_cfg.get("max_failed_per_account", 30)),
                   audit_window=timedelta(seconds=float(sec.get("blocked_audit_window_seconds", 300))))

    def delay(self, excess: int) -> timedelta:
        """The wait after the `excess`-th failure beyond the free ones (1 → base, 2 → 2·base, …)."""
        if excess <= 0:
            return timedelta(0)
        seconds = self.base.total_seconds() * 2 ** min(excess - 1, 40)
        return min(timedelta(seconds=seconds), self.window)


@dataclass(frozen=True)
class Attempt:
    client: str
    username: str
    at: datetime
    success: bool


@dataclass(frozen=True)
class Block:
    reason: str  # "pair" (this account from this client) / "client" (this client, any account)
    until: datetime

    def wait_seconds(self, now: datetime) -> int:
        return max(1, int((self.until - now).total_seconds() + 0.999))


def _since_last_success(attempts: list[Attempt], start: datetime) -> list[Attempt]:
    floor = max([start, *(a.at for a in attempts if a.success)])
    return [a for a in attempts if not a.success and a.at > floor]


def _block_after(failures: list[Attempt], free: int, policy: Policy) -> datetime | None:
    if len(failures) < free or not failures:
        return None
    return max(a.at for a in failures) + policy.delay(len(failures) - free + 1)


def verdict(attempts: list[Attempt], client: str, username: str, now: datetime, policy: Policy) -> Block | None:
    """The block in force for this client and name at `now`, or None. Pure: `attempts` are every
    recorded attempt in the window from this client or for this name."""
    start = now - policy.window
    recent = [a for a in attempts if a.at > start]
    pair = _since_last_success([a for a in recent if a.client == client and a.username == username], start)
    account = _since_last_success([a for a in recent if a.username == username], start)
    free = policy.per_pair if len(account) < policy.per_account else 1
    blocks = []
    until = _block_after(pair, free, policy)
    if until is not None and until > now:
        blocks.append(Block("pair", until))
    client_failures = [a for a in recent if a.client == client and not a.success]
    until = _block_after(client_failures, policy.per_client, policy)
    if until is not None and until > now:
        blocks.append(Block("client", until))
    return max(blocks, key=lambda b: b.until) if blocks else None


def recent_attempts(session: Session, client: str, username: str, now: datetime, policy: Policy) -> list[Attempt]:
    rows = session.execute(
        select(LoginAttempt.client, LoginAttempt.username, LoginAttempt.at, LoginAttempt.success)
        .where(LoginAttempt.at > now - policy.window,
               or_(LoginAttempt.client == client, LoginAttempt.username == username))
    ).all()
    return [Attempt(r.client, r.username, r.at, bool(r.success)) for r in rows]


def check(session: Session, client: str, username: str, now: datetime, policy: Policy) -> Block | None:
    return verdict(recent_attempts(session, client, username, now, policy), client, username, now, policy)


def note(session: Session, client: str, username: str, success: bool, now: datetime) -> None:
    session.add(LoginAttempt(client=client, username=username[:50], at=now, success=success))


def forget(session: Session, username: str) -> int:
    """Lift the throttle on an account (security administrator's unlock): its failures are dropped
    (they stay in the audit log)."""
    result = session.execute(delete(LoginAttempt).where(LoginAttempt.username == username,
                                                        LoginAttempt.success.is_(False)))
    return result.rowcount or 0


def purge(session: Session, now: datetime, policy: Policy) -> int:
    """Attempts older than the window decide nothing any more (the audit log keeps the history)."""
    keep = max(policy.window, timedelta(days=1))
    result = session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - keep))
    return result.rowcount or 0


def _window_start(now: datetime, policy: Policy) -> datetime:
    step = max(1, int(policy.audit_window.total_seconds()))
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % step, tz=now.tzinfo)


def _upsert(session: Session):  # noqa: ANN202
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(LoginBlockWindow)


def record_blocked(session: Session, client: str, username: str, block: Block, now: datetime,
                   policy: Policy) -> None:
    """Count one refused attempt in its client's current window (one statement, no audit row)."""
    start = _window_start(now, policy)
    row = session.get(LoginBlockWindow, (client, start))
    if row is not None:
        row.count += 1
        row.last_at = now
        names = list(row.usernames or [])
        if username not in names and len(names) < MAX_NAMES_PER_WINDOW:
            row.usernames = [*names, username]
        if block.reason == "client":
            row.reason = "client"
        return
    stmt = _upsert(session).values(client=client, window_start=start, count=1, first_at=now, last_at=now,
                                   usernames=[username], reason=block.reason)
    table = LoginBlockWindow.__table__
    # A concurrent first refusal in the same window (PostgreSQL) adds to the row instead of colliding.
    session.execute(stmt.on_conflict_do_update(
        index_elements=[table.c.client, table.c.window_start],
        set_={"count": table.c.count + 1, "last_at": stmt.excluded.last_at}))


def flush_blocked(session: Session, now: datetime, policy: Policy | None = None, *, everything: bool = False) -> int:
    """Turn every closed window (all of them with `everything`) into one `login_blocked` audit row
    with its count, and drop the counter rows. Returns the audit rows written."""
    policy = policy or Policy.from_settings()
    stmt = select(LoginBlockWindow).order_by(LoginBlockWindow.window_start, LoginBlockWindow.client)
    if not everything:
        stmt = stmt.where(LoginBlockWindow.window_start <= now - policy.audit_window)
    rows = session.execute(stmt).scalars().all()
    for row in rows:
        audit.record(session, "system", "login_blocked", object_type="client", object_id=row.client,
                     client=row.client, detail={
                         "count": row.count, "reason": row.reason, "usernames": row.usernames or [],
                         "window_start": row.window_start.isoformat(),
                         "window_seconds": int(policy.audit_window.total_seconds()),
                         "first_at": row.first_at.isoformat(), "last_at": row.last_at.isoformat()})
        session.delete(row)
    return len(rows)
