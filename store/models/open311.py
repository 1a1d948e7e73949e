"""The open intake API (Open311 GeoReport v2, open311/): client systems' API keys, their per-minute
call counters, and the tokens of deferred creations."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime, utcnow


class ApiKey(Base):
    """One client system (the 12345 hotline platform, a WeChat mini-program, a patrol platform...).

    The key is shown once at creation; only its public prefix (to find the row) and the SHA-256 of its
    secret part are stored. The secret is 256 random bits, so a fast hash is enough (there is nothing
    to guess); a password hash (Argon2) would cost every API call tens of milliseconds for no gain.
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    # What the client may file in and read: a region (its subtree) and 大类 / "大类/小类" (None: all).
    zone_code: Mapped[str] = mapped_column(String(15))
    categories: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    source: Mapped[str] = mapped_column(String(20))        # the case source its requests get (events.intake)
    rate_per_minute: Mapped[int] = mapped_column(Integer)
    # Requests are accepted with a token and created just after the answer (Open311 "batch" type).
    deferred: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(50))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(50))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiCallWindow(Base):
    """Calls per subject ("key:<id>" or "ip:<address>") in a fixed one-minute window. Kept in the
    database so every server process shares one count; a subject's old windows go as it calls again."""

    __tablename__ = "api_call_windows"

    subject: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class Open311Token(Base):
    """A deferred service request: accepted (validated) now, created just after the answer. `payload`
    holds the checked request until then and is cleared once the case exists, so personal data is kept
    only on the case."""

    __tablename__ = "open311_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), index=True)   # pending / created / failed
    payload: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    event_id: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(String(300))       # why creation failed (Chinese)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
