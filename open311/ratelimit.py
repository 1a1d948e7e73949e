"""Calls per minute, per API key (or per client address for calls without one): a fixed-window counter
in the database.

Why the database and not a dict in the process: the count must hold across every server process
behind the proxy and across a restart, and each call already writes its audit row, so one more small
upsert costs little. Why a fixed window: one row per subject and minute, one indexed upsert that adds
up correctly under concurrent writers (INSERT … ON CONFLICT DO UPDATE … RETURNING on both backends);
its known weakness — up to twice the limit across a window edge — is acceptable for keeping a
misbehaving client system from flooding the intake, which is what it is for.

Refused calls are not audited one by one (a flood must not flood the audit log): the first refusal in
a window is, and when the subject's old windows are cleared on a later call, each window that refused
calls becomes one `open311_rate_limited` audit row with the number refused.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from auth import audit
from store.models import ApiCallWindow, ApiKey

WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    count: int
    limit: int
    retry_after: int          # seconds until the window ends (for Retry-After)
    first_refusal: bool       # the first call refused in this window (audited)


def window_start(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def _insert(session: Session):  # noqa: ANN202
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ApiCallWindow)


def hit(session: Session, subject: str, limit: int, now: datetime, *, key_id: int | None = None) -> Verdict:
    """Count one call of `subject` in the current window (in the caller's transaction) and say
    whether it is within `limit`."""
    start = window_start(now)
    stmt = _insert(session).values(subject=subject, window_start=start, count=1)
    stmt = stmt.on_conflict_do_update(index_elements=[ApiCallWindow.subject, ApiCallWindow.window_start],
                                      set_={"count": ApiCallWindow.count + 1}).returning(ApiCallWindow.count)
    count = int(session.execute(stmt).scalar_one())
    if count == 1:
        _close_old_windows(session, subject, start, limit)
        if key_id is not None:
            session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
    retry = max(1, int((start + WINDOW - now).total_seconds() + 0.999))
    return Verdict(count <= limit, count, limit, retry, count == limit + 1)


def _close_old_windows(session: Session, subject: str, start: datetime, limit: int) -> None:
    """Audit the refusals of the subject's finished windows, then delete them."""
    old = session.execute(select(ApiCallWindow.window_start, ApiCallWindow.count).where(
        ApiCallWindow.subject == subject, ApiCallWindow.window_start < start)).all()
    for at, count in old:
        if count > limit:
            audit.record(session, subject_actor(subject), "open311_rate_limited", object_type="open311",
                         client=subject.removeprefix("ip:") if subject.startswith("ip:") else None,
                         detail={"window_start": at.isoformat(), "calls": int(count), "refused": int(count - limit),
                                 "limit": limit})
    if old:
        session.execute(delete(ApiCallWindow).where(ApiCallWindow.subject == subject,
                                                    ApiCallWindow.window_start < start))


def subject_actor(subject: str) -> str:
    """How the audit log names a subject: api:<key name> is passed in as the subject label itself."""
    return subject.split("|", 1)[1] if "|" in subject else "api:anonymous"
