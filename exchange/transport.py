"""HTTP for the exchange: one requests.Session per remote, with connect/read timeouts and, where
configured, mutual TLS (a client certificate and key, and the CA bundle that signs the server's).

Faults come back as values, never as exceptions: a `Reply` with the status, or `Fault` with a
Chinese reason (connection refused, timeout, TLS failure), which destinations turn into a retry.
"""
from __future__ import annotations

from dataclasses import dataclass

import requests


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self, limit: int = 300) -> str:
        return self.body[:limit * 4].decode("utf-8", "replace")[:limit]


@dataclass(frozen=True)
class Fault:
    reason: str


class Client:
    """A keep-alive HTTP client for one remote."""

    def __init__(self, *, timeout: float = 10.0, client_cert: str = "", client_key: str = "",
                 ca_bundle: str = "") -> None:
        self.timeout = (min(5.0, timeout), timeout)  # (connect, read)
        self.session = requests.Session()
        self.session.trust_env = False  # never route government traffic through an ambient proxy setting
        if client_cert:
            self.session.cert = (client_cert, client_key) if client_key else client_cert
        if ca_bundle:
            self.session.verify = ca_bundle

    def request(self, method: str, url: str, *, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Reply | Fault:
        try:
            r = self.session.request(method, url, data=body, headers=headers, timeout=self.timeout,
                                     allow_redirects=False)
        except requests.exceptions.SSLError as exc:
            return Fault(f"TLS 握手失败：{_short(exc)}")
        except requests.exceptions.ConnectTimeout:
            return Fault("连接超时")
        except requests.exceptions.ReadTimeout:
            return Fault(f"等待应答超时（{self.timeout[1]:g} 秒）")
        except requests.exceptions.ConnectionError as exc:
            return Fault(f"无法连接：{_short(exc)}")
        except requests.exceptions.RequestException as exc:
            return Fault(f"请求失败：{_short(exc)}")
        return Reply(r.status_code, r.content, {k.lower(): v for k, v in r.headers.items()})

    def post_json(self, url: str, body: bytes, headers: dict[str, str] | None = None) -> Reply | Fault:
        return self.request("POST", url, body=body,
                            headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})})

    def close(self) -> None:
        self.session.close()


def _short(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text or "Errno 111" in text:
        return "连接被拒绝"
    return text[:200]
