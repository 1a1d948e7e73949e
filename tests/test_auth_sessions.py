"""Sessions: idle and absolute expiry (injected clock), revocation, the idle timer refresh, and cookie
signing / tampering."""
from __future__ import annotations

import os
import stat
from datetime import timedelta

import pytest
from sqlalchemy import select

from auth import cookies, service, sessions
from store.db import session_scope
from store.models.auth import AuthSession
from tests.test_auth_support import T0, TEST_SECRET, auth_test_settings, make_user  # noqa: F401

LIMITS = sessions.SessionLimits(idle=timedelta(minutes=120), absolute=timedelta(hours=12))


def _open(engine, name="zhiban", now=T0):  # noqa: ANN001
    with session_scope(engine) as s:
        return sessions.open_session(s, name, client="10.0.0.1", user_agent="pytest", now=now, limits=LIMITS)


def _check(engine, token, now):  # noqa: ANN001
    return sessions.resolve_token(engine, token, now=now, limits=LIMITS)


def test_token_is_stored_only_as_a_hash(city_engine):
    make_user(city_engine, "zhiban")
    token = _open(city_engine)
    with session_scope(city_engine, readonly=True) as s:
        rows = s.execute(select(AuthSession)).scalars().all()
    assert len(rows) == 1 and rows[0].token_hash == sessions.token_hash(token) and token not in rows[0].token_hash


def test_idle_expiry_and_refresh_with_injected_clock(city_engine):
    make_user(city_engine, "zhiban", "leader", "440902")
    token = _open(city_engine)
    # Active every 100 minutes: each check restarts the idle timer, so the session lives on.
    for step in range(1, 5):
        viewer = _check(city_engine, token, T0 + timedelta(minutes=100 * step))
        assert viewer.username == "zhiban" and viewer.zone_code == "440902"
    last = T0 + timedelta(minutes=400)
    with pytest.raises(sessions.SessionInvalid) as exc:
        _check(city_engine, token, last + timedelta(minutes=120, seconds=1))
    assert exc.value.reason == "idle" and "120 分钟未操作" in str(exc.value)


def test_self_refreshing_screens_do_not_keep_a_session_alive(city_engine):
    """A live fragment re-checks the session every few seconds (touch=False): that must never count as
    activity, or an unattended console would never reach its idle timeout."""
    make_user(city_engine, "zhiban", "leader", "440902")
    token = _open(city_engine)
    for step in range(1, 4):
        sessions.resolve_token(city_engine, token, now=T0 + timedelta(minutes=40 * step), limits=LIMITS, touch=False)
    with pytest.raises(sessions.SessionInvalid) as exc:
        sessions.resolve_token(city_engine, token, now=T0 + timedelta(minutes=120, seconds=1), limits=LIMITS,
                               touch=False)
    assert exc.value.reason == "idle"


def test_checks_within_a_minute_do_not_write(city_engine):
    make_user(city_engine, "zhiban")
    token = _open(city_engine)
    _check(city_engine, token, T0 + timedelta(seconds=30))
    with session_scope(city_engine, readonly=True) as s:
        assert s.get(AuthSession, sessions.token_hash(token)).last_seen_at == T0
    _check(city_engine, token, T0 + timedelta(seconds=90))
    with session_scope(city_engine, readonly=True) as s:
        assert s.get(AuthSession, sessions.token_hash(token)).last_seen_at == T0 + timedelta(seconds=90)


def test_absolute_expiry_even_when_active(city_engine):
    make_user(city_engine, "zhiban")
    token = _open(city_engine)
    for hour in range(1, 12):
        _check(city_engine, token, T0 + timedelta(hours=hour, minutes=59))
    with pytest.raises(sessions.SessionInvalid) as exc:
        _check(city_engine, token, T0 + timedelta(hours=12))
    assert exc.value.reason == "expired"


def test_revoked_unknown_and_inactive(city_engine):
    make_user(city_engine, "zhiban")
    make_user(city_engine, "other")
    token = _open(city_engine)
    with pytest.raises(sessions.SessionInvalid) as exc:
        _check(city_engine, "not-a-token", T0)
    assert exc.value.reason == "unknown"
    assert service.sign_out(city_engine, token, "10.0.0.1", now=T0) == "zhiban"
    assert service.sign_out(city_engine, token, "10.0.0.1", now=T0) is None  # second logout: no-op
    with pytest.raises(sessions.SessionInvalid) as exc:
        _check(city_engine, token, T0 + timedelta(minutes=1))
    assert exc.value.reason == "revoked"
    token2 = _open(city_engine, "other")
    with session_scope(city_engine) as s:
        s.execute(service.User.__table__.update().values(active=False))
    with pytest.raises(sessions.SessionInvalid) as exc:
        _check(city_engine, token2, T0 + timedelta(minutes=1))
    assert exc.value.reason == "inactive"


def test_role_change_takes_effect_on_next_check(city_engine):
    make_user(city_engine, "zhiban", "duty_officer", "440900")
    token = _open(city_engine)
    with session_scope(city_engine) as s:
        s.execute(service.User.__table__.update().values(role="grid_officer", zone_code="440902001001001"))
    viewer = _check(city_engine, token, T0 + timedelta(minutes=1))
    assert (viewer.role, viewer.zone_code) == ("grid_officer", "440902001001001")


def test_expired_sessions_are_purged_on_next_login(city_engine):
    make_user(city_engine, "zhiban")
    old = _open(city_engine)
    _open(city_engine, now=T0 + timedelta(hours=13))
    with session_scope(city_engine, readonly=True) as s:
        hashes = set(s.execute(select(AuthSession.token_hash)).scalars())
    assert sessions.token_hash(old) not in hashes and len(hashes) == 1


# ------------------------------------------------------------------ cookie signing

def test_cookie_round_trip_and_tampering():
    signed = cookies.sign_token("abc123")
    assert cookies.unsign_token(signed) == "abc123"
    body, sep, sig = signed.rpartition(".")
    # Change the first signature character (the last one carries base64 padding bits, so changing
    # it may leave the decoded signature bytes identical).
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    other_payload = cookies.sign_token("abc124").split(".", 1)[0] + "." + signed.split(".", 1)[1]
    for bad in [body + sep + flipped, other_payload, "", None, "x" * 600,
                "' OR 1=1 --", cookies.sign_token("abc123", key="another-secret-key-of-enough-length-000")]:
        assert cookies.unsign_token(bad) is None


def test_cookie_age_limit():
    signed = cookies.sign_token("abc123")
    assert cookies.unsign_token(signed, max_age=3600) == "abc123"
    assert cookies.unsign_token(signed, max_age=-1) is None


def test_secret_from_env_or_generated_file(tmp_path, monkeypatch):
    assert cookies.secret_key() == TEST_SECRET
    monkeypatch.setenv(cookies.SECRET_ENV, "short")
    with pytest.raises(RuntimeError, match="太短"):
        cookies.secret_key()
    monkeypatch.delenv(cookies.SECRET_ENV)
    path = tmp_path / "data" / "secret.key"
    key = cookies.secret_key(path)
    assert len(key) >= 32 and cookies.secret_key(path) == key  # stable across calls
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
