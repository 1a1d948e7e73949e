"""Benchmark (not a test): sustained MQTT ingest rate with the rollups kept current.

    python -m sensors.bench_ingest --backend sqlite --messages 20000
    python -m sensors.bench_ingest --backend postgres --messages 20000 [--stations 300] [--no-alerts]

Starts a private Mosquitto on a free port (or uses --broker host:port), a fresh database (a temp
SQLite file, or a temporary PostgreSQL database next to TEST_PG_ADMIN_URL), registers air stations,
runs the real Ingester (batches per [mqtt], manual ack after commit, hourly/latest/daily/area rollups
and alert evaluation after each batch), publishes N messages of six pollutants each over QoS 1, and
prints messages/second from the first publish until the last message is committed, then checks the
stored counts.
"""
from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import create_engine, func, insert, select, text

import settings
from sensors.mqtt_ingest import Ingester
from store.db import dispose_engines, get_engine, session_scope
from store.models import Base
from store.models.sensors import Sensor, SensorAreaDaily, SensorDaily, SensorHourly, SensorReading
from store.region_codes import subtree_prefix


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(workdir: Path) -> tuple[subprocess.Popen, int]:
    if shutil.which("mosquitto") is None:
        sys.exit("未找到 mosquitto，可用 --broker host:port 指定已运行的代理")
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"user {pwd.getpwuid(os.getuid()).pw_name}\nlistener {port} 127.0.0.1\nallow_anonymous true\n"
                    "max_queued_messages 1000000\nlog_dest none\n")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    sys.exit("mosquitto 未能启动")


def make_database(backend: str, workdir: Path) -> tuple[str, callable]:  # noqa: ANN001
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}", lambda: None
    admin_url = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    name = f"cityops_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.rsplit("/", 1)[0] + f"/{name}", drop


def register_stations(engine, n: int, city: str = "440900") -> list[str]:  # noqa: ANN001
    rows = []
    for i in range(n):
        district = f"{subtree_prefix(city)}{2 + 2 * (i % 5):02d}"
        street = f"{district}{1 + i % 7:03d}"
        community = f"{street}{1 + i % 3:03d}"
        rows.append({"id": f"B-{i:04d}", "kind": "air", "name": f"基准站{i}", "lon": 110.9 + i * 1e-3, "lat": 21.6,
                     "params": {}, "expected_interval_s": 3600, "active": True, "city_code": city,
                     "district_code": district, "street_code": street, "community_code": community,
                     "grid_code": f"{community}001"})
    with session_scope(engine) as s:
        s.execute(insert(Sensor), rows)
    return [r["id"] for r in rows]


def payloads(ids: list[str], n: int, now: datetime, rng: np.random.Generator) -> list[tuple[str, bytes]]:
    """n messages: round-robin over stations, one hour further back per round."""
    out = []
    tz = timezone(timedelta(hours=8))
    base = rng.lognormal(np.log(35), 0.4, size=n)
    for i in range(n):
        sid = ids[i % len(ids)]
        ts = (now - timedelta(hours=i // len(ids))).astimezone(tz)
        pm = float(round(base[i], 1))
        body = {"sensor_id": sid, "ts": ts.isoformat(), "metrics": {
            "PM2.5": pm, "PM10": round(pm * 1.6, 1), "NO2": 28.0, "SO2": 7.0, "CO": 0.6, "O3": 80.0}}
        out.append((f"city/440900/sensors/{sid}/readings", json.dumps(body).encode()))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="MQTT 采集吞吐基准（持续速率，汇总表同步更新）")
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--stations", type=int, default=300)
    ap.add_argument("--broker", default=None, help="host:port of a running broker (default: a private mosquitto)")
    ap.add_argument("--no-alerts", action="store_true")
    args = ap.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="cityops-bench-"))
    broker = None
    if args.broker:
        host, port = args.broker.rsplit(":", 1)
        port = int(port)
    else:
        broker, port = start_broker(workdir)
        host = "127.0.0.1"
    url, drop = make_database(args.backend, workdir)
    try:
        engine = get_engine(url)
        Base.metadata.create_all(engine)
        ids = register_stations(engine, args.stations)
        now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
        msgs = payloads(ids, args.messages, now, np.random.default_rng(1))
        mq = settings.get_settings()["mqtt"]
        ing = Ingester(engine, host=host, port=port, client_id=f"bench-{uuid.uuid4().hex[:6]}",
                       evaluate_alerts=not args.no_alerts)
        thread = threading.Thread(target=ing.run, daemon=True)
        thread.start()
        if not ing.subscribed.wait(15):
            sys.exit("采集进程未能订阅")
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}",
                          protocol=mqtt.MQTTv5)
        pub.max_inflight_messages_set(1000)
        pub.max_queued_messages_set(0)
        pub.connect(host, port)
        pub.loop_start()
        t0 = time.perf_counter()
        infos = [pub.publish(t, p, qos=1) for t, p in msgs]
        for info in infos:
            info.wait_for_publish(timeout=120)
        t_pub = time.perf_counter() - t0
        while ing.stats().get("messages_committed", 0) < args.messages:
            if time.perf_counter() - t0 > 3600:
                sys.exit(f"超时：{ing.stats()}")
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        ing.stop()
        thread.join(timeout=30)
        pub.disconnect()
        pub.loop_stop()
        with session_scope(engine, readonly=True) as s:
            stored = s.execute(select(func.count()).select_from(SensorReading)).scalar_one()
            hourly_n = s.execute(select(func.sum(SensorHourly.n))).scalar_one()
            daily = s.execute(select(func.count()).select_from(SensorDaily)).scalar_one()
            area = s.execute(select(func.count()).select_from(SensorAreaDaily)).scalar_one()
        stats = ing.stats()
        print(f"后端 {args.backend}：{args.messages} 条消息 × 6 项，{args.stations} 个站点，"
              f"批量 {mq.get('batch_size')} 条/{mq.get('batch_seconds')} 秒，告警评估 {'关' if args.no_alerts else '开'}")
        print(f"  发布用时 {t_pub:.1f} s；入库完成用时 {elapsed:.1f} s")
        print(f"  持续速率 {args.messages / elapsed:,.0f} 条消息/秒（{6 * args.messages / elapsed:,.0f} 条读数/秒）")
        print(f"  批次 {stats.get('batches')}，读数 {stored}（应为 {6 * args.messages}），小时汇总计数 {hourly_n}，"
              f"日统计 {daily} 行，区域日统计 {area} 行")
        ok = stored == 6 * args.messages == hourly_n
        print("  校验：" + ("通过" if ok else "不一致！"))
        return 0 if ok else 1
    finally:
        drop()
        if broker is not None:
            broker.terminate()
            broker.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
