"""Outbound message channels, one small interface: `send(recipient, title, body) -> Outcome`.

- WebhookChannel: a group robot of 政务微信 / 粤政易 / 钉钉 and the like — POST
  {"msgtype": "text", "text": {"content": …}} to the group's URL (the contact group's own webhook, else
  [exchange].webhook_url). Those robots answer HTTP 200 with {"errcode": 0} on success; any other
  errcode is a failure worth retrying (rate limits are the usual cause).
- SmsChannel: an SMS gateway's HTTP API — POST {"phone", "content"} with the API key as a bearer token;
  2xx (and, if the gateway says, {"code": 0}) is success.

Both are off unless switched on in config.toml ([exchange].webhook_enabled / sms_enabled). A 4xx answer
(the gateway refuses the message itself) is final; a fault or 5xx is retried by the worker.
"""
from __future__ import annotations

import json
from typing import Protocol

from exchange.config import ExchangeConfig
from exchange.queue import Outcome
from exchange.transport import Client, Fault

MAX_CONTENT = 1000


class Channel(Protocol):
    name: str

    def send(self, recipient: str, title: str, body: str) -> Outcome: ...


def _answer(reply, ok_key: str) -> Outcome:  # noqa: ANN001
    if isinstance(reply, Fault):
        return Outcome.retry(reply.reason)
    if reply.status >= 500 or reply.status in (408, 429):
        return Outcome.retry(f"HTTP {reply.status}：{reply.text(120)}", reply.status)
    if not reply.ok:
        return Outcome.refuse(f"HTTP {reply.status}：{reply.text(120)}", reply.status)
    try:
        doc = json.loads(reply.body or b"{}")
    except ValueError:
        doc = {}
    code = doc.get(ok_key) if isinstance(doc, dict) else None
    if code not in (None, 0, "0"):
        return Outcome.retry(f"{ok_key}={code}：{str(doc.get('errmsg') or doc.get('message') or '')[:120]}", reply.status)
    return Outcome.ok(reply.status)


def _content(title: str, body: str) -> str:
    text = f"{title}\n{body}".strip() if body else title
    return text[:MAX_CONTENT]


class WebhookChannel:
    name = "webhook"

    def __init__(self, cfg: ExchangeConfig, client: Client | None = None) -> None:
        self.cfg = cfg
        self.client = client or Client(timeout=cfg.channel_timeout_seconds)

    def url_for(self, group: str) -> str:
        contact = self.cfg.contacts.get(group)
        return (contact.webhook if contact and contact.webhook else "") or self.cfg.webhook_url

    def send(self, recipient: str, title: str, body: str) -> Outcome:
        url = self.url_for(recipient)
        if not url:
            return Outcome.refuse(f"联系组「{recipient}」没有配置机器人地址")
        doc = {"msgtype": "text", "text": {"content": _content(title, body)}}
        return _answer(self.client.post_json(url, json.dumps(doc, ensure_ascii=False).encode("utf-8")), "errcode")


class SmsChannel:
    name = "sms"

    def __init__(self, cfg: ExchangeConfig, client: Client | None = None) -> None:
        self.cfg = cfg
        self.client = client or Client(timeout=cfg.channel_timeout_seconds)

    def send(self, recipient: str, title: str, body: str) -> Outcome:
        if not self.cfg.sms_url:
            return Outcome.refuse("未配置短信网关地址")
        doc = {"phone": recipient, "content": f"{self.cfg.sms_sign}{_content(title, body)}"}
        headers = {"Authorization": f"Bearer {self.cfg.sms_key}"} if self.cfg.sms_key else {}
        return _answer(self.client.post_json(self.cfg.sms_url, json.dumps(doc, ensure_ascii=False).encode("utf-8"),
                                             headers), "code")


def enabled_channels(cfg: ExchangeConfig) -> dict[str, Channel]:
    """The outbound channels switched on in this deployment (none by default)."""
    out: dict[str, Channel] = {}
    if cfg.webhook_enabled:
        out["webhook"] = WebhookChannel(cfg)
    if cfg.sms_enabled:
        out["sms"] = SmsChannel(cfg)
    return out
