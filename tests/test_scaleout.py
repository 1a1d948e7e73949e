"""The scale-out topology on its real parts (docs/scale-out.md): `python -m scaleout up` starts a PostgreSQL
streaming replica (pg_basebackup -R from the local primary), a private Mosquitto, two MQTT ingesters on one
shared subscription, two Streamlit servers and nginx in front of them; this module checks, through them:

- health and the websocket upgrade through nginx; sticky routing (same cookie → same server, both used);
- signing in through nginx, the client address taken from nginx's X-Forwarded-For (trusted proxy), and a
  forged X-Forwarded-For sent straight to a server ignored;
- a write on the primary reaches the replica (the lag is measured), and the admin read face reports it;
- read-your-own-write: with the replica's replay paused, the browser session that wrote reads the primary
  (and sees its write) while another session reads the replica (and does not yet);
- N readings published with QoS 1 while one ingester is SIGKILLed midway (the supervisor restarts it):
  every reading stored exactly once, the hourly rollup counts each once, both ingesters took a share,
  and the daily rollups equal a recomputation from the hourly ones (two ingesters write them at once).

Needs nginx, pg_basebackup, mosquitto and a primary that allows replication from 127.0.0.1 (.ci/run sets
all of that up). Skips without them — unless REQUIRE_POSTGRES=1 or REQUIRE_MQTT=1 (CI), then fails.
"""
from __future__ import annotations

import http.client
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

import paho.mqtt.client as mqtt
import pytest
import streamlit as st
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from streamlit.testing.v1 import AppTest

import settings
from auth import actions as auth_actions
from auth import csrf
from auth.views import AuthViews
from sensors.daily import refresh_area_daily, refresh_daily
from sensors.ingest import ingest
from sensors.registry import load_index
from store import db
from store.db import ReadRoute, dispose_engines, get_engine, session_scope
from store.models import AuditEntry
from store.models.sensors import IngestStatus, SensorAreaDaily, SensorDaily, SensorHourly, SensorReading
from store.scope import PermissionDenied, Viewer
from tests.conftest import PG_ADMIN_URL
from tests.support.tiny_city import tiny_city_regions
from tests.test_sensors_common import SENSORS, add_sensors, air_hours

ROOT = Path(__file__).resolve().parents[1]
CITY = "440900"
SECRET = secrets.token_urlsafe(48)
PASSWORD = "Dashboard#Scale2026"
CLIENT_IP = "127.0.0.5"
CST = timezone(timedelta(hours=8))  # the "browser": another loopback address than nginx's upstream side (127.0.0.1)
pytestmark = pytest.mark.timeout(240)


def _required() -> bool:
    return os.environ.get("REQUIRE_POSTGRES") == "1" or os.environ.get("REQUIRE_MQTT") == "1"


def _unavailable(reason: str) -> None:
    if _required():
        pytest.fail(f"scale-out topology required (REQUIRE_POSTGRES/REQUIRE_MQTT) but unavailable: {reason}")
    pytest.skip(f"scale-out topology unavailable: {reason}")


def _below_ephemeral() -> range:
    """Ports the kernel never hands to an outgoing connection: below its ephemeral range. The topology
    starts its servers half a minute after the ports are chosen (the base backup comes first); a port taken
    by bind(0) lies in the ephemeral range, where any client connection of the busy test run (PostgreSQL,
    the browsers, the other workers) could take it meanwhile — server-2 once found its port gone."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(max(1024, low - 12000), low - 1)


def _free_port(pair: bool = False) -> int:
    ports = _below_ephemeral()
    for _ in range(200):
        port = random.choice(ports)
        try:
            for candidate in (port, port + 1) if pair else (port,):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port (pair)")


def _scaleout(*args: str, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scaleout", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


class Topo:
    """What the tests need to know of the running topology."""

    def __init__(self, run_dir: Path, url: str, port: int, server_ports: list[int], replica_port: int) -> None:
        self.run_dir, self.url, self.port, self.server_ports = run_dir, url, port, server_ports
        self.replica_url = make_url(url).set(port=replica_port).render_as_string(hide_password=False)

    def state(self) -> dict:
        return json.loads((self.run_dir / "state.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def topo():
    for tool in ("nginx", "pg_basebackup", "mosquitto"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            _unavailable(f"{tool} not installed")
    name = f"cityops_t_scaleout_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server
        _unavailable(f"PostgreSQL: {exc}")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    # Not under pytest's tmp_path: its directories are 0700, and the replica runs as "postgres" when we are root.
    run_dir = Path(tempfile.mkdtemp(prefix="cityops-scaleout-t-"))
    port, first, replica_port, mqtt_port = _free_port(), _free_port(pair=True), _free_port(), _free_port()
    env = {**os.environ, "CITYOPS_SECRET_KEY": SECRET, "PYTHONUNBUFFERED": "1",
           # Small, quick batches: a killed ingester then surely dies holding unacknowledged messages.
           "CITYOPS_MQTT_BATCH_SIZE": "50", "CITYOPS_MQTT_BATCH_SECONDS": "0.2"}
    env.pop("DATABASE_REPLICA_URL", None)
    up = None
    try:
        up = _scaleout("up", "--detach", "--run-dir", str(run_dir), "--database-url", url, "--no-seed",
                       "--mqtt", "private", "--mqtt-port", str(mqtt_port), "--port", str(port),
                       "--first-server-port", str(first), "--replica-port", str(replica_port), env=env)
        if up.returncode != 0:
            log = run_dir / "logs" / "supervisor.log"
            detail = up.stdout + up.stderr + (log.read_text(errors="replace")[-2000:] if log.exists() else "")
            if "复制连接" in detail or "pg_hba" in detail:
                _unavailable(f"the primary refuses replication from 127.0.0.1: {detail[-500:]}")
            pytest.fail(f"scaleout up failed:\n{detail}")
        yield Topo(run_dir, url, port, [first, first + 1], replica_port)
    finally:
        if up is not None:
            down = _scaleout("down", "--run-dir", str(run_dir), env=env)
            assert down.returncode == 0, down.stdout + down.stderr
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            slots = list(conn.execute(text("SELECT slot_name FROM pg_replication_slots WHERE slot_name = :s"),
                                      {"s": f"cityops_scaleout_{replica_port}"}).scalars())
        admin.dispose()
        shutil.rmtree(run_dir, ignore_errors=True)
        assert not slots, f"replication slot left behind: {slots}"


@pytest.fixture(scope="module")
def city(topo):
    """The tiny city, its air stations and a leader account, written on the primary."""
    engine = get_engine(topo.url)
    with session_scope(engine) as s:
        s.add_all(tiny_city_regions())
    add_sensors(engine, [spec for spec in SENSORS if spec[1] == "air"])
    auth_actions.create_user(engine, Viewer("setup", "sys_admin", CITY), "lingdao_so", "领导", "leader", CITY, None,
                             PASSWORD)
    return engine


@pytest.fixture
def app_settings(topo, monkeypatch):
    """This process configured like the topology's servers: primary + replica."""
    monkeypatch.setenv("DATABASE_URL", topo.url)
    monkeypatch.setenv("DATABASE_REPLICA_URL", topo.replica_url)
    settings.reload_settings()
    yield
    monkeypatch.undo()
    settings.reload_settings()


# -- HTTP helpers -------------------------------------------------------------------------------------

def request(port: int, method: str, path: str, *, headers: dict | None = None, body: str | None = None,
            source: str = "127.0.0.1") -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp


def cookies_of(resp: http.client.HTTPResponse) -> dict[str, str]:
    out = {}
    for header in resp.headers.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        out[name.strip()] = rest.split(";", 1)[0]
    return out


# -- nginx and the servers ----------------------------------------------------------------------------

def test_health_and_websocket_through_nginx(topo):
    resp = request(topo.port, "GET", "/_stcore/health")
    assert resp.status == 200 and resp.headers["X-Upstream"] in {f"127.0.0.1:{p}" for p in topo.server_ports}
    # The websocket Streamlit runs on: nginx must pass the upgrade through.
    with socket.create_connection(("127.0.0.1", topo.port), timeout=10) as s:
        s.sendall((f"GET /_stcore/stream HTTP/1.1\r\nHost: 127.0.0.1:{topo.port}\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   f"Origin: http://127.0.0.1:{topo.port}\r\n\r\n").encode())
        head = s.recv(4096).decode("latin-1")
    assert head.startswith("HTTP/1.1 101"), head
    assert "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head  # the accept key for that request key (RFC 6455)


def test_sticky_routing_by_cookie(topo):
    first = request(topo.port, "GET", "/")
    route = cookies_of(first).get("cityops_route")
    assert first.status == 200 and route, first.headers
    upstream = first.headers["X-Upstream"]
    # The browser's next requests — page, health, static files — all reach the server that answered first.
    for path in ["/", "/_stcore/health", "/_stcore/health", "/", "/_stcore/health", "/"]:
        again = request(topo.port, "GET", path, headers={"Cookie": f"cityops_route={route}"})
        assert again.headers["X-Upstream"] == upstream
        assert "cityops_route" not in cookies_of(again)  # given once
    # Different browsers are spread over both servers.
    seen = {request(topo.port, "GET", "/_stcore/health",
                    headers={"Cookie": f"cityops_route={uuid.uuid4().hex}"}).headers["X-Upstream"] for _ in range(24)}
    assert seen == {f"127.0.0.1:{p}" for p in topo.server_ports}


def _login(port: int, username: str, password: str, *, source: str, extra: dict | None = None) -> http.client.HTTPResponse:
    page = request(port, "GET", "/", source=source)
    jar = cookies_of(page)
    browser = jar["cityops_csrf"]
    form = urlencode({"username": username, "password": password, "next": "/",
                      "csrf": csrf.form_token("login", browser, key=SECRET)})
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    return request(port, "POST", "/auth/login", body=form, source=source, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie,
        "Origin": f"http://127.0.0.1:{port}", **(extra or {})})


def test_sign_in_through_nginx_names_the_real_client(topo, city):
    resp = _login(topo.port, "lingdao_so", PASSWORD, source=CLIENT_IP)
    assert resp.status == 303 and "cityops_session" in cookies_of(resp), (resp.status, resp.headers)
    # Straight to a server, bypassing nginx, a forged X-Forwarded-For is not believed.
    forged = _login(topo.server_ports[0], "lingdao_so", "wrong-password", source=CLIENT_IP,
                    extra={"X-Forwarded-For": "198.51.100.9"})
    assert forged.status == 303 and "auth_error" in forged.headers["Location"]
    with session_scope(city, readonly=True) as s:
        rows = s.execute(select(AuditEntry.action, AuditEntry.client).where(AuditEntry.actor == "lingdao_so")
                         .order_by(AuditEntry.id)).all()
    assert ("login", CLIENT_IP) in rows, rows  # nginx's X-Forwarded-For, from a trusted proxy
    assert ("login_failed", CLIENT_IP) in rows and all(c != "198.51.100.9" for _, c in rows), rows


# -- the replica --------------------------------------------------------------------------------------

def _replica(topo) -> object:  # noqa: ANN001 - an Engine
    return get_engine(topo.replica_url)


def test_write_reaches_replica_and_lag_is_reported(topo, city, app_settings):
    replica = _replica(topo)
    marker = f"lag-{uuid.uuid4().hex[:8]}"
    with session_scope(city) as s:
        s.execute(text("INSERT INTO meta (key, value) VALUES (:k, :v)"), {"k": marker, "v": "1"})
    t0 = time.perf_counter()
    while True:
        with replica.connect() as conn:
            if conn.execute(text("SELECT 1 FROM meta WHERE key = :k"), {"k": marker}).scalar():
                break
        assert time.perf_counter() - t0 < 10, "the write did not reach the replica in 10 s"
        time.sleep(0.002)
    lag_ms = (time.perf_counter() - t0) * 1000
    print(f"\nprimary → replica visibility: {lag_ms:.1f} ms")
    sys_admin = Viewer("xitong", "sys_admin", CITY)
    with AuthViews.open(get_engine(), sys_admin) as views:
        status = views.replica_status()
    assert status["reachable"] and status["in_recovery"] and not status["replay_paused"], status
    ours = [s for s in status["standbys"] if s["state"] == "streaming"]
    assert ours and status["lag_seconds"] is not None and status["lag_seconds"] < 5, status
    with pytest.raises(PermissionDenied):
        with AuthViews.open(get_engine(), Viewer("lingdao_so", "leader", CITY)) as views:
            views.replica_status()


def test_admin_page_shows_replica_lag(topo, city, app_settings):
    """系统管理 → 数据交换 as the system administrator, the page's reads routed like on the topology's servers."""
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(ROOT / "pages" / "admin.py"), default_timeout=60)
        at.session_state["viewer"] = Viewer("xitong", "sys_admin", CITY, display_name="系统管理员")
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert "数据库只读副本" in [h.value for h in at.subheader]
        assert "复制延迟" in [m.label for m in at.metric]
        standbys = next(df.value for df in at.dataframe if "备库" in df.value.columns)
        assert "流复制中" in set(standbys["状态"])
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()


def test_own_write_is_read_from_primary_until_replica_replays_it(topo, city, app_settings):
    replica = _replica(topo)
    primary = get_engine()
    sys_admin = Viewer("xitong", "sys_admin", CITY)
    mine, theirs = ReadRoute(), ReadRoute()  # two browser sessions
    current = {"route": theirs}
    previous = db.set_route_provider(lambda: current["route"])
    with replica.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("SELECT pg_wal_replay_pause()")
    try:
        with AuthViews.open(primary, sys_admin) as views:  # nothing written yet: the replica
            assert views.session.get_bind().url.port == make_url(topo.replica_url).port
        current["route"] = mine
        name = f"ryw{uuid.uuid4().hex[:6]}"
        auth_actions.create_user(primary, sys_admin, name, "读己之写", "leader", CITY, None, PASSWORD)  # a real action
        assert mine.lsn is not None
        with AuthViews.open(primary, sys_admin) as views:  # the writer: the primary, and its write is there
            assert views.session.get_bind().url.port == make_url(topo.url).port
            assert [u["username"] for u in views.users(search=name)] == [name]
        current["route"] = theirs
        with AuthViews.open(primary, sys_admin) as views:  # someone else: the (paused) replica, not yet there
            assert views.session.get_bind().url.port == make_url(topo.replica_url).port
            assert views.users(search=name) == []
        with AuthViews.open(primary, sys_admin, fresh=True) as views:  # fresh=True: the primary for anyone
            assert [u["username"] for u in views.users(search=name)] == [name]
    finally:
        with replica.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("SELECT pg_wal_replay_resume()")
    try:
        current["route"] = mine
        deadline = time.monotonic() + 10
        while True:  # once the replica has replayed the write, the writer reads the replica again
            with AuthViews.open(primary, sys_admin) as views:
                port = views.session.get_bind().url.port
                found = [u["username"] for u in views.users(search=name)]
            if port == make_url(topo.replica_url).port:
                break
            assert time.monotonic() < deadline, "the writer never went back to the replica"
            time.sleep(0.05)
        assert found == [name] and mine.lsn is None
    finally:
        db.set_route_provider(previous)


# -- two ingesters, one subscription ------------------------------------------------------------------

def _publish(port: int, items: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(200)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(t, p, qos=1) for t, p in items]
        for info in infos:
            info.wait_for_publish(timeout=30)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


METRICS = 6


def _messages(n: int, start: datetime) -> list[tuple[str, bytes]]:
    """n messages over the air stations, six pollutants each, six minutes apart per station (whole local
    days, so the daily AQI is assessed), values varying (so a daily figure computed without some hours
    differs from the right one)."""
    stations = [spec[0] for spec in SENSORS if spec[1] == "air"]
    out = []
    for i in range(n):
        sid = stations[i % len(stations)]
        ts = (start + timedelta(minutes=6 * (i // len(stations)))).astimezone(CST)
        pm = 20 + (i * 7) % 23
        body = {"sensor_id": sid, "ts": ts.isoformat(), "metrics": {
            "PM2.5": pm, "PM10": pm * 1.6, "SO2": 7 + i % 5, "NO2": 25 + i % 9, "CO": 0.6, "O3": 60 + i % 31}}
        out.append((f"city/{CITY}/sensors/{sid}/readings", json.dumps(body).encode()))
    return out


def _stored(engine) -> int:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return s.execute(select(func.count()).select_from(SensorReading)).scalar_one()


def _committed(engine, client_id: str) -> int:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        row = s.get(IngestStatus, client_id)
        return int((row.counters or {}).get("messages_committed", 0)) if row is not None else 0


def test_killed_ingester_loses_nothing(topo, city):
    state = topo.state()
    mqtt_port = int(state["mqtt"].rsplit(":", 1)[1])
    victim = state["parts"]["ingester-1"]
    n = 1500
    midnight = datetime.now(CST).replace(hour=0, minute=0, second=0, microsecond=0)
    msgs = _messages(n, midnight - timedelta(days=3))
    _publish(mqtt_port, msgs[:500])
    deadline = time.monotonic() + 30
    while (before_kill := _committed(city, victim["client_id"])) < 1:  # it has committed part of its share …
        assert time.monotonic() < deadline, "ingester-1 committed nothing"
        time.sleep(0.01)
    os.kill(victim["pid"], signal.SIGKILL)  # … and dies holding the rest, unacknowledged
    _publish(mqtt_port, msgs[500:1000])  # while it is dead: its share waits in its session
    deadline = time.monotonic() + 30
    while topo.state()["parts"]["ingester-1"]["restarts"] < 1:
        assert time.monotonic() < deadline, "the supervisor did not restart the killed ingester"
        time.sleep(0.2)
    assert topo.state()["parts"]["ingester-1"]["pid"] != victim["pid"]
    _publish(mqtt_port, msgs[1000:])
    expected = METRICS * n
    deadline = time.monotonic() + 90
    while (got := _stored(city)) < expected:
        assert time.monotonic() < deadline, f"{got} of {expected} readings stored"
        time.sleep(0.3)
    time.sleep(1.0)  # nothing more arrives (a redelivery is absorbed by the unique key)
    with session_scope(city, readonly=True) as s:
        stored = s.execute(select(func.count()).select_from(SensorReading)).scalar_one()
        distinct = s.execute(select(func.count()).select_from(
            select(SensorReading.sensor_id, SensorReading.ts, SensorReading.metric).distinct().subquery())).scalar_one()
        hourly_n = s.execute(select(func.sum(SensorHourly.n))).scalar_one()
        status = {r.name: r.counters for r in s.execute(select(IngestStatus)).scalars()}
    assert stored == distinct == hourly_n == expected, (stored, distinct, hourly_n, status)
    shares = {name: c.get("messages_committed", 0) for name, c in status.items()}
    assert len(shares) == 2 and all(v > 0 for v in shares.values()), status  # both took part of the stream
    # What the killed process had committed, from the readings: the two status rows count only the living
    # processes (the restarted one starts from zero). `before_kill` is a lower bound only: the process went
    # on committing batches between that read and the signal (150 messages on a loaded machine, seen).
    first_life = (expected - sum(c.get("stored", 0) for c in status.values())) // METRICS
    print(f"\ningester-1 had committed {first_life} messages when killed ({before_kill} read before the kill); "
          f"after: {json.dumps(status, ensure_ascii=False)}")
    assert first_life >= before_kill, (first_life, before_kill, status)
    # The restarted ingester-1 got again what the dead one had not acknowledged (and its share published
    # while it was dead): together with what it had committed, at least its half of the stream.
    assert first_life + status[victim["client_id"]]["received"] >= n // 2, (first_life, status)
    # The daily rollups, written by both ingesters at once, equal a recomputation from the hourly rollup
    # (sensors/rollup_lock.py: without it the last writer of a day could miss the other's hours).
    with session_scope(city, readonly=True) as s:
        before = _daily_figures(s)
    with pytest.raises(_Undo), session_scope(city) as s:  # recompute, compare, roll back
        index = load_index(s)
        days: dict[str, set] = {}
        for sid, hour in s.execute(select(SensorHourly.sensor_id, SensorHourly.hour).distinct()):
            days.setdefault(sid, set()).add(hour.astimezone(CST).date())
        refresh_daily(s, days, index)
        refresh_area_daily(s, days, index)
        s.flush()
        s.expire_all()
        after = _daily_figures(s)
        raise _Undo
    assert before[0] and before[1] and before == after


def _daily_figures(s) -> tuple[dict, dict]:  # noqa: ANN001 - a Session
    """Every station's and area's daily figures, floats to 9 significant digits: a moving average computed
    over a longer span (the recomputation does all days at once) differs in the last bits."""
    station = {(d.sensor_id, d.day, d.metric): _rounded((d.value, d.detail))
               for d in s.execute(select(SensorDaily)).scalars()}
    area = {(a.region_code, a.day, a.metric): _rounded((a.value, a.stations, a.detail))
            for a in s.execute(select(SensorAreaDaily)).scalars()}
    return station, area


def _rounded(value):  # noqa: ANN001, ANN202
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return tuple(sorted((k, _rounded(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_rounded(v) for v in value)
    return value


class _Undo(Exception):
    """Rolls the recomputation back."""


# -- two batches writing the same day at once (no topology needed) -----------------------------------

def test_concurrent_batches_leave_the_daily_figures_whole(pg_engine):
    """Deterministically what two ingesters can do: batch A adds hours of station A1, batch B hours of
    station A2 in the same district, the same day; A has recomputed the district's day and not yet
    committed when B recomputes it. B must wait for A (sensors/rollup_lock.py) and then see A's hours;
    otherwise B's district figure, computed without them, overwrites A's when B commits last. (Batches of
    one station are serialised anyway, by the sensor_latest rows both update.)"""
    with session_scope(pg_engine) as s:
        s.add_all(tiny_city_regions())
    add_sensors(pg_engine, [spec for spec in SENSORS if spec[0] in ("A1", "A2")])  # both in 440902
    with session_scope(pg_engine, readonly=True) as s:
        index = load_index(s)
    day = datetime.now(CST).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)

    def hours(sid: str, first: int, last: int) -> list:
        return [r for h in range(first, last) for r in air_hours(
            sid, day + timedelta(hours=h), 1, PM25=10 + 3 * h + (5 if sid == "A2" else 0), PM10=30 + h, SO2=8,
            NO2=20, CO=0.5, O3=50 + h)]

    with session_scope(pg_engine) as s:
        ingest(s, hours("A1", 0, 20) + hours("A2", 0, 20), index)
    a_ready, b_done, errors = threading.Event(), threading.Event(), []

    def waiting_on_a_lock() -> bool:
        with pg_engine.connect() as conn:
            return bool(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                          "AND wait_event_type = 'Lock'")).scalar())

    def batch_a() -> None:
        try:
            with session_scope(pg_engine) as s:
                ingest(s, hours("A1", 20, 24), index)
                a_ready.set()
                deadline = time.monotonic() + 20
                while not b_done.is_set() and not waiting_on_a_lock():
                    assert time.monotonic() < deadline, "batch B neither finished nor waited"
                    time.sleep(0.02)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    def batch_b() -> None:
        try:
            assert a_ready.wait(20)
            with session_scope(pg_engine) as s:
                ingest(s, hours("A2", 20, 24), index)
            b_done.set()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=batch_a), threading.Thread(target=batch_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with session_scope(pg_engine, readonly=True) as s:
        stored = _daily_figures(s)
    with pytest.raises(_Undo), session_scope(pg_engine) as s:
        refresh_daily(s, {"A1": {day.date()}, "A2": {day.date()}}, index)
        refresh_area_daily(s, {"A1": {day.date()}, "A2": {day.date()}}, index)
        s.flush()
        s.expire_all()
        recomputed = _daily_figures(s)
        raise _Undo
    pm25 = {k: v for k, v in stored[1].items() if k[2] == "PM2.5"}
    assert pm25 and stored == recomputed, (pm25, {k: v for k, v in recomputed[1].items() if k[2] == "PM2.5"})
