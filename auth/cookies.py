"""The signed session cookie: its secret, signing and checking (itsdangerous).

The cookie carries only a random session token, signed with a timestamp. The signature lets a
tampered or forged cookie be refused without touching the database; the token itself is looked up in
the server-side sessions table (auth.sessions) for idle expiry and revocation.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

import settings

SECRET_ENV = "CITYOPS_SECRET_KEY"
SECRET_FILE = settings.ROOT / "data" / "secret.key"
_SALT = "cityops.session.v1"


def _read_or_create_secret(path: Path) -> str:
    """Read the key file, creating it (0600, exclusive create so two processes starting together
    agree on one key) on first run."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    return key


def secret_key(path: Path | None = None) -> str:
    """The signing secret: $CITYOPS_SECRET_KEY, else data/secret.key (generated on first run)."""
    env = os.environ.get(SECRET_ENV, "").strip()
    if env:
        if len(env) < 32:
            raise RuntimeError(f"{SECRET_ENV} 太短：至少 32 个字符")
        return env
    key = _read_or_create_secret(path or SECRET_FILE)
    if len(key) < 32:
        raise RuntimeError(f"密钥文件 {path or SECRET_FILE} 内容无效（至少 32 个字符）")
    return key


def _serializer(key: str | None = None) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key or secret_key(), salt=_SALT)


def cookie_name() -> str:
    return settings.get_settings()["auth"].get("cookie_name", "cityops_session")


def secure_flag(https: bool) -> bool:
    """Whether a cookie we set gets the Secure flag: `[auth].cookie_secure` true/false, or "auto" =
    when the browser's connection was HTTPS (auth.clients.came_over_https: the request's scheme, or
    X-Forwarded-Proto from a trusted proxy)."""
    setting = settings.get_settings()["auth"].get("cookie_secure", "auto")
    return setting if isinstance(setting, bool) else bool(https)


def max_age_seconds() -> int:
    return int(float(settings.get_settings()["auth"].get("session_max_hours", 12)) * 3600)


def sign_token(token: str, key: str | None = None) -> str:
    return _serializer(key).dumps(token)


def unsign_token(value: str | None, key: str | None = None, max_age: int | None = None) -> str | None:
    """The token inside a cookie value, or None when the value is missing, tampered with, signed
    with another key, or older than `max_age` seconds (default: the absolute session limit)."""
    if not value or len(value) > 512:
        return None
    try:
        token = _serializer(key).loads(value, max_age=max_age if max_age is not None else max_age_seconds())
    except (BadSignature, SignatureExpired):
        return None
    return token if isinstance(token, str) else None
