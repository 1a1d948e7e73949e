"""Password hashing (Argon2id) and the configurable password rules."""
from __future__ import annotations

import pytest

import settings
from auth import passwords
from tests.test_auth_support import auth_test_settings  # noqa: F401 - autouse fixture


def test_hash_is_argon2id_salted_and_verifies():
    h1 = passwords.hash_password("Demo@2026!")
    h2 = passwords.hash_password("Demo@2026!")
    assert h1.startswith("$argon2id$")
    assert h1 != h2  # random salt
    assert passwords.verify_password(h1, "Demo@2026!")
    assert not passwords.verify_password(h1, "Demo@2026?")
    assert not passwords.verify_password(h1, "")


@pytest.mark.parametrize("bad_hash", [None, "", "not-a-hash", "$argon2id$v=19$garbage"])
def test_verify_against_missing_or_malformed_hash_is_false(bad_hash):
    assert passwords.verify_password(bad_hash, "Demo@2026!") is False


def test_overlong_password_is_refused_without_hashing():
    h = passwords.hash_password("Demo@2026!")
    assert passwords.verify_password(h, "x" * (passwords.MAX_LENGTH + 1)) is False


def test_needs_rehash_when_cost_changes(monkeypatch):
    old = passwords.hash_password("Demo@2026!")
    assert not passwords.needs_rehash(old)
    monkeypatch.setenv("CITYOPS_AUTH_ARGON2_TIME_COST", "2")
    settings.reload_settings()
    assert passwords.needs_rehash(old)
    assert passwords.verify_password(old, "Demo@2026!")  # old hashes still verify
    assert passwords.needs_rehash("garbage")


@pytest.mark.parametrize("pw", ["Demo@2026!", "abcdefgh12!!", "ABCDEFGHIJ12!", "密码Abcdefgh1"])
def test_acceptable_passwords(pw):
    assert passwords.password_problems(pw) == []


def test_two_classes_are_not_enough_by_default():
    assert any("至少 3 类" in p for p in passwords.password_problems("ABCDEFGHIJ12"))


def test_rules_report_every_problem_in_chinese():
    problems = passwords.password_problems("abc")
    assert any("至少 10 位" in p for p in problems)
    assert any("缺少" in p and "大写字母" in p for p in problems)
    with pytest.raises(passwords.PasswordRuleError, match="至少 10 位"):
        passwords.validate_password("abc")


def test_password_may_not_contain_username_or_edge_spaces():
    assert "密码不能包含用户名" in passwords.password_problems("Zhiban@2026!", "zhiban")
    assert "密码首尾不能有空格" in passwords.password_problems(" Demo@2026!x ")


def test_rules_follow_config(monkeypatch):
    monkeypatch.setenv("CITYOPS_AUTH_PASSWORD_MIN_LENGTH", "16")
    monkeypatch.setenv("CITYOPS_AUTH_PASSWORD_REQUIRE_CLASSES", "4")
    settings.reload_settings()
    problems = passwords.password_problems("Demo@2026!")
    assert any("至少 16 位" in p for p in problems)
    assert passwords.password_problems("Demo@2026!Demo@2026!") == []
    assert any("至少 4 类" in p for p in passwords.password_problems("demo2026demo2026!!"))
    assert "16" in passwords.rules_text()
