"""Quarantine of refused MQTT input, bounded: each bad message is kept once, capped in size, and
each source may fill it only so fast.

A single 280 KB message with 20,000 unknown metrics used to become 20,000 rows each holding a
4,000-character copy of the payload (~90 MB). Now:
- one row per message, whatever number of its metrics were refused; the reason names the first
  rejection and counts the rest by code;
- the payload copy is cut at `[sensors].quarantine_payload_chars` (default 4096), saying how long the
  original was;
- per source (the sensor id, else the topic) at most `[sensors].quarantine_rows_per_minute` rows in
  any minute; messages beyond are counted, not stored, and when that minute is over one summary row
  says how many were left out. The ingester's counters hold every rejection either way.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.orm import Session

import settings
from sensors.readings import Rejected
from store.models.sensors import QuarantinedReading
from store.period import local_tz

REASON_MAX = 200
TOPIC_MAX = 200
SENSOR_MAX = 40
WINDOW = timedelta(minutes=1)


def _cfg() -> dict:
    return settings.get_settings().get("sensors", {})


def payload_limit() -> int:
    return int(_cfg().get("quarantine_payload_chars", 4096))


def rows_per_minute() -> int:
    return int(_cfg().get("quarantine_rows_per_minute", 30))


def cut_payload(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    note = f"…［已截断：原文 {len(text)} 个字符，仅保留前 {limit} 个］"
    return text[: max(0, limit - len(note))] + note


def message_reason(rejections: list[Rejected]) -> str:
    """The first rejection's reason, then how many of each code the message had in all."""
    first = rejections[0].reason
    if len(rejections) == 1:
        return first[:REASON_MAX]
    counts = Counter(r.code for r in rejections)
    summary = "，".join(f"{code}×{n}" for code, n in counts.most_common(5))
    tail = f"（本条消息共 {len(rejections)} 项被拒：{summary}）"
    return (first[: max(0, REASON_MAX - len(tail))] + tail)[:REASON_MAX]


@dataclass
class BadMessage:
    topic: str | None
    sensor_id: str | None
    rejections: list[Rejected]
    payload: str

    @property
    def source(self) -> str:
        return (self.sensor_id or self.topic or "-")[:TOPIC_MAX]

    def row(self, channel: str, at: datetime, limit: int) -> dict:
        return {"received_at": at, "channel": channel, "topic": (self.topic or None) and self.topic[:TOPIC_MAX],
                "sensor_id": self.sensor_id and self.sensor_id[:SENSOR_MAX],
                "reason": message_reason(self.rejections), "payload": cut_payload(self.payload, limit)}


@dataclass
class _Window:
    start: datetime
    rows: int = 0
    left_out: int = 0
    topic: str | None = None
    sensor_id: str | None = None


@dataclass
class SourceLimiter:
    """Rows per source per minute. `admit` decides message by message; `closed` hands back the
    finished minutes that left messages out, once each (for their summary rows). `snapshot` /
    `restore` around a transaction, so a rolled-back batch uses up nobody's allowance."""

    per_minute: int
    windows: dict[str, _Window] = field(default_factory=dict)
    finished: list[_Window] = field(default_factory=list)

    def admit(self, msg: BadMessage, now: datetime) -> bool:
        window = self.windows.get(msg.source)
        if window is not None and now - window.start >= WINDOW:
            if window.left_out:
                self.finished.append(window)
            window = None
        if window is None:
            window = self.windows[msg.source] = _Window(now, topic=msg.topic, sensor_id=msg.sensor_id)
        if window.rows < self.per_minute:
            window.rows += 1
            return True
        window.left_out += 1
        return False

    def closed(self, now: datetime) -> list[_Window]:
        out, self.finished = self.finished, []
        for source, window in list(self.windows.items()):
            if now - window.start >= WINDOW:
                if window.left_out:
                    out.append(window)
                del self.windows[source]
        return out

    def snapshot(self) -> tuple:
        return ({k: replace(w) for k, w in self.windows.items()}, [replace(w) for w in self.finished])

    def restore(self, snap: tuple) -> None:
        self.windows, self.finished = dict(snap[0]), list(snap[1])


def summary_row(channel: str, window: _Window, at: datetime) -> dict:
    local = window.start.astimezone(local_tz())
    return {"received_at": at, "channel": channel, "topic": window.topic and window.topic[:TOPIC_MAX],
            "sensor_id": window.sensor_id and window.sensor_id[:SENSOR_MAX],
            "reason": f"rate_limited: 该来源自 {local:%H:%M:%S} 起一分钟内隔离过多，另有 {window.left_out} 条消息仅计数未保存",
            "payload": ""}


@dataclass
class Outcome:
    rows: int = 0
    left_out: int = 0
    summaries: int = 0


def store(session: Session, channel: str, messages: list[BadMessage], limiter: SourceLimiter | None,
          at: datetime) -> Outcome:
    """Write the quarantine rows for one batch (caller's transaction)."""
    out = Outcome()
    limit = payload_limit()
    rows = []
    for msg in messages:
        if limiter is None or limiter.admit(msg, at):
            rows.append(msg.row(channel, at, limit))
            out.rows += 1
        else:
            out.left_out += 1
    if limiter is not None:
        for window in limiter.closed(at):
            rows.append(summary_row(channel, window, at))
            out.summaries += 1
    if rows:
        session.execute(insert(QuarantinedReading), rows)
    return out
