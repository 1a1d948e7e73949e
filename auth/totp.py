"""The second factor: TOTP (RFC 6238, 6 digits, 30 s, via pyotp) with one-time recovery codes.

Which roles must, may or cannot use it is `[security].second_factor` (per role). Enrolment happens in
the sign-in flow (auth.service decides the session's next step, ui/login.py shows it) or, for roles
where it is optional, on 我的账号. OIDC users never see it: their identity provider does its own second
factor (auth.oidc checks the `amr` claim when `[auth.oidc].mfa_amr_values` is set).

- The seed is generated here (160 bits), shown once as text, as an otpauth:// URI and as a QR code
  drawn locally by segno (no online QR service), and stored encrypted with Fernet under a key derived
  from the app secret (auth.cookies.secret_key), so a copy of the database does not give the seeds away.
  Rotating the app secret therefore means everyone re-enrols (the security administrator resets them).
- A code is accepted for the current 30-second step or one either side (clock drift), and only for a
  step later than the last one accepted: no replay within its window.
- Wrong codes count per account ([security].totp_max_failures in a row); at the limit the second step
  is refused for [auth].lockout_minutes and the account's half-signed-in sessions are ended. Only
  someone who already has the password can get here, so this throttle is per account, not per client.
- Recovery codes: [security].recovery_codes random 80-bit codes, shown once, stored as SHA-256, each
  usable once, typed in place of a TOTP code.

Every function takes the caller's session (one transaction) and writes its audit row there.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import math
import secrets
from datetime import datetime, timedelta

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

import settings
from auth import audit, cookies
from store.models import RecoveryCode, User, utcnow

POLICIES = ("required", "optional", "off")
POLICY_NAMES = {"required": "必须启用", "optional": "可自愿启用", "off": "不使用"}
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud or typed from paper
_RECOVERY_LENGTH = 16                                    # 31^16 ≈ 2^79


class SecondFactorError(ValueError):
    """A second-factor step failed. `code` is for tests and the audit; the message is Chinese."""

    def __init__(self, code: str, message: str, wait_minutes: int | None = None):
        super().__init__(message)
        self.code = code
        self.wait_minutes = wait_minutes


def _cfg() -> dict:
    return settings.get_settings().get("security", {})


def policy(role: str) -> str:
    """"required", "optional" or "off" for a role (unknown → "off"; a bad value → "required", the
    safe reading of a typo in the config)."""
    value = dict(_cfg().get("second_factor", {})).get(role, "off")
    return value if value in POLICIES else "required"


def required(role: str) -> bool:
    return policy(role) == "required"


def offered(role: str) -> bool:
    return policy(role) != "off"


def issuer() -> str:
    return str(_cfg().get("totp_issuer") or settings.get_settings()["app"].get("title", "cityops"))[:40]


def max_failures() -> int:
    return max(1, int(_cfg().get("totp_max_failures", 5)))


def recovery_count() -> int:
    return max(1, min(20, int(_cfg().get("recovery_codes", 10))))


# ---------------------------------------------------------------- seeds, codes, pictures

def new_secret() -> str:
    return pyotp.random_base32(length=32)


def _fernet() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"cityops.totp-seed.v1") \
        .derive(cookies.secret_key().encode("utf-8"))
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode("ascii")).decode("ascii")


def unseal(sealed: str | None) -> str | None:
    """The seed, or None when there is none or it was sealed under another app secret."""
    if not sealed:
        return None
    try:
        return _fernet().decrypt(sealed.encode("ascii")).decode("ascii")
    except (InvalidToken, ValueError):
        return None


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer())


def qr_png(uri: str) -> bytes:
    """The otpauth:// URI as a QR code (PNG), drawn here: the seed never leaves the server."""
    buf = io.BytesIO()
    segno.make(uri, error="m").save(buf, kind="png", scale=5, border=2)
    return buf.getvalue()


def grouped(secret: str) -> str:
    """The seed in groups of four, for typing into an authenticator app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def clean_code(text: str | None) -> str:
    """What the user typed, without spaces and dashes, lower case, bounded."""
    return "".join(ch for ch in (text or "")[:64] if ch.isalnum()).lower()


def _matching_step(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step (of now-1 … now+1) whose code equals `code` and is later than `last_step`."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if (last_step is None or step > last_step) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def code_at(secret: str, when: datetime) -> str:
    """The code an authenticator shows at `when` (tests and the command line use it)."""
    return pyotp.TOTP(secret).at(when)


def new_recovery_codes(count: int | None = None) -> list[str]:
    codes = []
    for _ in range(count or recovery_count()):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append("-".join(raw[i:i + 4] for i in range(0, _RECOVERY_LENGTH, 4)))
    return codes


def recovery_hash(code: str) -> str:
    return hashlib.sha256(clean_code(code).encode("ascii", "ignore")).hexdigest()


# ---------------------------------------------------------------- accounts

def _user(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise SecondFactorError("unknown", f"用户 {username} 不存在")
    return user


def enabled(user: User) -> bool:
    return user.totp_enabled_at is not None and bool(user.totp_secret)


def recovery_left(session: Session, username: str) -> int:
    return session.execute(
        select(func.count()).select_from(RecoveryCode)
        .where(RecoveryCode.username == username, RecoveryCode.used_at.is_(None))
    ).scalar_one()


def _store_recovery_codes(session: Session, username: str, now: datetime) -> list[str]:
    session.execute(update(RecoveryCode).where(RecoveryCode.username == username, RecoveryCode.used_at.is_(None))
                    .values(used_at=now))
    codes = new_recovery_codes()
    session.add_all(RecoveryCode(username=username, code_hash=recovery_hash(c), created_at=now) for c in codes)
    return codes


def confirm_enrolment(session: Session, username: str, secret: str, code: str, *, now: datetime | None = None,
                      client: str | None = None) -> list[str]:
    """Turn the second factor on with `secret` once the user has typed a code from their app (proof
    the app holds the seed). Returns the new recovery codes, to be shown once."""
    now = now or utcnow()
    user = _user(session, username)
    if enabled(user):
        raise SecondFactorError("already", "二次验证已经启用；如需更换设备，请先在“我的账号”中停用或联系安全管理员重置")
    if len(secret) != 32 or _matching_step(secret, clean_code(code), now, None) is None:
        audit.record(session, username, "mfa_enrol_failed", object_type="user", object_id=username,
                     scope=user.zone_code, client=client)
        raise SecondFactorError("invalid", "验证码不正确：请确认手机时间准确，并输入验证器当前显示的 6 位数字")
    user.totp_secret = seal(secret)
    user.totp_enabled_at = now
    user.totp_last_step = _matching_step(secret, clean_code(code), now, None)
    user.totp_failures = 0
    user.totp_blocked_until = None
    codes = _store_recovery_codes(session, username, now)
    audit.record(session, username, "mfa_enrol", object_type="user", object_id=username, scope=user.zone_code,
                 client=client, detail={"recovery_codes": len(codes)})
    return codes


def verify(session: Session, username: str, code: str, *, now: datetime | None = None,
           client: str | None = None) -> str:
    """Check a TOTP or recovery code for the sign-in's second step. Returns "totp" or "recovery";
    raises SecondFactorError (wrong code, throttled, not set up). Failure bookkeeping is added to
    `session` before raising: commit it anyway (auth.actions does)."""
    now = now or utcnow()
    user = _user(session, username)
    if user.totp_blocked_until is not None and user.totp_blocked_until > now:
        wait = max(1, math.ceil((user.totp_blocked_until - now).total_seconds() / 60))
        audit.record(session, username, "mfa_failed", object_type="user", object_id=username, scope=user.zone_code,
                     client=client, detail={"reason": "blocked", "wait_minutes": wait})
        raise SecondFactorError("blocked", f"动态验证码错误次数过多，请 {wait} 分钟后重新登录", wait)
    secret = unseal(user.totp_secret) if enabled(user) else None
    if secret is None:
        raise SecondFactorError("not_enrolled", "该账号尚未设置二次验证，请重新登录后按提示设置")
    typed = clean_code(code)
    if len(typed) == 6 and typed.isdigit():
        step = _matching_step(secret, typed, now, user.totp_last_step)
        if step is not None:
            session.execute(update(User).where(User.id == user.id)
                            .values(totp_last_step=step, totp_failures=0, totp_blocked_until=None)
                            .execution_options(synchronize_session=False))
            audit.record(session, username, "mfa_ok", object_type="user", object_id=username,
                         scope=user.zone_code, client=client, detail={"kind": "totp"})
            return "totp"
    elif len(typed) == _RECOVERY_LENGTH:
        used = session.execute(
            update(RecoveryCode)
            .where(RecoveryCode.username == username, RecoveryCode.code_hash == recovery_hash(typed),
                   RecoveryCode.used_at.is_(None))
            .values(used_at=now)
        ).rowcount
        if used:
            session.execute(update(User).where(User.id == user.id).values(totp_failures=0, totp_blocked_until=None)
                            .execution_options(synchronize_session=False))
            audit.record(session, username, "mfa_ok", object_type="user", object_id=username,
                         scope=user.zone_code, client=client,
                         detail={"kind": "recovery", "recovery_left": recovery_left(session, username)})
            return "recovery"
    count = session.execute(
        update(User).where(User.id == user.id).values(totp_failures=User.totp_failures + 1)
        .returning(User.totp_failures).execution_options(synchronize_session=False)
    ).scalar_one()
    detail: dict = {"reason": "bad_code", "failed_in_a_row": count}
    if count >= max_failures():
        minutes = float(settings.get_settings()["auth"].get("lockout_minutes", 15))
        session.execute(update(User).where(User.id == user.id)
                        .values(totp_blocked_until=now + timedelta(minutes=minutes), totp_failures=0)
                        .execution_options(synchronize_session=False))
        detail["blocked_minutes"] = int(minutes)
        audit.record(session, username, "mfa_failed", object_type="user", object_id=username, scope=user.zone_code,
                     client=client, detail=detail)
        raise SecondFactorError("blocked", f"动态验证码错误次数过多，请 {max(1, int(minutes))} 分钟后重新登录",
                                max(1, int(minutes)))
    audit.record(session, username, "mfa_failed", object_type="user", object_id=username, scope=user.zone_code,
                 client=client, detail=detail)
    left = max_failures() - count
    raise SecondFactorError("invalid", f"验证码不正确（再错 {left} 次将暂停登录）；也可输入一个恢复码")


def regenerate_recovery_codes(session: Session, username: str, *, now: datetime | None = None,
                              client: str | None = None) -> list[str]:
    """New recovery codes (the old ones stop working). Only with the second factor on."""
    now = now or utcnow()
    user = _user(session, username)
    if not enabled(user):
        raise SecondFactorError("not_enrolled", "请先启用二次验证")
    codes = _store_recovery_codes(session, username, now)
    audit.record(session, username, "mfa_recovery_regenerated", object_type="user", object_id=username,
                 scope=user.zone_code, client=client, detail={"recovery_codes": len(codes)})
    return codes


def clear(session: Session, user: User, *, now: datetime | None = None) -> None:
    """Forget the seed and recovery codes (a reset by the security administrator, or the owner turning
    an optional second factor off). The caller audits."""
    now = now or utcnow()
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.totp_failures = 0
    user.totp_blocked_until = None
    session.execute(update(RecoveryCode).where(RecoveryCode.username == user.username, RecoveryCode.used_at.is_(None))
                    .values(used_at=now))
