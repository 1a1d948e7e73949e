"""Password hashing (Argon2id via argon2-cffi) and the configurable password rules.

argon2-cffi is the reference binding of the Password Hashing Competition winner; its defaults follow
RFC 9106. `[auth]` may tune the cost (argon2_time_cost, argon2_memory_kib, argon2_parallelism);
`needs_rehash` then tells the login to upgrade old hashes transparently.
"""
from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

import settings

# Beyond this a password is refused before hashing, so a megabyte "password" cannot tie up a worker.
MAX_LENGTH = 256

CLASS_NAMES = ("小写字母", "大写字母", "数字", "符号")


class PasswordRuleError(ValueError):
    """The password breaks a rule; the message lists every broken rule in Chinese."""


def _auth_cfg() -> dict:
    return settings.get_settings().get("auth", {})


@lru_cache(maxsize=4)
def _hasher_for(time_cost: int | None, memory_kib: int | None, parallelism: int | None) -> PasswordHasher:
    kwargs = {}
    if time_cost:
        kwargs["time_cost"] = int(time_cost)
    if memory_kib:
        kwargs["memory_cost"] = int(memory_kib)
    if parallelism:
        kwargs["parallelism"] = int(parallelism)
    return PasswordHasher(**kwargs)


def hasher() -> PasswordHasher:
    cfg = _auth_cfg()
    return _hasher_for(cfg.get("argon2_time_cost"), cfg.get("argon2_memory_kib"), cfg.get("argon2_parallelism"))


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches. A missing or malformed hash (e.g. an OIDC-only user) is a
    mismatch, never an exception, so the login path treats it like a wrong password."""
    if not password_hash or len(password) > MAX_LENGTH:
        return False
    try:
        return hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


# A fixed hash to verify against when the username does not exist, so that an unknown name takes
# as long as a wrong password (no user enumeration by timing).
@lru_cache(maxsize=1)
def dummy_hash() -> str:
    return hash_password("not-a-real-password-0")


def character_classes(password: str) -> set[str]:
    classes = set()
    for ch in password:
        if ch.isascii() and ch.islower():
            classes.add("小写字母")
        elif ch.isascii() and ch.isupper():
            classes.add("大写字母")
        elif ch.isdigit():
            classes.add("数字")
        elif not ch.isspace():
            # Punctuation, and any non-ASCII letter (e.g. Chinese), counts as a symbol.
            classes.add("符号")
    return classes


def password_problems(password: str, username: str | None = None) -> list[str]:
    """Every rule `password` breaks, as Chinese sentences (empty list = acceptable)."""
    cfg = _auth_cfg()
    min_length = int(cfg.get("password_min_length", 10))
    need_classes = int(cfg.get("password_require_classes", 3))
    problems: list[str] = []
    if len(password) < min_length:
        problems.append(f"密码长度至少 {min_length} 位（当前 {len(password)} 位）")
    if len(password) > MAX_LENGTH:
        problems.append(f"密码长度不能超过 {MAX_LENGTH} 位")
    found = character_classes(password)
    if len(found) < need_classes:
        missing = "、".join(c for c in CLASS_NAMES if c not in found)
        problems.append(f"密码须包含小写字母、大写字母、数字、符号中的至少 {need_classes} 类（缺少：{missing}）")
    if password != password.strip():
        problems.append("密码首尾不能有空格")
    if username and len(username) >= 3 and username.lower() in password.lower():
        problems.append("密码不能包含用户名")
    return problems


def validate_password(password: str, username: str | None = None) -> None:
    problems = password_problems(password, username)
    if problems:
        raise PasswordRuleError("；".join(problems))


def rules_text() -> str:
    """The rules in one Chinese sentence, for form help text."""
    cfg = _auth_cfg()
    return (f"至少 {int(cfg.get('password_min_length', 10))} 位，包含小写字母、大写字母、数字、符号中的至少 "
            f"{int(cfg.get('password_require_classes', 3))} 类，不能包含用户名")
