"""Live ingestion from MQTT (`python manage.py ingest-mqtt`).

Guarantees:
- Subscription: QoS 1 on `city/<city_code>/sensors/+/readings`, MQTT v5 with clean_start=False and a
  session expiry ([sensors].mqtt_session_expiry_s): the broker keeps our subscription and queues
  QoS-1 messages while we are away (across a broker restart too, when the broker persists sessions).
- At-least-once, stored exactly once: paho's manual_ack is on; a message is acknowledged (PUBACK)
  only after the transaction holding its readings — or its quarantine row — has committed. If we die
  or the connection drops before that, the broker redelivers it, and the (sensor, ts, metric) unique
  key with INSERT … ON CONFLICT DO NOTHING turns the redelivery into a counted duplicate.
- Batches: written every [mqtt].batch_size messages or [mqtt].batch_seconds, whichever comes first;
  the broker may have up to [sensors].mqtt_receive_maximum unacknowledged messages in flight to us
  (MQTT v5 Receive Maximum), which must be at least the batch size or batches never fill.
- Bad input never stops the loop: malformed payloads, unknown sensors, out-of-range values, naive or
  far-future timestamps are counted by reason, logged and kept in quarantined_readings (and acked) —
  one row per message, its payload copy capped, at most so many rows per source a minute
  (sensors/quarantine.py), so one hostile message or sensor cannot fill the database.
  A database error leaves the batch unacknowledged and retries it after a pause.
- Reconnects by itself (paho's loop, backoff up to [sensors].mqtt_reconnect_max_s).
- Several ingesters (docs/scale-out.md): with [mqtt].share_group set, each subscribes to the MQTT 5 shared
  subscription `$share/<group>/<topic>` under its own client id, and the broker hands every message to
  one of them. Mosquitto (2.0, measured) keeps a dead member's unacknowledged messages — and the share
  of new messages it goes on assigning to its persistent session — for that client id alone: nothing is
  lost, but they wait until an ingester with the same client id reconnects (`python -m scaleout`
  restarts one within seconds). The (sensor, ts, metric) key makes the redelivery harmless.
- Alert rules are evaluated for the sensors that changed (separate transaction, so a failing rule can
  never block ingestion): after every batch when the queue is drained, at most every
  [sensors].alert_seconds while a backlog is written; counters go to ingest_status for the status display.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import Engine

import settings
from sensors import quarantine
from sensors.ingest import ingest, payload_text
from sensors.alerts import evaluate_sensors
from sensors.payload import parse_message
from sensors.quarantine import BadMessage, SourceLimiter
from sensors.readings import Rejected
from sensors.registry import SensorIndex, load_index
from store.db import session_scope
from store.models.sensors import IngestStatus

log = logging.getLogger("sensors.mqtt")
RECENT = timedelta(days=6)


@dataclass
class Message:
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_at: datetime


def topic_for(city_code: str, template: str | None = None) -> str:
    template = template or settings.get_settings()["mqtt"]["topic"]
    return template.format(city_code=city_code)


class Ingester:
    def __init__(self, engine: Engine, *, host: str | None = None, port: int | None = None,
                 client_id: str | None = None, city_code: str | None = None, batch_size: int | None = None,
                 batch_seconds: float | None = None, evaluate_alerts: bool = True,
                 share_group: str | None = None) -> None:
        cfg = settings.get_settings()
        mq, sc = cfg["mqtt"], cfg.get("sensors", {})
        self.engine = engine
        self.host = host or mq["host"]
        self.port = int(port or mq["port"])
        self.client_id = client_id or mq["client_id"]
        self.city_code = city_code or cfg["city"]["code"]
        self.topic = topic_for(self.city_code, mq.get("topic"))
        self.share_group = str(mq.get("share_group") or "") if share_group is None else share_group
        if any(ch in self.share_group for ch in "/+#"):
            raise ValueError(f"[mqtt].share_group 不能包含 / + #：{self.share_group!r}")
        # What we subscribe to: the topic itself, or our group's share of it.
        self.subscription = f"$share/{self.share_group}/{self.topic}" if self.share_group else self.topic
        self.qos = int(mq.get("qos", 1))
        self.batch_size = int(batch_size or mq.get("batch_size", 200))
        self.batch_seconds = float(batch_seconds or mq.get("batch_seconds", 1.0))
        self.session_expiry = int(sc.get("mqtt_session_expiry_s", 604800))
        self.receive_maximum = max(int(sc.get("mqtt_receive_maximum", 1000)), self.batch_size)
        self.reconnect_max = int(sc.get("mqtt_reconnect_max_s", 10))
        self.future_tolerance = float(sc.get("future_tolerance_s", 300))
        self.evaluate_alerts = evaluate_alerts
        self.counters: Counter = Counter()
        self.connected = False
        self.subscribed = threading.Event()
        self.started_at = datetime.now(timezone.utc)
        self._queue: deque[Message] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._index: SensorIndex | None = None
        self._index_loaded = 0.0
        self._client: mqtt.Client | None = None
        self._last_status = 0.0
        self._pending: Counter = Counter()
        self._failures = 0
        self._alert_pending: dict[str, datetime] = {}
        self._alerts_at = 0.0
        self.alert_seconds = float(sc.get("alert_seconds", 5))
        self._limiter = SourceLimiter(quarantine.rows_per_minute())

    # -- paho callbacks (network thread) ----------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.warning("MQTT 连接被拒绝：%s", reason_code)
            return
        self.connected = True
        self.counters["connects"] += 1
        present = getattr(flags, "session_present", None)
        log.info("已连接 MQTT %s:%s（会话保留=%s），订阅 %s", self.host, self.port, present, self.subscription)
        if present and self.share_group:
            # A session kept from a run without the group would still hold the plain subscription, and
            # this client would then get every message besides its share.
            client.unsubscribe(self.topic)
        client.subscribe(self.subscription, qos=self.qos)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # noqa: ANN001
        if all(not rc.is_failure for rc in reason_codes):
            log.info("订阅成功：%s", self.subscription)  # python -m scaleout waits for this line
            self.subscribed.set()
        else:
            log.error("订阅 %s 被拒绝：%s", self.subscription, reason_codes)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self.subscribed.clear()
        if self.connected:
            self.counters["disconnects"] += 1
        self.connected = False
        if not self._stop.is_set():
            log.warning("MQTT 连接断开（%s），将自动重连", reason_code)

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        with self._lock:
            self._queue.append(Message(msg.mid, msg.qos, msg.topic, bytes(msg.payload), datetime.now(timezone.utc)))
            self.counters["received"] += 1
            full = len(self._queue) >= self.batch_size
        if full:
            self._wake.set()

    # -- lifecycle --------------------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5,
                             manual_ack=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.reconnect_delay_set(min_delay=1, max_delay=self.reconnect_max)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry
        props.ReceiveMaximum = min(self.receive_maximum, 65535)
        client.connect_async(self.host, self.port, keepalive=30, clean_start=False, properties=props)
        return client

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self, max_seconds: float | None = None) -> None:
        """Consume until stop() (or max_seconds). Never returns because of bad input."""
        self._client = self._make_client()
        self._client.loop_start()
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        try:
            while not self._stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self._wake.wait(timeout=self.batch_seconds)
                self._wake.clear()
                self.flush()
                self.maybe_alerts()
                if time.monotonic() - self._last_status > 10:
                    self._write_status_safely()
            self.flush()
            self.maybe_alerts(force=True)
        finally:
            self._client.disconnect()
            self._client.loop_stop()
            self.connected = False
            self._write_status_safely()

    # -- batches ----------------------------------------------------------------------------------
    def _take(self) -> list[Message]:
        with self._lock:
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), self.batch_size))]
        return batch

    def _requeue(self, batch: list[Message]) -> None:
        with self._lock:
            self._queue.extendleft(reversed(batch))

    def index(self, force: bool = False) -> SensorIndex:
        """The sensor registry, reloaded at most every 30 s when needed (newly imported sensors)."""
        if self._index is None or (force and time.monotonic() - self._index_loaded > 30):
            with session_scope(self.engine, readonly=True) as s:
                self._index = load_index(s)
            self._index_loaded = time.monotonic()
        return self._index

    def flush(self) -> int:
        """Process queued messages in batches. Returns messages committed."""
        done = 0
        while True:
            batch = self._take()
            if not batch:
                return done
            if self._process(batch):
                self._failures = 0
                done += len(batch)
                continue
            self._failures += 1
            if self._failures >= 3:
                # The same batch keeps failing: isolate the message(s) the database refuses, keep them
                # in quarantine and go on, rather than stalling every sensor behind one bad message.
                handled, stalled = self._one_by_one(batch)
                done += handled
                self._failures = 0
                if stalled:
                    time.sleep(min(self.batch_seconds, 2.0))
                    return done
                continue
            self._requeue(batch)
            time.sleep(min(self.batch_seconds, 2.0))
            return done

    def _one_by_one(self, batch: list[Message]) -> tuple[int, bool]:
        """(messages handled, stalled: the database is unreachable and the rest went back to the queue)."""
        for i, m in enumerate(batch):
            if self._process([m]):
                continue
            try:
                with session_scope(self.engine) as session:
                    quarantine.store(session, "mqtt", [BadMessage(m.topic, None, [Rejected("db_error", "数据库拒绝写入")],
                                                                  payload_text(m.payload))],
                                     None, datetime.now(timezone.utc))
                self.counters["quarantined"] += 1
                self.counters["quarantined.db_error"] += 1
                self.counters["quarantine_rows"] += 1
                if m.qos > 0 and self._client is not None:
                    self._client.ack(m.mid, m.qos)
            except Exception:  # noqa: BLE001 - the database is down: keep the messages for later
                log.exception("无法隔离消息，稍后重试")
                self._requeue(batch[i:])
                return i, True
        return len(batch), False

    def _process(self, batch: list[Message]) -> bool:
        now = datetime.now(timezone.utc)
        limits = self._limiter.snapshot()  # a rolled-back batch must not use up a source's allowance
        try:
            index = self.index()
            parsed = [parse_message(m.topic, m.payload, index, now, self.future_tolerance) for m in batch]
            if any(rej.code == "unknown_sensor" for p in parsed for _, rej in p.rejections):
                fresh = self.index(force=True)
                if fresh is not index:
                    index = fresh
                    parsed = [parse_message(m.topic, m.payload, index, now, self.future_tolerance) for m in batch]
            readings = [r for p in parsed for r in p.readings]
            # One quarantine entry per bad message, whatever number of its metrics were refused.
            bad = [BadMessage(m.topic, p.rejections[0][0], [rej for _, rej in p.rejections], payload_text(m.payload))
                   for m, p in zip(batch, parsed) if p.rejections]
            with session_scope(self.engine) as session:
                # Quarantine first: ingest ends holding the city's lock for the day (sensors/rollup_lock.py),
                # so the less that follows it before the commit, the less other ingesters wait.
                kept = quarantine.store(session, "mqtt", bad, self._limiter, now)
                result = ingest(session, readings, index)
                self._count(result, bad, kept, len(batch))
                self._write_status(session)
        except Exception:  # noqa: BLE001 - a database outage must not kill the ingester
            self._limiter.restore(limits)
            self._uncount_pending()
            self.counters["db_errors"] += 1
            log.exception("写入批次失败（%d 条消息未确认，稍后重试）", len(batch))
            return False
        self._pending = Counter()
        for m in batch:
            if m.qos > 0 and self._client is not None:
                self._client.ack(m.mid, m.qos)
        for msg in bad:  # one line per message, not per refused metric
            more = f"（共 {len(msg.rejections)} 项）" if len(msg.rejections) > 1 else ""
            log.info("隔离：%s %s%s", msg.source, msg.rejections[0].message[:200], more)
        if self.evaluate_alerts and result.stored:
            for sid, hours in result.touched_hours.items():
                newest = max(hours)
                if sid not in self._alert_pending or newest > self._alert_pending[sid]:
                    self._alert_pending[sid] = newest
        return True

    def _count(self, result, bad: list[BadMessage], kept: quarantine.Outcome, messages: int) -> None:  # noqa: ANN001
        """Every rejection is counted by code (`quarantined`, `quarantined.<code>`), whether or not its
        message got a quarantine row (`quarantine_rows`; `quarantine_left_out` were over the rate)."""
        pending = Counter({"messages_committed": messages, "stored": result.stored,
                           "duplicates": result.duplicates,
                           "quarantined": sum(len(m.rejections) for m in bad),
                           "quarantine_rows": kept.rows + kept.summaries, "quarantine_left_out": kept.left_out})
        for msg in bad:
            for rej in msg.rejections:
                pending[f"quarantined.{rej.code}"] += 1
        pending["batches"] += 1
        self.counters.update(pending)
        self._pending = pending
        self.counters["last_batch_ts"] = int(time.time())

    def _uncount_pending(self) -> None:
        """The transaction rolled back after _count: take its numbers back out."""
        if self._pending:
            self.counters.subtract(self._pending)
            self._pending = Counter()

    def maybe_alerts(self, force: bool = False) -> None:
        """Evaluate the rules for the sensors changed since the last evaluation: right away when the
        queue is drained (normal traffic: after every batch), at most every [sensors].alert_seconds
        while a backlog is being written (a burst is then evaluated once, not once per batch)."""
        if not self._alert_pending:
            return
        with self._lock:
            backlog = len(self._queue)
        if not force and backlog and time.monotonic() - self._alerts_at < self.alert_seconds:
            return
        pending, self._alert_pending = self._alert_pending, {}
        self._alerts_at = time.monotonic()
        self._alerts(pending, self.index())

    def _alerts(self, newest: dict, index: SensorIndex) -> None:
        try:
            now = datetime.now(timezone.utc)
            # Backfilled history cannot change an alert's state (rules look at the latest days only).
            recent = {sid for sid, hour in newest.items() if hour >= now - RECENT}
            with session_scope(self.engine) as session:
                opened, closed = evaluate_sensors(session, recent, index, now)
            self.counters["alerts_opened"] += opened
            self.counters["alerts_closed"] += closed
        except Exception:  # noqa: BLE001 - a broken rule or case intake must not stop ingestion
            self.counters["alert_errors"] += 1
            log.exception("告警规则评估失败")
        finally:
            self.counters["alert_runs"] += 1

    # -- status -----------------------------------------------------------------------------------
    def stats(self) -> dict:
        out = {k: int(v) for k, v in self.counters.items()}
        out["connected"] = self.connected
        with self._lock:
            out["queued"] = len(self._queue)
        return out

    def _write_status(self, session) -> None:  # noqa: ANN001
        row = session.get(IngestStatus, self.client_id)
        if row is None:
            row = IngestStatus(name=self.client_id, started_at=self.started_at)
            session.add(row)
        row.started_at = self.started_at
        row.updated_at = datetime.now(timezone.utc)
        row.connected = self.connected
        row.counters = {k: int(v) for k, v in self.counters.items()}
        self._last_status = time.monotonic()

    def _write_status_safely(self) -> None:
        try:
            with session_scope(self.engine) as session:
                self._write_status(session)
        except Exception:  # noqa: BLE001
            log.exception("写入采集状态失败")
