"""Security bookkeeping beside the audit log: refused sign-ins counted per window, and the record of
audit archives (which the audit log's delete guard consults)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime, utcnow


class LoginBlockWindow(Base):
    """Sign-in attempts refused by the throttle (auth/throttle.py), counted per client address and
    fixed window instead of one audit row each: a flood from one address must not flood the audit
    log. When the window has closed the count becomes one `login_blocked` audit row and this row goes."""

    __tablename__ = "login_block_windows"

    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True, index=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The (first few) account names tried, and why they were refused ("pair" / "client").
    usernames: Mapped[list | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(10))


class AuditArchive(Base):
    """One `manage.py audit archive` run: audit rows before `archived_before` were written to `file`
    (gzip JSON lines, `sha256` of the compressed file) and then deleted. Append-only like the audit log
    (auth/audit_guard.py); the guard lets audit rows be deleted only below the newest archive's cutoff
    and never younger than the statutory minimum (180 days)."""

    __tablename__ = "audit_archives"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(50))
    archived_before: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    rows: Mapped[int] = mapped_column(Integer)
    first_id: Mapped[int | None] = mapped_column(Integer)
    last_id: Mapped[int | None] = mapped_column(Integer)
    file: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
