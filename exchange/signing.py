"""HMAC-SHA256 signatures on what we send and what we accept (a shared secret per deployment).

The signed text is `<unix seconds>.<body>`: the timestamp travels in X-Exchange-Timestamp and is
checked against the clock (±[exchange].signature_skew_seconds), so a captured request cannot be
replayed later; X-Exchange-Signature is `sha256=<hex>`. A receiver that de-duplicates by record id
(upward) or task id (downward) makes a replay inside the window harmless too.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone

HEADER_TIMESTAMP = "X-Exchange-Timestamp"
HEADER_SIGNATURE = "X-Exchange-Signature"
HEADER_SYSTEM = "X-Exchange-System"
PREFIX = "sha256="


def signature(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{int(timestamp)}.".encode("ascii") + body, hashlib.sha256)
    return PREFIX + mac.hexdigest()


def sign_headers(secret: str, body: bytes, system_id: str, now: datetime | None = None) -> dict[str, str]:
    """The headers that sign `body` now."""
    ts = int((now or datetime.now(timezone.utc)).timestamp())
    return {HEADER_TIMESTAMP: str(ts), HEADER_SIGNATURE: signature(secret, body, ts), HEADER_SYSTEM: system_id}


def problem(secret: str, body: bytes, timestamp: str | None, presented: str | None, *,
            now: datetime | None = None, skew_seconds: float = 300.0) -> str | None:
    """Why a signed message is not acceptable (Chinese), or None when the signature holds."""
    if not secret:
        return "本系统未配置交换密钥，不接受上级任务"
    if not timestamp or not presented:
        return f"缺少签名（{HEADER_TIMESTAMP} / {HEADER_SIGNATURE}）"
    try:
        ts = int(timestamp)
    except ValueError:
        return "签名时间戳不是整数秒"
    now_s = (now or datetime.now(timezone.utc)).timestamp()
    if abs(now_s - ts) > skew_seconds:
        return f"签名时间戳与本机时间相差超过 {skew_seconds:g} 秒"
    if not hmac.compare_digest(signature(secret, body, ts), presented.strip()):
        return "签名不正确"
    return None
