"""Benchmark (not a test): sustained MQTT ingest through one shared subscription, nothing lost, rollups current.

    python -m bench.ingest_scale --backend postgres --ingesters 2 --seconds 600
    python -m bench.ingest_scale --backend sqlite --ingesters 1 --seconds 60 [--stations 300] [--no-alerts]

What runs: a private Mosquitto (or --broker host:port), a fresh database (a temp SQLite file, or a temporary
PostgreSQL database beside TEST_PG_ADMIN_URL), N real ingester processes (`manage.py ingest-mqtt`, the
command a deployment runs) sharing `$share/bench/city/440900/sensors/+/readings` under their own client ids,
and in this process a publisher and two watchers.

- Load: air-station messages of six pollutants, QoS 1, round-robin over --stations, one minute further back
  per round (every reading distinct). By default the publisher keeps at most --backlog messages published
  and not yet committed (the most the ingesters sustain with a bounded delay: about two batches each in
  the queue); --rate fixes the rate instead (messages/s), to see the rollups' age at a given load.
- Committed: the ingesters' own counters (ingest_status, written in each batch's transaction).
- How current the rollups are: once a second a probe reading (its own station, its own hour) goes into the
  same stream; a watcher polls sensor_hourly for it. Its publish→visible time is the age of the rollups a
  screen reads (hourly, latest, daily and area figures are written in the same transaction).
- At the end: publishing stops, the backlog drains, and the database must hold exactly 6 × messages
  readings, each once, counted once in the hourly rollup.

Prints throughput per 10 s, the sustained rate, probe latency (p50/p95/max, share within 5 s), the
ingesters' counters (duplicates, database errors such as deadlock retries) and the check; --out writes JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, insert, select

import settings
from sensors.bench_ingest import make_database, register_stations, start_broker
from store.db import dispose_engines, get_engine, session_scope
from store.models import Base
from store.models.sensors import IngestStatus, Sensor, SensorHourly, SensorReading

CITY = "440900"
TZ = timezone(timedelta(hours=8))
GROUP = "bench"
PROBE = "P-PROBE"
TARGET_S = 5.0  # issue #24: rollups at most 5 s behind


def _topic(sid: str) -> str:
    return f"city/{CITY}/sensors/{sid}/readings"


def _body(sid: str, ts: datetime, i: int) -> bytes:
    pm = 15 + (i * 7919) % 60  # varied, never an episode that opens alerts by the hundred
    return json.dumps({"sensor_id": sid, "ts": ts.astimezone(TZ).isoformat(), "metrics": {
        "PM2.5": pm, "PM10": round(pm * 1.6, 1), "NO2": 28.0, "SO2": 7.0, "CO": 0.6, "O3": 80.0}}).encode()


class Counters:
    """Committed messages per ingester, polled from ingest_status."""

    def __init__(self, engine, names: list[str]) -> None:  # noqa: ANN001
        self.engine, self.names = engine, names
        self.committed = 0
        self.rows: dict[str, dict] = {}

    def poll(self) -> int:
        with session_scope(self.engine, readonly=True) as s:
            rows = s.execute(select(IngestStatus.name, IngestStatus.counters)
                             .where(IngestStatus.name.in_(self.names))).all()
        self.rows = {name: dict(c or {}) for name, c in rows}
        self.committed = sum(int(c.get("messages_committed", 0)) for c in self.rows.values())
        return self.committed


def start_ingesters(url: str, n: int, host: str, port: int, workdir: Path, no_alerts: bool) -> list[tuple]:
    procs = []
    for i in range(1, n + 1):
        name = f"bench-ingester-{i}-{uuid.uuid4().hex[:4]}"
        log = workdir / f"{name}.log"
        env = {**os.environ, "DATABASE_URL": url, "CITYOPS_MQTT_SHARE_GROUP": GROUP, "PYTHONUNBUFFERED": "1"}
        env.pop("DATABASE_REPLICA_URL", None)
        argv = [sys.executable, str(settings.ROOT / "manage.py"), "ingest-mqtt", "--host", host, "--port", str(port),
                "--client-id", name, *(["--no-alerts"] if no_alerts else [])]
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=settings.ROOT)
        procs.append((name, proc, log))
    deadline = time.monotonic() + 60
    for name, proc, log in procs:
        while "订阅成功" not in log.read_text(encoding="utf-8", errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"采集进程 {name} 未能订阅，见 {log}:\n" + log.read_text(errors="replace")[-2000:])
            time.sleep(0.1)
    return procs


def stop_ingesters(procs: list[tuple]) -> None:
    for _, proc, _ in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for _, proc, _ in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="cityops-ingest-scale-"))
    broker = None
    if args.broker:
        host, port_s = args.broker.rsplit(":", 1)
        port = int(port_s)
    else:
        broker, port = start_broker(workdir)
        host = "127.0.0.1"
    url, drop = make_database(args.backend, workdir)
    procs: list[tuple] = []
    try:
        engine = get_engine(url)
        Base.metadata.create_all(engine)
        ids = register_stations(engine, args.stations, CITY)
        with session_scope(engine) as s:  # the probe: an air station of its own, in the first district
            row = s.execute(select(Sensor).where(Sensor.id == ids[0])).scalar_one()
            s.execute(insert(Sensor), [{"id": PROBE, "kind": "air", "name": "基准探针", "lon": row.lon, "lat": row.lat,
                                        "params": {}, "expected_interval_s": 3600, "active": True,
                                        "city_code": row.city_code, "district_code": row.district_code,
                                        "street_code": row.street_code, "community_code": row.community_code,
                                        "grid_code": row.grid_code}])
        procs = start_ingesters(url, args.ingesters, host, port, workdir, args.no_alerts)
        counters = Counters(engine, [name for name, _, _ in procs])
        result = measure(args, engine, counters, ids, host, port, procs)
        stop_ingesters(procs)
        result["db_error_kinds"] = _error_kinds([log for _, _, log in procs])
        return result
    finally:
        stop_ingesters(procs)
        dispose_engines()
        drop()
        if broker is not None:
            broker.terminate()
            broker.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def measure(args: argparse.Namespace, engine, counters: Counters, ids: list[str], host: str, port: int,  # noqa: ANN001, C901
            procs: list[tuple]) -> dict:
    anchor = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    probe_anchor = anchor.replace(minute=30) - timedelta(hours=1)  # probe k: its own hour, k hours back
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5)
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    acked = [0]
    pub.on_publish = lambda *a: acked.__setitem__(0, acked[0] + 1)
    pub.connect(host, port)
    pub.loop_start()
    stop = threading.Event()
    published = [0]           # bulk messages handed to the client
    probes: dict[int, float] = {}  # probe number → publish time (monotonic)
    seen: dict[int, float] = {}    # probe number → first time its hour was in sensor_hourly
    samples: list[tuple[float, int]] = []  # (seconds since start, committed)
    t0 = time.monotonic()
    lock = threading.Lock()

    def publisher() -> None:
        i = 0
        n = len(ids)
        while not stop.is_set():
            with lock:
                committed = counters.committed
            if args.rate:
                due = int((time.monotonic() - t0) * args.rate)
                if i >= due:
                    time.sleep(0.002)
                    continue
            elif i - committed >= args.backlog:
                time.sleep(0.002)
                continue
            for _ in range(min(100, args.backlog)):
                sid = ids[i % n]
                pub.publish(_topic(sid), _body(sid, anchor - timedelta(minutes=i // n), i), qos=1)
                i += 1
            published[0] = i

    def prober() -> None:
        k = 0
        while not stop.wait(1.0):
            ts = probe_anchor - timedelta(hours=k)
            probes[k] = time.monotonic()
            pub.publish(_topic(PROBE), _body(PROBE, ts, k), qos=1)
            k += 1

    def watcher() -> None:
        hour_of = {}
        while not stop.is_set() or len(seen) < len(probes):
            with session_scope(engine, readonly=True) as s:
                hours = set(s.scalars(select(SensorHourly.hour).where(SensorHourly.sensor_id == PROBE,
                                                                      SensorHourly.metric == "PM2.5")))
            now = time.monotonic()
            for k in list(probes):
                if k in seen:
                    continue
                hour = hour_of.setdefault(k, (probe_anchor - timedelta(hours=k)).replace(minute=0))
                if hour in hours:
                    seen[k] = now
            if stop.is_set() and time.monotonic() - stop_at[0] > 120:
                return
            time.sleep(0.05)

    def monitor() -> None:
        while not stop.is_set() or counters.committed < published[0] + len(probes):
            c = counters.poll()
            samples.append((time.monotonic() - t0, c))
            if stop.is_set() and time.monotonic() - stop_at[0] > 600:
                return
            time.sleep(0.25)

    stop_at = [0.0]
    threads = [threading.Thread(target=f, daemon=True) for f in (publisher, prober, watcher, monitor)]
    for t in threads:
        t.start()
    last_print = 0.0
    while time.monotonic() - t0 < args.seconds:
        time.sleep(0.5)
        el = time.monotonic() - t0
        if el - last_print >= 10:
            last_print = el
            recent = [c for s_, c in samples if s_ >= el - 10]
            rate = (recent[-1] - recent[0]) / 10 if len(recent) > 1 else 0
            print(f"  {el:5.0f} s  已提交 {counters.committed:>9,} 条消息  近 10 秒 {rate:8,.0f} 条/秒"
                  f"（{6 * rate:9,.0f} 读数/秒）  积压 {published[0] - counters.committed:>6,}", flush=True)
    stop.set()
    stop_at[0] = time.monotonic()
    window = time.monotonic() - t0
    committed_at_stop = counters.poll()
    total = published[0] + len(probes)
    while counters.poll() < total:
        if time.monotonic() - stop_at[0] > 600:
            break
        time.sleep(0.2)
    drain = time.monotonic() - stop_at[0]
    for t in threads:
        t.join(timeout=130)
    pub.disconnect()
    pub.loop_stop()
    with session_scope(engine, readonly=True) as s:
        stored = s.execute(select(func.count()).select_from(SensorReading)).scalar_one()
        hourly_n = s.execute(select(func.sum(SensorHourly.n))).scalar_one() or 0
    latencies = [seen[k] - probes[k] for k in probes if k in seen]
    steady = [(s_, c) for s_, c in samples if 5 <= s_ <= window]
    sustained = (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0]) if len(steady) > 1 else 0.0
    stats = counters.rows
    out = {
        "backend": args.backend, "ingesters": args.ingesters, "seconds": round(window, 1), "stations": args.stations,
        "alerts": not args.no_alerts, "mode": f"rate {args.rate}/s" if args.rate else f"backlog ≤ {args.backlog}",
        "batch": f"{settings.get_settings()['mqtt'].get('batch_size')} / {settings.get_settings()['mqtt'].get('batch_seconds')} s",
        "messages_published": published[0], "probes": len(probes), "committed_at_stop": committed_at_stop,
        "drain_s": round(drain, 1),
        "sustained_messages_per_s": round(sustained, 1), "sustained_readings_per_s": round(6 * sustained, 1),
        "mean_messages_per_s": round(committed_at_stop / window, 1),
        "rollup_age_p50_s": _round(_pct(latencies, 0.5)), "rollup_age_p95_s": _round(_pct(latencies, 0.95)),
        "rollup_age_max_s": _round(max(latencies) if latencies else None),
        "rollup_within_target_share": round(sum(1 for x in latencies if x <= TARGET_S) / len(latencies), 4) if latencies else None,
        "probes_never_seen": len(probes) - len(latencies),
        "readings_stored": stored, "readings_expected": 6 * total, "hourly_n": int(hourly_n),
        "per_ingester_messages": {k: int(v.get("messages_committed", 0)) for k, v in stats.items()},
        "duplicates": sum(int(v.get("duplicates", 0)) for v in stats.values()),
        "db_errors": sum(int(v.get("db_errors", 0)) for v in stats.values()),
        "alert_runs": sum(int(v.get("alert_runs", 0)) for v in stats.values()),
    }
    out["ok"] = stored == hourly_n == 6 * total and out["probes_never_seen"] == 0
    return out


def _error_kinds(logs: list[Path]) -> dict[str, int]:
    """The database errors the ingesters logged (each batch retried), by message."""
    kinds: dict[str, int] = {}
    for log in logs:
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("sqlalchemy.exc."):  # "sqlalchemy.exc.OperationalError: (psycopg.errors.X) what"
                name = line.split(": ", 1)[-1][:80]
                kinds[name] = kinds.get(name, 0) + 1
    return kinds


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def report(r: dict) -> str:
    lines = [
        f"后端 {r['backend']}，采集进程 {r['ingesters']} 个（共享订阅 $share/{GROUP}/…），{r['stations']} 个站点，"
        f"{r['mode']}，批量 {r['batch']}，告警评估 {'开' if r['alerts'] else '关'}，测量 {r['seconds']} 秒",
        f"  持续速率 {r['sustained_messages_per_s']:,.0f} 条消息/秒 = {r['sustained_readings_per_s']:,.0f} 条读数/秒"
        f"（5 秒起算；全程平均 {r['mean_messages_per_s']:,.0f} 条消息/秒）",
        f"  汇总表时效（探针：发布 → sensor_hourly 可见）：p50 {r['rollup_age_p50_s']} 秒，p95 {r['rollup_age_p95_s']} 秒，"
        f"最大 {r['rollup_age_max_s']} 秒；≤ {TARGET_S:.0f} 秒的占 {100 * (r['rollup_within_target_share'] or 0):.1f}%",
        f"  停止发布后积压清空用时 {r['drain_s']} 秒；各采集进程提交 {r['per_ingester_messages']}；"
        f"重复 {r['duplicates']}，数据库错误（批次重试）{r['db_errors']} {r.get('db_error_kinds') or ''}",
        f"  校验：读数 {r['readings_stored']:,}（应为 {r['readings_expected']:,}），小时汇总计数 {r['hourly_n']:,}，"
        f"探针未见 {r['probes_never_seen']} —— " + ("通过" if r["ok"] else "不一致！"),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ingest_scale", description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="postgres")
    ap.add_argument("--ingesters", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--stations", type=int, default=300)
    ap.add_argument("--backlog", type=int, default=800,
                    help="at most this many messages published, not committed (default 800: two batches per ingester)")
    ap.add_argument("--rate", type=float, default=0, help="publish at this fixed rate (messages/s) instead")
    ap.add_argument("--broker", default=None, help="host:port of a running broker (default: a private mosquitto)")
    ap.add_argument("--no-alerts", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    print(f"MQTT 共享订阅采集基准：{args.backend}，{args.ingesters} 个采集进程，{args.seconds:.0f} 秒", flush=True)
    result = run(args)
    print(report(result))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
