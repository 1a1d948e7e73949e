"""The writes of the API-key section of 系统管理 (系统管理员, capability manage_api_keys): each takes the
engine and is one transaction, so the page opens none. A key can be created and revoked only inside
the administrator's own zone; the key text is returned once and never stored."""
from __future__ import annotations

from sqlalchemy import Engine, select

from auth.roles import can
from open311 import keys
from store.db import session_scope
from store.models import ApiKey
from store.region_codes import is_within, level_or_none
from store.scope import PermissionDenied, Viewer


def _allowed(actor: Viewer, zone_code: str) -> None:
    """The actor manages keys, and `zone_code` (when it is a region code at all) lies in their zone."""
    if not can(actor.role, "manage_api_keys"):
        raise PermissionDenied("您的角色无权管理接入密钥（系统管理员办理）")
    if level_or_none(zone_code) is not None and not is_within(zone_code, actor.zone_code):
        raise PermissionDenied(f"区域 {zone_code} 不在您的管理范围内")


def create_key(engine: Engine, actor: Viewer, name: str, zone_code: str, *, categories: list[str] | None = None,
               source: str = "12345", rate_per_minute: int | None = None, deferred: bool = False,
               client: str | None = None) -> tuple[keys.ClientKey, str]:
    """The new key and its text (shown once). Raises keys.KeyProblem or PermissionDenied (Chinese)."""
    zone_code = str(zone_code or "").strip()
    _allowed(actor, zone_code)
    with session_scope(engine) as s:
        return keys.create_key(s, name, zone_code, categories=categories, source=source,
                               rate_per_minute=rate_per_minute, deferred=deferred, actor=actor, client=client)


def revoke_key(engine: Engine, actor: Viewer, name: str, *, client: str | None = None) -> keys.ClientKey:
    with session_scope(engine) as s:
        zone = s.scalar(select(ApiKey.zone_code).where(ApiKey.name == str(name).strip()))
        if zone is None:
            raise keys.KeyProblem(f"没有名为「{name}」的密钥")
        _allowed(actor, zone)
        return keys.revoke_key(s, name, actor=actor, client=client)
