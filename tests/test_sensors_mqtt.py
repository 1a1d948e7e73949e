"""MQTT end to end against a real Mosquitto broker, on both database backends.

A private broker (its own port, persistence in a temp dir) is started so that it can be restarted
mid-stream without disturbing anyone else. Published: valid readings, exact duplicates, and malformed
or invalid messages; the broker restarts while messages may be in flight, and the ingester is away
while more are published (the broker queues them for its persistent session). At the end exactly the
valid distinct readings are stored and every bad one is in quarantine. REQUIRE_MQTT=1 turns a missing
broker into a failure instead of a skip.
"""
from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from sensors.mqtt_ingest import Ingester
from store.db import session_scope
from store.models.sensors import QuarantinedReading, Sensor, SensorHourly, SensorReading
from tests.test_sensors_common import add_sensors, count

CITY = "440900"


def _need_mqtt(reason: str) -> None:
    if os.environ.get("REQUIRE_MQTT") == "1":
        pytest.fail(f"MQTT required but unavailable: {reason}")
    pytest.skip(f"MQTT unavailable: {reason}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A private mosquitto with persistence, restartable on the same port."""

    def __init__(self, tmp_path) -> None:  # noqa: ANN001
        self.port = _free_port()
        data = tmp_path / "mosquitto"
        data.mkdir()
        self.conf = data / "mosquitto.conf"
        # `user`: run as ourselves; started as root, mosquitto would switch to user "mosquitto" and then
        # could not write its persistence file in our temp dir (sessions would not survive a restart).
        self.conf.write_text(
            f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {data}/\nmax_queued_messages 100000\nlog_dest none\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # SIGTERM: mosquitto writes its persistence file on the way out
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def broker(tmp_path):
    if shutil.which("mosquitto") is None:
        _need_mqtt("mosquitto binary not found")
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


def publish(port: int, items: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in items]
        for info in infos:
            info.wait_for_publish(timeout=15)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def topic(sensor: str) -> str:
    return f"city/{CITY}/sensors/{sensor}/readings"


def msg(sensor: str, ts: datetime, **metrics) -> tuple[str, bytes]:  # noqa: ANN003
    body = {"sensor_id": sensor, "ts": ts.astimezone(timezone(timedelta(hours=8))).isoformat(),
            "metrics": {k.replace("PM25", "PM2.5"): v for k, v in metrics.items()}}
    return topic(sensor), json.dumps(body).encode()


def valid_batch(start: datetime, n: int, sensor: str = "A1") -> list[tuple[str, bytes]]:
    """n messages one minute apart, two readings each."""
    return [msg(sensor, start + timedelta(minutes=i), PM25=30 + i % 7, PM10=50 + i % 5) for i in range(n)]


class Running:
    def __init__(self, engine, port: int, client_id: str) -> None:  # noqa: ANN001
        self.ing = Ingester(engine, host="127.0.0.1", port=port, client_id=client_id, city_code=CITY,
                            batch_size=25, batch_seconds=0.2)
        self.thread = threading.Thread(target=self.ing.run, daemon=True)
        self.thread.start()
        assert self.ing.subscribed.wait(15), "ingester did not subscribe"

    def wait_committed(self, n: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ing.stats().get("messages_committed", 0) >= n:
                return
            time.sleep(0.1)
        raise AssertionError(f"only {self.ing.stats()} after {timeout}s, expected {n} committed")

    def stop(self) -> None:
        self.ing.stop()
        self.thread.join(timeout=20)
        assert not self.thread.is_alive()


def test_end_to_end_duplicates_bad_input_broker_restart_and_absence(city_engine, broker):
    add_sensors(city_engine)
    client_id = f"ingest-test-{uuid.uuid4().hex[:8]}"
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    t1, t2, t3 = now - timedelta(hours=5), now - timedelta(hours=3), now - timedelta(hours=1)
    run = Running(city_engine, broker.port, client_id)

    phase1 = valid_batch(t1, 30)
    bad = [
        (topic("A1"), b"{not json"),
        msg("NOPE", t1, PM25=10),                                               # unknown sensor
        msg("A2", t1, PM25=-5, PM10=40),                                        # PM2.5 out of range, PM10 kept
        (topic("A2"), json.dumps({"sensor_id": "A2", "ts": "2026-11-25T10:00:00",
                                  "metrics": {"PM2.5": 1}}).encode()),          # no time zone
        msg("A2", now + timedelta(hours=2), PM25=10),                           # far in the future
        (topic("A1"), msg("A2", t1, PM25=3)[1]),                                 # topic ≠ payload
    ]
    publish(broker.port, phase1 + phase1[:10] + bad)
    run.wait_committed(len(phase1) + 10 + len(bad))

    # Restart the broker right after publishing: some deliveries may still be unacknowledged.
    phase2 = valid_batch(t2, 30, "A2")
    publish(broker.port, phase2 + phase1[10:15])
    broker.stop()
    time.sleep(0.5)
    broker.start()
    deadline = time.monotonic() + 30
    while run.ing.stats().get("connects", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run.ing.stats()["connects"] >= 2  # reconnected by itself
    assert run.ing.subscribed.wait(15)
    phase2b = valid_batch(t2 + timedelta(hours=1), 10, "A2")
    publish(broker.port, phase2b)
    run.wait_committed(len(phase1) + 10 + len(bad) + 30 + 5 + 10)

    # The ingester goes away; what is published meanwhile waits in its persistent session,
    # across one more broker restart.
    run.stop()
    phase3 = valid_batch(t3, 20, "A3")
    publish(broker.port, phase3 + phase3[:3])
    broker.stop()
    broker.start()
    again = Running(city_engine, broker.port, client_id)
    again.wait_committed(23)
    again.stop()

    expected = 2 * len(phase1) + 1 + 2 * len(phase2) + 2 * len(phase2b) + 2 * len(phase3)
    assert count(city_engine, SensorReading) == expected
    with session_scope(city_engine, readonly=True) as s:
        reasons = sorted(r.split(":")[0] for r in s.execute(select(QuarantinedReading.reason)).scalars())
        hourly = s.execute(select(SensorHourly.n)).scalars().all()
    assert reasons == sorted(["malformed", "unknown_sensor", "out_of_range", "naive_timestamp",
                              "future_timestamp", "topic_mismatch"])
    assert sum(hourly) == expected  # every stored reading counted once in the hourly rollup
    stats = run.ing.stats()
    assert stats["quarantined"] == 6 and stats["quarantined.unknown_sensor"] == 1
    assert stats["duplicates"] >= 20  # the 10 + 5 republished messages, two readings each


def test_configured_broker_roundtrip(sqlite_city_engine):
    """The broker the product is configured for ([mqtt], 127.0.0.1:1883) delivers to the ingester."""
    import settings

    cfg = settings.get_settings()["mqtt"]
    try:
        socket.create_connection((cfg["host"], int(cfg["port"])), timeout=1).close()
    except OSError as exc:
        _need_mqtt(str(exc))
    add_sensors(sqlite_city_engine)
    run = Running(sqlite_city_engine, int(cfg["port"]), f"ingest-cfg-{uuid.uuid4().hex[:8]}")
    try:
        publish(int(cfg["port"]), valid_batch(datetime.now(timezone.utc) - timedelta(hours=1), 5, "A3"))
        run.wait_committed(5)
    finally:
        run.stop()
    assert count(sqlite_city_engine, SensorReading) == 10


def test_pollution_episode_over_mqtt_colours_map_opens_and_closes_case(city_engine, broker):
    """Done-means of the issue: an episode published to the broker turns the station orange then red,
    opens a case (source 传感器) and closes the alert, with a note on the case, when it ends."""
    from sensors.views import SensorViews
    from store.models import Event, EventTransition
    from store.models.sensors import Alert
    from store.scope import Viewer

    add_sensors(city_engine)
    with session_scope(city_engine) as s:  # the episode is replayed from 4 hours ago: not yet 离线
        s.get(Sensor, "A1").expected_interval_s = 7200
    viewer = Viewer("duty", "duty_officer", CITY)
    top = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    run = Running(city_engine, broker.port, f"ingest-ep-{uuid.uuid4().hex[:8]}")
    others = dict(SO2=8, NO2=30, CO=0.7, O3=60, PM10=60)
    committed = 0

    def hour(offset: int, pm25: float) -> None:
        nonlocal committed
        publish(broker.port, [msg("A1", top + timedelta(hours=offset), PM25=pm25, **others)])
        committed += 1
        run.wait_committed(committed)
        deadline = time.monotonic() + 30  # the rules run right after the batch, the queue being empty
        while run.ing.stats().get("alert_runs", 0) < committed and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run.ing.stats().get("alert_errors", 0) == 0

    def colour() -> str:
        with session_scope(city_engine, readonly=True) as s:
            m = SensorViews(s, viewer).station_map(CITY, datetime.now(timezone.utc))
        return m.set_index("id").loc["A1", "color"]

    def alerts() -> list:
        with session_scope(city_engine, readonly=True) as s:
            return list(s.execute(select(Alert)).scalars())

    try:
        hour(-4, 100)   # IAQI 137: 轻度污染
        assert colour() == "#FF7E00"
        hour(-3, 140)   # IAQI 186: 中度污染
        assert colour() == "#FF0000"
        hour(-2, 200)   # IAQI 250: one hour above 200
        assert alerts() == []
        hour(-1, 200)   # two consecutive hours: alert and case
        (alert,) = alerts()
        assert alert.status == "open" and alert.rule_id == "air_aqi_heavy"
        with session_scope(city_engine, readonly=True) as s:
            case = s.get(Event, alert.event_id)
            assert (case.source, case.status) == ("传感器", "reported")
        hour(0, 30)     # the episode ends
        (alert,) = alerts()
        assert alert.status == "closed"
        with session_scope(city_engine, readonly=True) as s:
            comments = s.execute(select(EventTransition.comment).where(
                EventTransition.event_id == alert.event_id)).scalars().all()
        assert any("告警解除" in c for c in comments)
        assert colour() == "#FFFF00"  # 良: PM10 60 → IAQI 58
    finally:
        run.stop()
