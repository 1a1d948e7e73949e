"""The exchange worker: `manage.py exchange run` (long-running, like the MQTT ingester) or `--once`.

Each pass, for every destination in turn: claim a batch (exchange.queue.claim — a lease per row), hand
it to the destination, settle every row (delivered / retry with backoff / failed), and keep going while
full batches come back. A destination whose whole batch failed (down, refusing, timing out) is paused
with exponential backoff and jitter, so that new records queue up behind the old ones instead of each
trying a dead platform. Every `deadline_scan_seconds` (0: never — when several workers run, one scan
is enough) it also looks for cases whose deadline is near or past (the message rules'
case.deadline_near / case.overdue), and every `tasks_pull_seconds` pulls tasks
when a pull address is configured. Several workers may run at once (on one or several machines): the
leases keep them off each other's rows.
"""
from __future__ import annotations

import logging
import os
import random
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import Engine, select, update

from exchange import config as exchange_config
from exchange import pull
from exchange.channels import enabled_channels
from exchange.config import ExchangeConfig
from exchange.destinations import ChannelDestination, Destination, LocalDestination, UpperDestination
from exchange.notify import Notifier, deadline_findings, scan_window
from exchange.queue import claim, ensure_destinations, note_failure, note_success, paused_until, settle
from exchange.rules import load_rules
from store.db import session_scope
from store.models import ExchangeDestination
from store.outbox import LOCAL

log = logging.getLogger("exchange.worker")
CHANNEL_BATCH = 20
SCAN = "deadline_scan"  # the destination row whose cursor is the deadline scan's


@dataclass
class PassReport:
    delivered: dict[str, int] = field(default_factory=dict)
    retried: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    paused: dict[str, datetime] = field(default_factory=dict)
    scanned: int = 0
    pulled: int = 0

    @property
    def busy(self) -> bool:
        return bool(sum(self.delivered.values()) or sum(self.retried.values()) or sum(self.refused.values())
                    or self.scanned or self.pulled)

    def add(self, name: str, counts: dict[str, int]) -> None:
        for key, target in (("ok", self.delivered), ("retry", self.retried), ("refuse", self.refused)):
            if counts.get(key):
                target[name] = target.get(name, 0) + counts[key]

    def summary(self) -> str:
        parts = [f"{k} 送达 {v}" for k, v in self.delivered.items()]
        parts += [f"{k} 待重试 {v}" for k, v in self.retried.items()]
        parts += [f"{k} 拒收 {v}" for k, v in self.refused.items()]
        parts += [f"{k} 暂停至 {v:%H:%M:%S}" for k, v in self.paused.items()]
        if self.scanned:
            parts.append(f"时限提醒 {self.scanned}")
        if self.pulled:
            parts.append(f"拉取任务 {self.pulled}")
        return "；".join(parts) or "没有待发送的记录"


def default_destinations(cfg: ExchangeConfig) -> list[Destination]:
    channels = enabled_channels(cfg)
    out: list[Destination] = [LocalDestination(cfg, set(channels))]
    if cfg.upper_enabled:
        out.append(UpperDestination(cfg))
    out += [ChannelDestination(c) for c in channels.values()]
    return out


class Worker:
    def __init__(self, engine: Engine, cfg: ExchangeConfig | None = None, *,
                 destinations: list[Destination] | None = None, owner: str | None = None,
                 rng: random.Random | None = None, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.cfg = cfg or exchange_config.load()
        self.destinations = destinations if destinations is not None else default_destinations(self.cfg)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.rng = rng or random.Random()
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._next_scan: datetime | None = None
        self._next_pull: datetime | None = None
        ensure_destinations(engine, [d.name for d in self.destinations] + [SCAN])

    def batch_size(self, d: Destination) -> int:
        return CHANNEL_BATCH if isinstance(d, ChannelDestination) else self.cfg.batch_size

    def deliver_batch(self, d: Destination) -> tuple[int, dict[str, int]]:
        """Claim, deliver and settle one batch of `d`: (rows claimed, counts by outcome)."""
        now = self.clock()
        if d.remote:
            until = paused_until(self.engine, d.name)
            if until is not None and until > now:
                return 0, {}
        token, items = claim(self.engine, d.name, owner=self.owner, limit=self.batch_size(d),
                             lease_seconds=self.cfg.lease_seconds, now=now)
        if not items:
            return 0, {}
        outcomes = d.deliver(self.engine, token, items, now)
        after = self.clock()
        counts = {"ok": 0, "retry": 0, "refuse": 0}
        for o in outcomes.values():
            counts[o.kind] = counts.get(o.kind, 0) + 1
        if not d.settles:
            settle(self.engine, d.name, token, items, outcomes, now=after, base=self.cfg.backoff_base_seconds,
                   cap=self.cfg.backoff_max_seconds, rng=self.rng,
                   max_attempts=self.cfg.channel_max_attempts if isinstance(d, ChannelDestination) else None)
        if d.remote:
            if counts["ok"]:
                note_success(self.engine, d.name, after)
            elif counts["retry"]:
                reason = next(o.reason for o in outcomes.values() if o.kind == "retry") or "失败"
                until = note_failure(self.engine, d.name, reason, now=after, base=self.cfg.backoff_base_seconds,
                                     cap=self.cfg.backoff_max_seconds, rng=self.rng)
                log.warning("%s 发送失败，暂停至 %s：%s", d.name, until.isoformat(timespec="seconds"), reason)
        return len(items), counts

    def drain(self, d: Destination, report: PassReport, max_batches: int) -> None:
        for _ in range(max_batches):
            n, counts = self.deliver_batch(d)
            report.add(d.name, counts)
            if n < self.batch_size(d) or (d.remote and not counts.get("ok")):
                break

    def scan_deadlines(self, now: datetime) -> int:
        """Messages for deadlines that came near or passed since the last scan."""
        rules = load_rules(self.cfg.rules_file)
        channels = {d.name for d in self.destinations if isinstance(d, ChannelDestination)}
        with session_scope(self.engine) as s:
            cursor = s.scalar(select(ExchangeDestination.cursor).where(ExchangeDestination.name == SCAN))
            since = scan_window(cursor, now, self.cfg.deadline_lookback_hours)
            notifier = Notifier(s, self.cfg, rules, channels)
            written = sum(notifier.apply(f, now) for f in deadline_findings(s, since, now))
            s.execute(update(ExchangeDestination).where(ExchangeDestination.name == SCAN)
                      .values(cursor=now.isoformat(), last_success_at=now, updated_at=now))
        return written

    def run_once(self, *, max_batches: int = 1000) -> PassReport:
        report = PassReport()
        now = self.clock()
        if self.cfg.deadline_scan_seconds > 0 and (self._next_scan is None or now >= self._next_scan):
            report.scanned = self.scan_deadlines(now)
            self._next_scan = now + _seconds(self.cfg.deadline_scan_seconds)
        if self.cfg.tasks_pull_url and (self._next_pull is None or now >= self._next_pull):
            report.pulled = pull.pull_once(self.engine, self.cfg, now=now).applied
            self._next_pull = now + _seconds(self.cfg.tasks_pull_seconds)
        # Local first: task results it writes can go upward in the same pass.
        for d in sorted(self.destinations, key=lambda d: d.name != LOCAL):
            self.drain(d, report, max_batches)
            until = paused_until(self.engine, d.name) if d.remote else None
            if until is not None and until > self.clock():
                report.paused[d.name] = until
        return report

    def run(self, stop: threading.Event | None = None) -> None:
        """Until `stop` is set: a pass, then a short sleep when there was nothing to do."""
        stop = stop or threading.Event()
        log.info("数据交换工作进程启动：%s，目的地 %s", self.owner, "、".join(d.name for d in self.destinations))
        while not stop.is_set():
            try:
                report = self.run_once()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the worker; log and go on
                log.exception("数据交换一轮处理失败，稍后重试")
                stop.wait(max(self.cfg.poll_seconds, 5.0))
                continue
            if report.busy:
                log.info(report.summary())
            else:
                stop.wait(self.cfg.poll_seconds)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=float(value))
