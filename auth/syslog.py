"""Audit records to the security operations centre as syslog (RFC 5424), over UDP (RFC 5426) or TCP
(RFC 6587 octet counting). Off unless `[audit.syslog].enabled`.

Python's logging.handlers.SysLogHandler speaks the older BSD format (RFC 3164: no year, no zone, no
structured data), which SIEMs parse by guesswork; the few PyPI handlers for RFC 5424 are unmaintained.
The format is small enough to write here:

    <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID name="value" …] BOM MSG

PRI = facility × 8 + severity (facility authpriv by default; severity warning for refusals, notice
otherwise); TIMESTAMP is RFC 3339 UTC with microseconds; MSGID is the audit action; the structured
data carries the row's fields; MSG is the row as JSON (UTF-8, after a BOM as RFC 5424 asks).

Rows are sent only once their transaction has committed (auth/audit.py collects them at flush and
hands them over after commit), from a background thread, so a slow or absent collector never delays
or fails a user's action. A send that fails is counted and logged, not retried.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timezone

import settings

log = logging.getLogger("auth.syslog")

FACILITIES = {"kern": 0, "user": 1, "daemon": 3, "auth": 4, "syslog": 5, "authpriv": 10, "local0": 16,
              "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23}
WARNING, NOTICE, INFO = 4, 5, 6
# Actions that report a refusal or a security event: severity warning.
WARNING_ACTIONS = frozenset({"login_failed", "login_blocked", "access_denied", "totp_failed", "audit_archive",
                             "user_deactivate", "session_revoked"})
UDP_MAX = 8192  # bytes of one datagram; longer messages are cut (RFC 5426 lets receivers drop more)
BOM = "\ufeff"


def _nil_or(text: object, max_len: int) -> str:
    """A header field: printable US-ASCII without spaces, or "-" (the NILVALUE)."""
    value = "".join(ch for ch in str(text or "") if 33 <= ord(ch) <= 126)[:max_len]
    return value or "-"


def _param(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _sd_name(name: str) -> str:
    return "".join(ch for ch in name if 33 <= ord(ch) <= 126 and ch not in '= ]"')[:32] or "x"


@dataclass(frozen=True)
class Format:
    facility: int = FACILITIES["authpriv"]
    app_name: str = "cityops"
    hostname: str = ""
    sd_id: str = "audit@32473"  # 32473: the documentation enterprise number (RFC 5612); set your own

    def line(self, row: dict) -> str:
        """One RFC 5424 message for an audit row (a dict as auth.audit_archive.row_dict gives)."""
        action = str(row.get("action") or "")
        severity = WARNING if action in WARNING_ACTIONS else NOTICE
        at = row.get("at")
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        at = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
        timestamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        fields = {k: row.get(k) for k in ("id", "actor", "actor_role", "object_type", "object_id", "scope", "client")}
        sd = "[" + _sd_name(self.sd_id) + "".join(
            f' {_sd_name(k)}="{_param(v)}"' for k, v in fields.items() if v is not None) + "]"
        msg = json.dumps(row, ensure_ascii=False, default=str, sort_keys=True)
        host = _nil_or(self.hostname or socket.gethostname(), 255)
        header = (f"<{self.facility * 8 + severity}>1 {timestamp} {host} "
                  f"{_nil_or(self.app_name, 48)} {_nil_or(os.getpid(), 128)} {_nil_or(action, 32)}")
        return f"{header} {sd} {BOM}{msg}"


def frame_tcp(message: bytes) -> bytes:
    """RFC 6587 octet counting: "<length> <message>"."""
    return str(len(message)).encode("ascii") + b" " + message


def cut_udp(message: bytes) -> bytes:
    if len(message) <= UDP_MAX:
        return message
    cut = message[:UDP_MAX]
    return cut.decode("utf-8", "ignore").encode("utf-8")  # never end inside a UTF-8 sequence


class Forwarder:
    """Sends formatted audit rows to one collector from a daemon thread."""

    def __init__(self, host: str, port: int, protocol: str = "udp", fmt: Format | None = None,
                 timeout: float = 5.0) -> None:
        if protocol not in ("udp", "tcp"):
            raise ValueError(f"[audit.syslog].protocol 只能是 udp 或 tcp，而不是 {protocol!r}")
        self.host, self.port, self.protocol = host, int(port), protocol
        self.format = fmt or Format()
        self.timeout = timeout
        self.sent = 0
        self.failed = 0
        self._queue: queue.Queue = queue.Queue(maxsize=10000)
        self._sock: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, name="audit-syslog", daemon=True)
        self._thread.start()

    def submit(self, rows: list[dict]) -> None:
        for row in rows:
            try:
                self._queue.put_nowait(row)
            except queue.Full:
                self.failed += 1
                log.warning("审计转发队列已满，丢弃一条审计记录（id=%s）", row.get("id"))

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything submitted so far has been sent (or failed)."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def _connect(self) -> socket.socket:
        if self._sock is None:
            kind = socket.SOCK_DGRAM if self.protocol == "udp" else socket.SOCK_STREAM
            info = socket.getaddrinfo(self.host, self.port, type=kind)[0]
            sock = socket.socket(info[0], kind)
            sock.settimeout(self.timeout)
            sock.connect(info[4])
            self._sock = sock
        return self._sock

    def _send(self, row: dict) -> None:
        data = self.format.line(row).encode("utf-8")
        try:
            sock = self._connect()
            if self.protocol == "udp":
                sock.send(cut_udp(data))
            else:
                sock.sendall(frame_tcp(data))
            self.sent += 1
        except OSError as exc:
            self.failed += 1
            log.warning("审计记录转发到 %s:%s 失败：%s", self.host, self.port, exc)
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, threading.Event):
                item.set()
                continue
            self._send(item)


_forwarder: Forwarder | None = None
_forwarder_key: tuple | None = None
_lock = threading.Lock()


def forwarder() -> Forwarder | None:
    """The forwarder for the current settings, or None when forwarding is off."""
    global _forwarder, _forwarder_key
    cfg = settings.get_settings().get("audit", {}).get("syslog", {})
    if not cfg.get("enabled"):
        return None
    facility = str(cfg.get("facility", "authpriv"))
    if facility not in FACILITIES:
        raise ValueError(f"[audit.syslog].facility 无效：{facility}")
    key = (str(cfg.get("host", "127.0.0.1")), int(cfg.get("port", 514)), str(cfg.get("protocol", "udp")),
           facility, str(cfg.get("app_name", "cityops")), str(cfg.get("sd_id", "audit@32473")))
    with _lock:
        if _forwarder is None or _forwarder_key != key:
            _forwarder = Forwarder(key[0], key[1], key[2],
                                   Format(facility=FACILITIES[facility], app_name=key[4], sd_id=key[5]))
            _forwarder_key = key
        return _forwarder
