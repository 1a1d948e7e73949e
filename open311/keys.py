"""API keys of client systems: create (shown once), list, revoke, and check a presented key.

A key reads `o311_<prefix>_<secret>`: the prefix (8 hex digits) finds the row, the secret (43
URL-safe characters, 256 random bits) is compared by its SHA-256 in constant time. Only the prefix
and the hash are stored, so the database (or a backup of it) does not hold usable keys.

Each key carries what its system may do: the zone it files in and reads (a region and everything
under it), optionally the 大类 or 大类/小类 it may use, the case source its requests get (12345,
巡查 …), its calls per minute, and whether its requests are created deferred (Open311 tokens).
Creating and revoking are audited; every call with a key is audited by open311.routes.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from auth import audit
from events.catalog import UnknownCategory, get_catalog
from events.intake import SOURCES
from open311.policy import Policy
from store.models import ApiKey, Region
from store.region_codes import is_within, level_or_none
from store.scope import Viewer

API_CLIENT_ROLE = "api_client"
_KEY = re.compile(r"^o311_([0-9a-f]{8})_([A-Za-z0-9_\-]{43})$")
_NAME = re.compile(r"^[0-9A-Za-z_\-.\u4e00-\u9fff]{2,40}$")
MAX_RATE = 10_000


class KeyProblem(ValueError):
    """A key cannot be created or revoked as asked (Chinese message)."""


class KeyRefused(Exception):
    """A presented key is missing, malformed, unknown or revoked. `reason` is one of those words."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ClientKey:
    """A checked key, as the routes use it (no secret, no ORM object)."""

    id: int
    name: str
    zone_code: str
    categories: tuple[str, ...] | None
    source: str
    rate_per_minute: int
    deferred: bool

    @property
    def actor(self) -> str:
        return f"api:{self.name}"

    def viewer(self) -> Viewer:
        """The viewer the key reads and files as: its zone, the api_client role (auth.roles)."""
        return Viewer(username=self.actor, role=API_CLIENT_ROLE, zone_code=self.zone_code,
                      display_name=f"接入系统 {self.name}")


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def client_key(row: ApiKey) -> ClientKey:
    return ClientKey(row.id, row.name, row.zone_code, tuple(row.categories) if row.categories else None, row.source,
                     row.rate_per_minute, bool(row.deferred))


def _check_categories(categories: list[str] | None) -> list[str] | None:
    if not categories:
        return None
    catalog = get_catalog()
    out = []
    for raw in categories:
        entry = str(raw).strip()
        if not entry:
            continue
        if "/" in entry:
            category, sub = (p.strip() for p in entry.split("/", 1))
            try:
                catalog.find(category, sub)
            except UnknownCategory as exc:
                raise KeyProblem(str(exc)) from None
            entry = f"{category}/{sub}"
        elif entry not in catalog.categories():
            raise KeyProblem(f"未知的大类「{entry}」，可选：{'、'.join(catalog.categories())}")
        out.append(entry)
    return sorted(set(out)) or None


def create_key(session: Session, name: str, zone_code: str, *, categories: list[str] | None = None,
               source: str = "12345", rate_per_minute: int | None = None, deferred: bool = False,
               actor: Viewer | str = "manage.py", client: str | None = None,
               now: datetime | None = None) -> tuple[ClientKey, str]:
    """Create a key; returns it and the key text, which is shown once and never stored."""
    name = unicodedata.normalize("NFKC", str(name or "")).strip()
    if not _NAME.match(name):
        raise KeyProblem("名称须为 2–40 个字符（中文、字母、数字、_ - .）")
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise KeyProblem(f"名称「{name}」已被使用（已吊销的密钥也保留名称，便于审计）")
    zone_code = str(zone_code or "").strip()
    if level_or_none(zone_code) is None:
        raise KeyProblem(f"区域代码「{zone_code}」格式不正确")
    if session.get(Region, zone_code) is None:
        raise KeyProblem(f"区域 {zone_code} 不存在（请先导入区划）")
    if source not in SOURCES:
        raise KeyProblem(f"未知的案件来源「{source}」，可选：{'、'.join(SOURCES)}")
    rate = Policy.from_settings().default_rate_per_minute if rate_per_minute is None else int(rate_per_minute)
    if not 1 <= rate <= MAX_RATE:
        raise KeyProblem(f"每分钟调用上限应在 1–{MAX_RATE} 之间")
    cats = _check_categories(categories)
    while True:
        prefix = secrets.token_hex(4)
        if session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
            break
    secret = secrets.token_urlsafe(32)
    row = ApiKey(name=name, prefix=prefix, secret_sha256=_sha256(secret), zone_code=zone_code, categories=cats,
                 source=source, rate_per_minute=rate, deferred=bool(deferred),
                 created_at=now or datetime.now(timezone.utc),
                 created_by=actor.username if isinstance(actor, Viewer) else str(actor))
    session.add(row)
    session.flush()
    audit.record(session, actor, "api_key_create", object_type="api_key", object_id=name, client=client,
                 scope=zone_code, detail={"prefix": prefix, "categories": cats, "source": source, "rate": rate,
                                          "deferred": bool(deferred)})
    return client_key(row), f"o311_{prefix}_{secret}"


def revoke_key(session: Session, name: str, *, actor: Viewer | str = "manage.py", client: str | None = None,
               now: datetime | None = None) -> ClientKey:
    row = session.scalars(select(ApiKey).where(ApiKey.name == str(name).strip()).with_for_update()).first()
    if row is None:
        raise KeyProblem(f"没有名为「{name}」的密钥")
    if row.revoked_at is not None:
        raise KeyProblem(f"密钥「{name}」已于 {row.revoked_at:%Y-%m-%d %H:%M} 吊销")
    row.revoked_at = now or datetime.now(timezone.utc)
    row.revoked_by = actor.username if isinstance(actor, Viewer) else str(actor)
    audit.record(session, actor, "api_key_revoke", object_type="api_key", object_id=row.name, client=client,
                 scope=row.zone_code, detail={"prefix": row.prefix})
    session.flush()
    return client_key(row)


def list_keys(session: Session) -> list[dict]:
    """Every key (revoked ones too), newest first, without anything secret."""
    rows = session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())).all()
    return [{"name": r.name, "prefix": r.prefix, "zone_code": r.zone_code, "categories": list(r.categories or []),
             "source": r.source, "rate_per_minute": r.rate_per_minute, "deferred": bool(r.deferred),
             "created_at": r.created_at, "created_by": r.created_by, "revoked_at": r.revoked_at,
             "revoked_by": r.revoked_by, "last_used_at": r.last_used_at} for r in rows]


def authenticate(session: Session, presented: str | None) -> ClientKey:
    """The key behind `presented`; KeyRefused (missing / malformed / unknown / revoked) otherwise."""
    if not presented:
        raise KeyRefused("missing", "缺少 api_key")
    m = _KEY.match(str(presented).strip())
    if not m:
        raise KeyRefused("malformed", "api_key 无效")
    row = session.scalars(select(ApiKey).where(ApiKey.prefix == m.group(1))).first()
    if row is None or not hmac.compare_digest(row.secret_sha256, _sha256(m.group(2))):
        raise KeyRefused("unknown", "api_key 无效")
    if row.revoked_at is not None:
        raise KeyRefused("revoked", "api_key 已被吊销")
    return client_key(row)


def within_zone(key: ClientKey, code: str | None) -> bool:
    return bool(code) and is_within(code, key.zone_code)
