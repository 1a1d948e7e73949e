"""Single sign-on through an OIDC provider (e.g. a provincial unified identity platform).

Streamlit's `st.login` does the protocol; this module maps the identity provider's claims to a local
role and zone (`[auth.oidc]` in config.toml) and keeps a local account row for every such user, so an
administrator can deactivate them here and the audit log names them like everyone else.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

import settings
from auth import audit, totp
from auth.roles import ROLE_NAMES
from auth.service import USERNAME_RE, LoginFailed, login_message, normalize_username
from store import region_codes
from store.db import session_scope
from store.models import Region, User, utcnow
from store.scope import Viewer


class OidcMappingError(ValueError):
    """The provider's claims do not map to a usable local account (Chinese message)."""


def oidc_config() -> dict:
    return settings.get_settings()["auth"].get("oidc", {})


def secrets_have_provider(secrets: Mapping[str, Any] | None) -> bool:
    """True when secrets.toml has an [auth] section that st.login can use (a default provider's
    client_id, or at least one named provider sub-section)."""
    if not secrets:
        return False
    section = secrets.get("auth")
    if not isinstance(section, Mapping) or not section.get("redirect_uri") or not section.get("cookie_secret"):
        return False
    return bool(section.get("client_id")) or any(isinstance(v, Mapping) for v in section.values())


def provider_names(secrets: Mapping[str, Any]) -> list[str]:
    """Named providers ([auth.<name>] sections); empty when only the default provider is set."""
    section = secrets.get("auth") or {}
    return [k for k, v in section.items() if isinstance(v, Mapping)]


def map_claims(claims: Mapping[str, Any], cfg: Mapping[str, Any] | None = None) -> Viewer:
    """Viewer from the provider's claims, by the configured claim names and role values."""
    cfg = cfg if cfg is not None else oidc_config()

    def claim(key: str, default: str) -> str:
        value = claims.get(cfg.get(key, default))
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        return "" if value is None else str(value).strip()

    username = normalize_username(claim("username_claim", "preferred_username") or claim("email_claim", "email"))
    username = username.split("@", 1)[0] if "@" in username else username
    if not USERNAME_RE.match(username):
        raise OidcMappingError("统一身份认证返回的用户名不符合本系统规则，请联系管理员")
    role_value = claim("role_claim", "cityops_role")
    role = dict(cfg.get("role_values", {})).get(role_value)
    if role not in ROLE_NAMES:
        raise OidcMappingError(f"统一身份认证未授予本系统角色（{role_value or '空'}），请联系管理员开通")
    if totp.required(role) and not used_second_factor(claims, cfg):
        raise OidcMappingError("您的角色须使用二次验证登录，但统一身份认证未报告已完成二次验证（amr），请在身份认证平台启用后重试")
    zone = claim("zone_claim", "cityops_zone")
    if not region_codes.is_region_code(zone):
        raise OidcMappingError("统一身份认证未提供有效的管辖区划代码，请联系管理员")
    department = claim("department_claim", "cityops_department") or None
    if role == "department" and not department:
        raise OidcMappingError("部门处置人员须在统一身份认证中配置所属部门")
    display = claim("display_name_claim", "name") or username
    return Viewer(username=username, role=role, zone_code=zone, department_code=department,
                  display_name=display[:50])


def used_second_factor(claims: Mapping[str, Any], cfg: Mapping[str, Any]) -> bool:
    """Whether the provider says it used a second factor: OIDC users never get our TOTP step (the
    provider owns their credentials); instead, for roles that require a second factor, the `amr`
    claim (RFC 8176 values such as "mfa", "otp", "hwk") must name one of `[auth.oidc].mfa_amr_values`.
    An empty list trusts the provider's own policy."""
    wanted = {str(v) for v in cfg.get("mfa_amr_values", []) or []}
    if not wanted:
        return True
    amr = claims.get("amr")
    values = {str(v) for v in amr} if isinstance(amr, (list, tuple)) else ({str(amr)} if amr else set())
    return bool(values & wanted)


def sync_user(session: Session, viewer: Viewer, *, client: str | None = None,
              now: datetime | None = None) -> Viewer:
    """Create or update the local row for an OIDC user and audit the login. The provider is
    authoritative for role and zone; a locally deactivated account stays refused."""
    now = now or utcnow()
    if session.get(Region, viewer.zone_code) is None:
        raise OidcMappingError(f"管辖区划代码 {viewer.zone_code} 在本系统中不存在，请联系管理员")
    user = session.execute(select(User).where(User.username == viewer.username)).scalar_one_or_none()
    if user is not None and not user.active:
        audit.record(session, viewer.username, "login_failed", object_type="user", object_id=viewer.username,
                     scope=user.zone_code, client=client, detail={"method": "oidc", "reason": "inactive"})
        raise LoginFailed("inactive", login_message("inactive"))
    if user is None:
        user = User(username=viewer.username, display_name=viewer.display_name, role=viewer.role,
                    zone_code=viewer.zone_code, department_code=viewer.department_code, password_hash=None,
                    active=True, failed_logins=0, created_at=now)
        session.add(user)
        audit.record(session, "oidc", "user_create", object_type="user", object_id=viewer.username,
                     scope=viewer.zone_code, client=client,
                     detail={"role": viewer.role, "zone_code": viewer.zone_code, "method": "oidc"})
    else:
        user.display_name, user.role = viewer.display_name, viewer.role
        user.zone_code, user.department_code = viewer.zone_code, viewer.department_code
    user.last_login_at = now
    audit.record(session, viewer, "login", object_type="user", object_id=viewer.username, client=client,
                 detail={"method": "oidc"})
    return viewer


def user_is_active(session: Session, username: str) -> bool:
    active = session.execute(select(User.active).where(User.username == username)).scalar_one_or_none()
    return bool(active)


def sign_in(engine, viewer: Viewer, *, client: str | None = None, now: datetime | None = None) -> Viewer:  # noqa: ANN001
    """sync_user in its own transaction; a refusal's audit row is committed before LoginFailed is
    re-raised (as auth.service.sign_in does for local accounts)."""
    failure: LoginFailed | None = None
    with session_scope(engine) as session:
        try:
            sync_user(session, viewer, client=client, now=now)
        except LoginFailed as exc:
            failure = exc
    if failure is not None:
        raise failure
    return viewer
