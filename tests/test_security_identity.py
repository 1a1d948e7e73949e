"""Identity controls of issue 19 (等保三级 / ASVS L2), on both backends: the second factor (TOTP with
recovery codes, throttled, no replay) in the sign-in flow, separation of duties (三权分立), the
password lifecycle (blocklist, own change, history, expiry, sessions per user, idle per role), OIDC's
second factor, and the audit rows of refusals, personal-data views and exports."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

import settings
from auth import actions, oidc, passwords, roles, service, sessions, totp
from auth.passwords import PasswordRuleError
from store.db import session_scope
from store.models import RecoveryCode, User
from store.models.auth import AuthSession
from store.scope import PermissionDenied, Viewer
from tests.test_auth_support import PW, T0, audit_rows, auth_test_settings, make_user  # noqa: F401

SYS = Viewer("xitong", "sys_admin", "440900", display_name="系统管理员")
SEC = Viewer("anquan", "sec_admin", "440900", display_name="安全管理员")
AUDITOR = Viewer("shenji", "audit_admin", "440900", display_name="审计管理员")
NEW_PW = "Lantern#River72"


def _user(engine, name):  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return s.execute(select(User).where(User.username == name)).scalar_one()


def _stage(engine, token):  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return s.get(AuthSession, sessions.token_hash(token)).stage


def _enrolled(engine, name, now=T0):  # noqa: ANN001
    """Sign in with the password, enrol at the prompt; returns (secret, recovery codes, token)."""
    _, token = service.sign_in(engine, name, PW, "10.0.0.1", now=now)
    assert _stage(engine, token) == "enrol"
    secret = totp.new_secret()
    codes, stage = actions.enrol_at_sign_in(engine, token, secret, totp.code_at(secret, now), now=now)
    assert stage == "full"
    return secret, codes, token


# ------------------------------------------------------------------ second factor

def test_required_role_enrols_at_first_sign_in_then_must_give_a_code(city_engine):
    make_user(city_engine, "zhiban", "duty_officer")
    _, token = service.sign_in(city_engine, "zhiban", PW, "10.0.0.1", now=T0)
    # Password accepted, second factor owed: the session opens nothing yet.
    with pytest.raises(sessions.SessionInvalid) as exc:
        sessions.resolve_token(city_engine, token, now=T0)
    assert exc.value.reason == "enrol"
    secret = totp.new_secret()
    with pytest.raises(totp.SecondFactorError, match="验证码不正确"):
        actions.enrol_at_sign_in(city_engine, token, secret, "000000", now=T0)
    codes, stage = actions.enrol_at_sign_in(city_engine, token, secret, totp.code_at(secret, T0), now=T0)
    assert stage == "full" and len(codes) == 10 and len(set(codes)) == 10
    assert sessions.resolve_token(city_engine, token, now=T0).username == "zhiban"
    user = _user(city_engine, "zhiban")
    assert user.totp_enabled_at == T0 and secret not in (user.totp_secret or "")  # sealed, not clear
    assert totp.unseal(user.totp_secret) == secret
    with session_scope(city_engine, readonly=True) as s:
        hashes = s.execute(select(RecoveryCode.code_hash)).scalars().all()
    assert len(hashes) == 10 and not set(codes) & set(hashes)  # only hashes are stored
    assert [r.action for r in audit_rows(city_engine) if r.action.startswith("mfa")] == ["mfa_enrol_failed", "mfa_enrol"]

    # Next sign-in: the code step.
    later = T0 + timedelta(minutes=5)
    _, token2 = service.sign_in(city_engine, "zhiban", PW, "10.0.0.1", now=later)
    assert _stage(city_engine, token2) == "totp"
    with pytest.raises(totp.SecondFactorError, match="再错 4 次"):
        actions.verify_second_factor(city_engine, token2, "123456", now=later)
    assert actions.verify_second_factor(city_engine, token2, totp.code_at(secret, later), now=later) == "full"
    assert sessions.resolve_token(city_engine, token2, now=later).role == "duty_officer"


def test_a_code_cannot_be_replayed_and_drift_of_one_step_is_accepted(city_engine):
    make_user(city_engine, "zhiban", "duty_officer")
    secret, _, _ = _enrolled(city_engine, "zhiban")
    now = T0 + timedelta(minutes=10)
    _, t1 = service.sign_in(city_engine, "zhiban", PW, "10.0.0.1", now=now)
    code = totp.code_at(secret, now - timedelta(seconds=30))  # the phone is one step behind
    assert actions.verify_second_factor(city_engine, t1, code, now=now) == "full"
    _, t2 = service.sign_in(city_engine, "zhiban", PW, "10.0.0.1", now=now)
    with pytest.raises(totp.SecondFactorError):
        actions.verify_second_factor(city_engine, t2, code, now=now)  # the same code again: refused
    with pytest.raises(totp.SecondFactorError):
        actions.verify_second_factor(city_engine, t2, totp.code_at(secret, now - timedelta(minutes=5)), now=now)


def test_wrong_codes_are_throttled_per_account_and_end_the_half_sessions(city_engine):
    make_user(city_engine, "zhiban", "duty_officer")
    secret, _, _ = _enrolled(city_engine, "zhiban")
    now = T0 + timedelta(minutes=10)
    _, token = service.sign_in(city_engine, "zhiban", PW, "10.0.0.1", now=now)
    for i in range(totp.max_failures() - 1):
        with pytest.raises(totp.SecondFactorError) as exc:
            actions.verify_second_factor(city_engine, token, f"{i:06d}", now=now)
        assert exc.value.code == "invalid"
    with pytest.raises(totp.SecondFactorError) as exc:
        actions.verify_second_factor(city_engine, token, "999999", now=now)
    assert exc.value.code == "blocked" and "15 分钟后" in str(exc.value)
    with pytest.raises(sessions.SessionInvalid):  # the half-signed-in session is gone
        actions.verify_second_factor(city_engine, token, totp.code_at(secret, now), now=now)
    # A fresh sign-in meanwhile cannot get past the second step, even with the right code…
    _, token2 = service.sign_in(city_engine, "zhiban", PW, "10.0.0.1", now=now + timedelta(minutes=1))
    with pytest.raises(totp.SecondFactorError) as exc:
        actions.verify_second_factor(city_engine, token2, totp.code_at(secret, now + timedelta(minutes=1)),
                                     now=now + timedelta(minutes=1))
    assert exc.value.code == "blocked"
    # …until the pause ends, or a security administrator lifts it.
    with session_scope(city_engine) as s:
        service.unlock(s, "zhiban", actor=SEC)
    _, token3 = service.sign_in(city_engine, "zhiban", PW, "10.0.0.1", now=now + timedelta(minutes=2))
    assert actions.verify_second_factor(city_engine, token3, totp.code_at(secret, now + timedelta(minutes=2)),
                                        now=now + timedelta(minutes=2)) == "full"
    reasons = [r.detail["reason"] for r in audit_rows(city_engine, "mfa_failed")]
    assert reasons.count("bad_code") == totp.max_failures() and "blocked" in reasons


def test_recovery_codes_are_one_time(city_engine):
    make_user(city_engine, "zhiban", "duty_officer")
    _, codes, _ = _enrolled(city_engine, "zhiban")
    now = T0 + timedelta(minutes=10)
    _, token = service.sign_in(city_engine, "zhiban", PW, "10.0.0.1", now=now)
    assert actions.verify_second_factor(city_engine, token, codes[0].upper().replace("-", " "), now=now) == "full"
    _, token2 = service.sign_in(city_engine, "zhiban", PW, "10.0.0.1", now=now)
    with pytest.raises(totp.SecondFactorError):
        actions.verify_second_factor(city_engine, token2, codes[0], now=now)
    assert actions.verify_second_factor(city_engine, token2, codes[1], now=now) == "full"
    [used] = [r for r in audit_rows(city_engine, "mfa_ok") if r.detail["kind"] == "recovery"][-1:]
    assert used.detail["recovery_left"] == 8


def test_second_factor_policy_per_role(city_engine, monkeypatch):
    assert [r for r in roles.ROLE_NAMES if totp.required(r)] == ["duty_officer", "sys_admin", "sec_admin", "audit_admin"]
    assert not totp.offered("wall_display") and totp.policy("leader") == "optional"
    make_user(city_engine, "maonan", "leader", "440902")
    _, token = service.sign_in(city_engine, "maonan", PW, "10.0.0.1", now=T0)
    assert _stage(city_engine, token) == "full"  # optional and not turned on
    # Optional, turned on by the user: asked for at sign-in from then on.
    secret = totp.new_secret()
    actions.enrol(city_engine, Viewer("maonan", "leader", "440902"), secret, totp.code_at(secret, sessions.utcnow()))
    _, token = service.sign_in(city_engine, "maonan", PW, "10.0.0.1", now=T0)
    assert _stage(city_engine, token) == "totp"
    # A typo in the config reads as "required" (the safe side).
    monkeypatch.setenv("CITYOPS_SECURITY_SECOND_FACTOR", '{ leader = "sometimes" }')
    settings.reload_settings()
    assert totp.required("leader") and not totp.offered("duty_officer")


def test_optional_second_factor_can_be_turned_off_with_a_code_required_one_cannot(city_engine):
    make_user(city_engine, "maonan", "leader", "440902")
    leader = Viewer("maonan", "leader", "440902")
    secret = totp.new_secret()
    now = sessions.utcnow()
    actions.enrol(city_engine, leader, secret, totp.code_at(secret, now))
    with pytest.raises(totp.SecondFactorError):
        actions.disable_second_factor(city_engine, leader, "000000")
    actions.disable_second_factor(city_engine, leader, totp.code_at(secret, now + timedelta(seconds=30)))
    assert not totp.enabled(_user(city_engine, "maonan"))
    make_user(city_engine, "zhiban", "duty_officer")
    with pytest.raises(totp.SecondFactorError, match="必须使用"):
        actions.disable_second_factor(city_engine, Viewer("zhiban", "duty_officer", "440900"), "000000")


def test_seed_sealed_under_another_secret_is_unreadable(monkeypatch):
    sealed = totp.seal("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    monkeypatch.setenv("CITYOPS_SECRET_KEY", "another-secret-key-of-enough-length-0000000")
    assert totp.unseal(sealed) is None


def test_enrolment_picture_is_drawn_locally():
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "zhiban")
    assert uri.startswith("otpauth://totp/") and "secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" in uri
    assert totp.qr_png(uri).startswith(b"\x89PNG")


def test_half_signed_in_session_expires_after_the_step_limit(city_engine):
    make_user(city_engine, "zhiban", "duty_officer")
    _, token = service.sign_in(city_engine, "zhiban", PW, "10.0.0.1", now=T0)
    with pytest.raises(sessions.SessionInvalid) as exc:
        actions.pending_step(city_engine, token, now=T0 + timedelta(minutes=11))
    assert exc.value.reason == "expired"


# ------------------------------------------------------------------ OIDC keeps the provider's second factor

def test_oidc_required_roles_need_the_providers_amr_when_configured():
    claims = {"preferred_username": "li.si", "cityops_role": "duty_officer", "cityops_zone": "440900"}
    cfg = dict(oidc.oidc_config())
    assert oidc.map_claims(claims, cfg).role == "duty_officer"  # default: the provider's policy is trusted
    cfg["mfa_amr_values"] = ["mfa", "otp"]
    with pytest.raises(oidc.OidcMappingError, match="二次验证"):
        oidc.map_claims(claims, cfg)
    assert oidc.map_claims({**claims, "amr": ["pwd", "otp"]}, cfg).username == "li.si"
    assert oidc.map_claims({**claims, "cityops_role": "leader"}, cfg).role == "leader"  # optional role


# ------------------------------------------------------------------ separation of duties (三权分立)

def test_admin_capabilities_are_disjoint_and_touch_no_business_data():
    admin_caps = {r: {c for c, holders in roles.CAPABILITIES.items() if r in holders} for r in roles.ADMIN_ROLES}
    assert "manage_accounts" in admin_caps["sys_admin"]
    assert admin_caps["sec_admin"] == {"manage_roles", "unlock_accounts", "view_policy"}
    assert admin_caps["audit_admin"] == {"view_audit", "export"}  # exports the audit log, nothing else
    business = {c for c, holders in roles.CAPABILITIES.items() if holders & set(roles.BUSINESS_ROLES)} - {"export"}
    assert not (admin_caps["sys_admin"] | admin_caps["sec_admin"] | admin_caps["audit_admin"]) & business
    for a in roles.ADMIN_ROLES:
        for b in roles.ADMIN_ROLES:
            if a != b:
                assert not admin_caps[a] & admin_caps[b]
    for cap in roles.ADMIN_CAPABILITIES:  # administrator capabilities belong to one administrator role
        assert len(roles.CAPABILITIES[cap]) == 1 and roles.CAPABILITIES[cap] <= set(roles.ADMIN_ROLES)
    assert not any(roles.can(r, "view_personal") for r in roles.ADMIN_ROLES)


def test_each_administrator_does_only_their_duty(city_engine):
    make_user(city_engine, "zhiban", "duty_officer")
    make_user(city_engine, "maonan", "leader", "440902")
    for name, role in (("xitong", "sys_admin"), ("anquan", "sec_admin"), ("shenji", "audit_admin")):
        make_user(city_engine, name, role)
    # The account administrator: accounts, but no roles, unlocks or second-factor resets.
    actions.create_user(city_engine, SYS, "newbie", "新人", "leader", "440902", None, PW)
    with pytest.raises(PermissionDenied, match="管理员角色"):
        actions.create_user(city_engine, SYS, "boss", "x", "sec_admin", "440900", None, PW)
    for denied in (lambda: actions.change_role(city_engine, SYS, "newbie", "duty_officer"),
                   lambda: actions.unlock(city_engine, SYS, "zhiban"),
                   lambda: actions.reset_second_factor(city_engine, SYS, "zhiban")):
        with pytest.raises(PermissionDenied, match="安全管理员"):
            denied()
    # The security administrator: roles and unlocks, but no accounts or passwords.
    actions.change_role(city_engine, SEC, "newbie", "audit_admin")
    assert _user(city_engine, "newbie").role == "audit_admin"
    with pytest.raises(PermissionDenied, match="系统管理员"):
        actions.reset_password(city_engine, SEC, "zhiban", NEW_PW)
    with pytest.raises(PermissionDenied):
        actions.deactivate(city_engine, SEC, "zhiban")
    with pytest.raises(service.UserError, match="自己的角色"):
        actions.change_role(city_engine, SEC, "anquan", "sys_admin")
    # The auditor: nothing but the audit.
    for denied in (lambda: actions.create_user(city_engine, AUDITOR, "xx1", "x", "leader", "440902", None, PW),
                   lambda: actions.change_role(city_engine, AUDITOR, "maonan", "duty_officer"),
                   lambda: actions.unlock(city_engine, AUDITOR, "zhiban")):
        with pytest.raises(PermissionDenied):
            denied()
    grant = [r for r in audit_rows(city_engine, "user_role_change")]
    assert [(r.actor, r.object_id, r.detail["from"], r.detail["to"]) for r in grant] == \
        [("anquan", "newbie", "leader", "audit_admin")]


def test_no_administrator_role_is_left_without_an_active_holder(city_engine):
    make_user(city_engine, "shenji", "audit_admin")
    make_user(city_engine, "anquan", "sec_admin")
    with pytest.raises(service.UserError, match="最后一个启用的审计管理员"):
        actions.deactivate(city_engine, SYS, "shenji")
    with pytest.raises(service.UserError, match="最后一个启用的审计管理员"):
        actions.change_role(city_engine, Viewer("anquan2", "sec_admin", "440900"), "shenji", "leader")


def test_taking_over_an_account_needs_two_administrators(city_engine):
    """The account administrator resets a password but the second factor still stands; only the
    security administrator can reset that, and cannot set a password."""
    make_user(city_engine, "zhiban", "duty_officer")
    secret, _, _ = _enrolled(city_engine, "zhiban")
    actions.reset_password(city_engine, SYS, "zhiban", NEW_PW)
    _, token = service.sign_in(city_engine, "zhiban", NEW_PW, "10.0.0.9", now=T0 + timedelta(minutes=5))
    assert _stage(city_engine, token) == "totp"  # the new password alone opens nothing
    actions.reset_second_factor(city_engine, SEC, "zhiban")
    user = _user(city_engine, "zhiban")
    assert user.totp_secret is None and user.password_must_change
    assert [r.action for r in audit_rows(city_engine) if r.action.startswith("user_")][-2:] == \
        ["user_password_set", "user_mfa_reset"]


# ------------------------------------------------------------------ password lifecycle

@pytest.mark.parametrize("pw", ["Password123", "Passw0rd!", "Admin@123", "Aa123456", "P@ssw0rd123", "Zhang@123456",
                                "Woaini@1314", "2026@Maoming", "1qaz@WSX3edc", "Qwer@12345"])
def test_common_passwords_are_refused(city_engine, pw):
    assert passwords.is_common(pw)
    with pytest.raises(PasswordRuleError, match="过于常见"):
        make_user(city_engine, "someone", password=pw)


@pytest.mark.parametrize("pw", ["Demo@2026!", "Str0ng!Passw0rd", "Lantern#River72", "密码Abcdefgh1", "Xk9#mP2!aa"])
def test_uncommon_passwords_pass(pw):
    assert not passwords.is_common(pw)


def test_change_own_password_checks_current_rules_and_history(city_engine):
    make_user(city_engine, "maonan", "leader", "440902")
    _, keep = service.sign_in(city_engine, "maonan", PW, "10.0.0.1")
    _, other = service.sign_in(city_engine, "maonan", PW, "10.0.0.2")
    with pytest.raises(service.UserError, match="当前密码不正确"):
        actions.change_own_password(city_engine, "maonan", "Wrong@2026!!", NEW_PW, token=keep)
    with pytest.raises(PasswordRuleError, match="过于常见"):
        actions.change_own_password(city_engine, "maonan", PW, "Password123", token=keep)
    with pytest.raises(PasswordRuleError, match="相同"):
        actions.change_own_password(city_engine, "maonan", PW, PW, token=keep)
    assert actions.change_own_password(city_engine, "maonan", PW, NEW_PW, token=keep) == 1
    assert sessions.resolve_token(city_engine, keep).username == "maonan"  # this session stays
    with pytest.raises(sessions.SessionInvalid):
        sessions.resolve_token(city_engine, other)  # every other one ends
    # Going back to a recent password is refused (history of 5).
    with pytest.raises(PasswordRuleError, match="最近 5 次"):
        actions.change_own_password(city_engine, "maonan", NEW_PW, PW, token=keep)
    assert [r.actor for r in audit_rows(city_engine, "password_change")] == ["maonan"]
    assert [r.detail["reason"] for r in audit_rows(city_engine, "password_change_failed")] == ["bad_current_password"]


def test_history_is_trimmed_to_the_configured_size(city_engine, monkeypatch):
    monkeypatch.setenv("CITYOPS_SECURITY_PASSWORD_HISTORY", "2")
    settings.reload_settings()
    make_user(city_engine, "maonan", "leader", "440902")
    chain = [PW, "Lantern#River72", "Copper&Valley81", "Meadow!Stone93"]
    for old, new in zip(chain, chain[1:]):
        actions.change_own_password(city_engine, "maonan", old, new)
    # Current + 2 kept: the first password is free again, the second is not.
    with pytest.raises(PasswordRuleError):
        actions.change_own_password(city_engine, "maonan", chain[-1], chain[2])
    actions.change_own_password(city_engine, "maonan", chain[-1], PW)


def test_expired_or_reset_password_must_be_changed_at_sign_in(city_engine):
    make_user(city_engine, "maonan", "leader", "440902")
    late = T0 + timedelta(days=91)
    with session_scope(city_engine) as s:
        s.execute(User.__table__.update().values(password_changed_at=T0))
    _, token = service.sign_in(city_engine, "maonan", PW, "10.0.0.1", now=late)
    assert _stage(city_engine, token) == "password"
    with pytest.raises(sessions.SessionInvalid) as exc:
        sessions.resolve_token(city_engine, token, now=late)
    assert exc.value.reason == "password"
    actions.change_own_password(city_engine, "maonan", PW, NEW_PW, token=token, now=late)
    assert sessions.resolve_token(city_engine, token, now=late).username == "maonan"
    # An administrator's reset: the user must choose their own at the next sign-in.
    actions.reset_password(city_engine, SYS, "maonan", "Copper&Valley81")
    _, token = service.sign_in(city_engine, "maonan", "Copper&Valley81", "10.0.0.1")
    assert _stage(city_engine, token) == "password"


def test_duty_officer_with_an_expired_password_does_the_second_factor_first(city_engine):
    make_user(city_engine, "zhiban", "duty_officer")
    secret, _, _ = _enrolled(city_engine, "zhiban")
    with session_scope(city_engine) as s:
        s.execute(User.__table__.update().values(password_changed_at=T0))
    late = T0 + timedelta(days=100)
    _, token = service.sign_in(city_engine, "zhiban", PW, "10.0.0.1", now=late)
    assert _stage(city_engine, token) == "totp"
    assert actions.verify_second_factor(city_engine, token, totp.code_at(secret, late), now=late) == "password"


def test_sessions_per_user_are_capped_oldest_first(city_engine):
    make_user(city_engine, "maonan", "leader", "440902")
    tokens = [service.sign_in(city_engine, "maonan", PW, "10.0.0.1", now=T0 + timedelta(minutes=i))[1]
              for i in range(5)]
    now = T0 + timedelta(minutes=5)
    live = []
    for t in tokens:
        try:
            sessions.resolve_token(city_engine, t, now=now)
            live.append(t)
        except sessions.SessionInvalid as exc:
            assert exc.reason == "revoked"
    assert live == tokens[-3:]  # [security].max_sessions default 3


def test_idle_timeout_follows_the_role(city_engine):
    limits = {r: sessions.SessionLimits.from_settings(r).idle for r in roles.ROLE_NAMES}
    assert limits["sys_admin"] == limits["sec_admin"] == limits["audit_admin"] == timedelta(minutes=15)
    assert limits["leader"] == timedelta(minutes=60) and limits["wall_display"] == timedelta(hours=12)
    make_user(city_engine, "daping", "wall_display")
    make_user(city_engine, "anquan", "sec_admin")
    with session_scope(city_engine) as s:
        wall = sessions.open_session(s, "daping", now=T0)
        sec = sessions.open_session(s, "anquan", now=T0)
    assert sessions.resolve_token(city_engine, wall, now=T0 + timedelta(hours=3)).role == "wall_display"
    with pytest.raises(sessions.SessionInvalid) as exc:
        sessions.resolve_token(city_engine, sec, now=T0 + timedelta(minutes=16))
    assert exc.value.reason == "idle" and "15 分钟" in str(exc.value)


def test_wall_display_is_read_only():
    assert [c for c, holders in roles.CAPABILITIES.items() if "wall_display" in holders] == []
    assert [p.url_path for p in roles.pages_for("wall_display")] == ["wall", "account"]


# ------------------------------------------------------------------ audit of reads, refusals, exports

def test_refusals_personal_views_and_exports_are_audited(city_engine):
    duty = Viewer("zhiban", "duty_officer", "440900")
    leader = Viewer("maonan", "leader", "440902")
    actions.record_refusal(city_engine, leader, "页面 系统管理", reason="无权", object_id="admin", client="10.0.0.3")
    assert actions.record_personal_view(city_engine, duty, "event", 42, fields=["reporter_phone"], scope="440902001001001")
    assert not actions.record_personal_view(city_engine, leader, "event", 42, fields=["reporter_phone"])  # masked
    actions.record_export(city_engine, leader, "会议简报", "440902", detail={"format": "html"})
    with pytest.raises(PermissionDenied):
        actions.record_export(city_engine, leader, "会议简报", "440904")  # outside the zone
    with pytest.raises(PermissionDenied):
        actions.record_export(city_engine, Viewer("daping", "wall_display", "440900"), "会议简报", "440900")
    [refused] = audit_rows(city_engine, "access_denied")
    assert (refused.actor, refused.object_id, refused.client, refused.detail["what"]) == \
        ("maonan", "admin", "10.0.0.3", "页面 系统管理")
    [viewed] = audit_rows(city_engine, "personal_data_view")
    assert (viewed.actor, viewed.object_id, viewed.detail["fields"]) == ("zhiban", "42", ["reporter_phone"])
    [export] = audit_rows(city_engine, "export")
    assert (export.actor, export.scope, export.detail["what"]) == ("maonan", "440902", "会议简报")
