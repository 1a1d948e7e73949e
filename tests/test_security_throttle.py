"""Issue 19, finding 4 (lockout as a weapon and an oracle) and the audit half of finding 6 (one audit
row per blocked attempt), on both backends.

- Another address's failures never keep the right password out (the "weapon").
- An unknown name answers exactly like a known one: the same codes, messages and waits for the same
  sequence of attempts, one Argon2 verification with the same parameters, the same SQL statements.
- The delay grows (2 s, 4 s, 8 s …) and is capped; a distributed guess gets one try per address.
- A flood of refused attempts from one address is one audit row per window, with the count.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select

import settings
from auth import passwords, service, throttle
from store.db import session_scope
from store.models import LoginAttempt
from store.models.security import LoginBlockWindow
from tests.test_auth_support import PW, T0, audit_rows, auth_test_settings, make_user  # noqa: F401

WRONG = "Wrong@2026!!"
POLICY = throttle.Policy(window=timedelta(minutes=15), base=timedelta(seconds=2), per_pair=5, per_client=20,
                         per_account=30, audit_window=timedelta(minutes=5))


def _try(engine, name, password=WRONG, client="10.0.0.1", at=T0):  # noqa: ANN001, ANN202
    """(code, message, wait) of one attempt; ("ok", name, None) on success."""
    try:
        viewer, _ = service.sign_in(engine, name, password, client, now=at)
        return ("ok", viewer.username, None)
    except service.LoginFailed as exc:
        return (exc.code, str(exc), exc.wait_seconds)


# ------------------------------------------------------------------ the policy, pure

def test_delay_doubles_and_is_capped():
    assert [POLICY.delay(k).total_seconds() for k in range(0, 6)] == [0, 2, 4, 8, 16, 32]
    assert POLICY.delay(30) == POLICY.window


def test_verdict_pair_client_and_account():
    A = throttle.Attempt  # noqa: N806
    five = [A("c1", "u", T0 + timedelta(seconds=i), False) for i in range(5)]
    assert throttle.verdict(five[:4], "c1", "u", T0 + timedelta(seconds=4), POLICY) is None
    block = throttle.verdict(five, "c1", "u", T0 + timedelta(seconds=5), POLICY)
    assert block.reason == "pair" and block.until == T0 + timedelta(seconds=6)
    assert throttle.verdict(five, "c2", "u", T0 + timedelta(seconds=5), POLICY) is None  # a fresh address
    # A success from that address resets the pair.
    assert throttle.verdict([*five, A("c1", "u", T0 + timedelta(seconds=5), True)], "c1", "u",
                            T0 + timedelta(seconds=5), POLICY) is None
    # Failures older than the window no longer count.
    assert throttle.verdict(five, "c1", "u", T0 + timedelta(minutes=16), POLICY) is None
    # Distributed guessing: once the account has 30 failures from many addresses, an address that has
    # itself failed once gets no more free tries; a fresh one still does.
    spread = [A(f"d{i}", "u", T0 + timedelta(seconds=i), False) for i in range(30)]
    assert throttle.verdict(spread, "d29", "u", T0 + timedelta(seconds=30), POLICY).reason == "pair"
    assert throttle.verdict(spread, "fresh", "u", T0 + timedelta(seconds=30), POLICY) is None


# ------------------------------------------------------------------ the weapon

def test_someone_elses_failures_never_keep_the_right_password_out(city_engine, monkeypatch):
    monkeypatch.setenv("CITYOPS_AUTH_MAX_FAILED_PER_ACCOUNT", "10")
    settings.reload_settings()
    make_user(city_engine, "lingdao", "leader", "440900")
    # An attacker hammers the account from 12 addresses, 5 tries a second each, for a minute.
    codes = [_try(city_engine, "lingdao", client=f"203.0.113.{n}", at=T0 + timedelta(seconds=n * 5 + i))[0]
             for n in range(12) for i in range(5)]
    # Once the account is under attack from many addresses, each address gets about one free try.
    assert codes[:10] == ["invalid"] * 10 and codes.count("locked") >= 20
    # Meanwhile the user, from their own desk, signs in with the right password at once.
    assert _try(city_engine, "lingdao", PW, client="10.20.30.40", at=T0 + timedelta(seconds=59, milliseconds=500)) \
        == ("ok", "lingdao", None)


# ------------------------------------------------------------------ the oracle

def test_unknown_and_known_names_answer_alike(city_engine):
    make_user(city_engine, "zhiban", "leader", "440900")
    steps = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 16, 40]  # seconds: free tries, then throttled and waiting
    known = [_try(city_engine, "zhiban", client="10.1.1.1", at=T0 + timedelta(seconds=s)) for s in steps]
    unknown = [_try(city_engine, "nosuchuser", client="10.1.1.2", at=T0 + timedelta(seconds=s)) for s in steps]
    assert known == unknown
    assert {c for c, _, _ in known} == {"invalid", "locked"}  # the unknown name is "locked" too


def test_unknown_and_known_names_take_the_same_work(city_engine, monkeypatch):
    """Same timing class: one Argon2 verification against a hash of the same cost, and the same SQL
    statements in the same order (only the values differ)."""
    make_user(city_engine, "zhiban", "leader", "440900")
    with session_scope(city_engine, readonly=True) as s:
        real_hash = s.execute(select(service.User.password_hash).where(service.User.username == "zhiban")).scalar_one()
    verified: list[str] = []
    real_verify = passwords.verify_password

    def spy(stored, password):  # noqa: ANN001, ANN202
        verified.append(stored.rsplit("$", 2)[0])  # algorithm, version and cost parameters
        return real_verify(stored, password)

    monkeypatch.setattr(passwords, "verify_password", spy)
    statements: list[str] = []

    @event.listens_for(city_engine, "before_cursor_execute")
    def record(conn, cursor, statement, params, context, executemany):  # noqa: ANN001
        statements.append(statement.split(" WHERE")[0])

    try:
        _try(city_engine, "zhiban", client="10.2.2.2")
        known_sql, statements[:] = list(statements), []
        _try(city_engine, "ghost", client="10.2.2.3")
        unknown_sql = list(statements)
    finally:
        event.remove(city_engine, "before_cursor_execute", record)
    assert known_sql == unknown_sql
    assert len(verified) == 2 and verified[0] == verified[1] == real_hash.rsplit("$", 2)[0]


def test_unlock_lifts_the_throttle(city_engine):
    make_user(city_engine, "zhiban", "leader", "440900")
    for i in range(5):
        _try(city_engine, "zhiban", at=T0 + timedelta(seconds=i))
    assert _try(city_engine, "zhiban", PW, at=T0 + timedelta(seconds=5))[0] == "locked"
    with session_scope(city_engine) as s:
        service.unlock(s, "zhiban", actor="cli:root")
    assert _try(city_engine, "zhiban", PW, at=T0 + timedelta(seconds=5))[0] == "ok"


# ------------------------------------------------------------------ blocked attempts in the audit

def test_a_flood_from_one_address_is_one_audit_row_per_window(city_engine):
    make_user(city_engine, "zhiban", "leader", "440900")
    for i in range(20):  # 20 free failures from the address (any names), then it is held back
        _try(city_engine, f"spray{i}", client="198.51.100.7", at=T0 + timedelta(milliseconds=10 * i))
    failed = len(audit_rows(city_engine, "login_failed"))
    for i in range(300):  # 300 refused tries within one minute
        at = T0 + timedelta(seconds=1, milliseconds=i)
        code = _try(city_engine, f"spray{i % 7}", client="198.51.100.7", at=at)[0]
        assert code == "client_locked"
    assert len(audit_rows(city_engine, "login_failed")) == failed  # no row per refused try …
    assert audit_rows(city_engine, "login_blocked") == []          # … and the window is still open
    with session_scope(city_engine, readonly=True) as s:
        attempts = s.execute(select(LoginAttempt)).scalars().all()
        [window] = s.execute(select(LoginBlockWindow)).scalars().all()
    assert len(attempts) == 20 and window.count == 300  # refused tries are counted, not recorded
    # The next sign-in after the window closed (anyone's) writes the window's single row.
    _try(city_engine, "zhiban", PW, client="10.0.0.9", at=T0 + timedelta(minutes=6))
    [row] = audit_rows(city_engine, "login_blocked")
    assert (row.client, row.detail["count"], row.detail["reason"]) == ("198.51.100.7", 300, "client")
    assert sorted(row.detail["usernames"]) == sorted(f"spray{i}" for i in range(7))
    with session_scope(city_engine, readonly=True) as s:
        assert s.execute(select(LoginBlockWindow)).scalars().all() == []


@pytest.mark.parametrize("force", [False, True])
def test_flush_writes_only_closed_windows_unless_forced(city_engine, force):
    with session_scope(city_engine) as s:
        throttle.record_blocked(s, "1.2.3.4", "x", throttle.Block("pair", T0), T0, POLICY)
        throttle.record_blocked(s, "1.2.3.4", "y", throttle.Block("pair", T0), T0 + timedelta(seconds=1), POLICY)
    with session_scope(city_engine) as s:
        written = throttle.flush_blocked(s, T0 + timedelta(minutes=1), POLICY, everything=force)
    assert written == (1 if force else 0)
    if force:
        [row] = audit_rows(city_engine, "login_blocked")
        assert row.detail["count"] == 2 and row.detail["usernames"] == ["x", "y"]
