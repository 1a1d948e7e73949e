"""Password hashing (Argon2id via argon2-cffi) and the configurable password rules.

argon2-cffi is the reference binding of the Password Hashing Competition winner; its defaults follow
RFC 9106. `[auth]` may tune the cost (argon2_time_cost, argon2_memory_kib, argon2_parallelism);
`needs_rehash` then tells the login to upgrade old hashes transparently.

Besides length and character classes, a password is refused when it is common (OWASP ASVS 2.1.7):
- it is on Django's list of 19,640 common passwords (auth/data/common-passwords.txt.gz, copied
  unchanged from Django 5.2.19, BSD licence in auth/data/LICENSE-common-passwords.txt) or on our
  curated list of Chinese weak passwords (auth/data/common-passwords-zh.txt);
- or it is a word of auth/data/weak-password-words.txt (account words, pinyin 密码/我爱你/管理员…,
  common surnames, keyboard rows, this city) with only digits and symbols before or after it, after
  undoing common letter swaps — "Password123", "Admin@123", "Zhang@123456", "P@ssw0rd!".
Lifecycle ([security]): `expired` (password_max_age_days) and `reuses` (password_history).
"""
from __future__ import annotations

import gzip
import os
import threading
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

import settings

# Beyond this a password is refused before hashing, so a megabyte "password" cannot tie up a worker.
MAX_LENGTH = 256
DATA = Path(__file__).resolve().parent / "data"
COMMON_MESSAGE = "该密码过于常见或容易被猜到（如 Password123、Admin@123、姓名拼音加数字），请换一个"
# Common letter swaps undone before looking a password's word up ("P@ssw0rd" → "password"); "1"
# stands for either i or l, so both readings are tried.
_UNSWAP = [str.maketrans({"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", "$": "s", "5": "s", "7": "t"}),
           str.maketrans({"@": "a", "4": "a", "0": "o", "1": "l", "!": "i", "3": "e", "$": "s", "5": "s", "7": "t"})]

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


@lru_cache(maxsize=1)
def _hashing_slots() -> threading.BoundedSemaphore:
    """At most [auth].argon2_concurrency password hashes at once in this process (default: one fewer than
    the cores, at least one). Argon2 is CPU and memory by design: 16 hashed at once on 2 cores gave no more
    sign-ins per second than 2 did, but starved the dispatchers' requests (a 立案 waited 2.2 s instead of
    0.6 s, bench/contention.py). Waiting for a slot costs no CPU."""
    n = _auth_cfg().get("argon2_concurrency") or max(1, (os.cpu_count() or 2) - 1)
    return threading.BoundedSemaphore(int(n))


def hash_password(password: str) -> str:
    with _hashing_slots():
        return hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches. A missing or malformed hash (e.g. an OIDC-only user) is a
    mismatch, never an exception, so the login path treats it like a wrong password."""
    if not password_hash or len(password) > MAX_LENGTH:
        return False
    try:
        with _hashing_slots():
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


def _lines(path: Path) -> frozenset[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return frozenset(s for line in fh if (s := line.strip().lower()) and not s.startswith("#"))


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    return _lines(DATA / "common-passwords.txt.gz") | _lines(DATA / "common-passwords-zh.txt")


@lru_cache(maxsize=1)
def weak_words() -> frozenset[str]:
    return _lines(DATA / "weak-password-words.txt")


def _is_word(text: str) -> bool:
    words = weak_words()
    return any((u := text.translate(table)).isascii() and u.isalpha() and u in words for table in _UNSWAP)


def is_common(password: str) -> bool:
    """True when the password is on a common-password list, or is a weak word with only digits and
    symbols added before or after it (see the module docstring)."""
    text = password.strip().lower()
    if text in common_passwords():
        return True
    for i in range(1, len(text) + 1):
        head, tail = text[:i], text[i:]
        if not any(ch.isalpha() for ch in tail) and _is_word(head):
            return True
        if not any(ch.isalpha() for ch in head) and tail and _is_word(tail):
            return True
    return False


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
    if len(password) <= MAX_LENGTH and is_common(password):
        problems.append(COMMON_MESSAGE)
    return problems


def validate_password(password: str, username: str | None = None) -> None:
    problems = password_problems(password, username)
    if problems:
        raise PasswordRuleError("；".join(problems))


def rules_text() -> str:
    """The rules in one Chinese sentence, for form help text."""
    cfg = _auth_cfg()
    text = (f"至少 {int(cfg.get('password_min_length', 10))} 位，包含小写字母、大写字母、数字、符号中的至少 "
            f"{int(cfg.get('password_require_classes', 3))} 类，不能包含用户名，不能是常见密码")
    if history_size():
        text += f"，不能与最近 {history_size()} 次使用过的密码相同"
    return text


# ---------------------------------------------------------------- lifecycle ([security])

def _security_cfg() -> dict:
    return settings.get_settings().get("security", {})


def max_age() -> timedelta | None:
    """How long a password lasts ([security].password_max_age_days; 0 or missing = forever)."""
    days = float(_security_cfg().get("password_max_age_days", 0) or 0)
    return timedelta(days=days) if days > 0 else None


def expired(changed_at: datetime | None, now: datetime) -> bool:
    """True when a password set at `changed_at` must be changed now. A local password with no date
    (set before this rule existed) counts as expired, so its owner picks a new one once."""
    limit = max_age()
    if limit is None:
        return False
    return changed_at is None or now - changed_at >= limit


def history_size() -> int:
    return max(0, int(_security_cfg().get("password_history", 0) or 0))


def reuses(password: str, previous_hashes: list[str]) -> bool:
    """True when `password` matches one of the previous hashes (slow: one Argon2 check each, so call
    it outside any write transaction)."""
    return any(verify_password(h, password) for h in previous_hashes)
