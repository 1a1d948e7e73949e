"""The whole topology: prepare the database, make and start the replica, the broker (when private), the
ingesters, the app servers and nginx; keep them running; stop them in order.

State (run_dir/state.json, rewritten on every change) names the supervisor and each part's pid, port and
restarts, so `down`, `status` and the test can find them.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import settings
from scaleout import broker, nginx, replica
from scaleout.procs import Part, http_ok, port_open, wait_for

PY = sys.executable
MANAGE = str(settings.ROOT / "manage.py")
DEFAULT_RUN_DIR = settings.ROOT / "data" / "scaleout"
# nginx is the only proxy in front of the servers and reaches them from this address.
PROXY_ADDRESS = "127.0.0.1"


@dataclass
class Plan:
    run_dir: Path = DEFAULT_RUN_DIR
    database_url: str = ""
    servers: int = 2
    ingesters: int = 2
    listen: str = "127.0.0.1"
    port: int = 8500
    first_server_port: int = 8511
    replica_port: int = 5433
    mqtt: str = "config"            # "config" ([mqtt] host:port), "private", or "host:port"
    mqtt_port: int = 1884           # the private broker's port
    share_group: str = "cityops"
    seed: bool = True               # migrate, then seed the demo city when the database is empty
    ingester_args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        host = "localhost" if self.listen in ("0.0.0.0", "::") else self.listen  # noqa: S104 - a printed URL
        return f"http://{host}:{self.port}/"


class Topology:
    def __init__(self, plan: Plan, *, say=print) -> None:  # noqa: ANN001
        self.plan = plan
        self.say = say
        self.run_dir = plan.run_dir.resolve()
        self.logs = self.run_dir / "logs"
        self.pg_dir = self.run_dir / "pg"
        self.data = self.pg_dir / "data"
        self.nginx_prefix = self.run_dir / "nginx"
        self.state_path = self.run_dir / "state.json"
        self.primary = make_url(plan.database_url)
        self.replica_url = replica.replica_url(plan.database_url, plan.replica_port)
        self.slot = f"{replica.SLOT_PREFIX}{plan.replica_port}"
        self.pg_user: str | None = None
        self.parts: dict[str, Part] = {}
        self.order: list[str] = []  # start order; stopped in reverse
        self.mqtt_host, self.mqtt_port = "127.0.0.1", plan.mqtt_port
        self.ready = False
        self._lock = threading.Lock()
        self._cookie_secret = secrets.token_urlsafe(32)  # Streamlit's own cookies, the same on every server

    # -- state ----------------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "supervisor": os.getpid(), "ready": self.ready, "url": self.plan.url, "run_dir": str(self.run_dir),
            "database_url": self.primary.render_as_string(hide_password=True),
            "replica_url": make_url(self.replica_url).render_as_string(hide_password=True), "slot": self.slot,
            "mqtt": f"{self.mqtt_host}:{self.mqtt_port}", "share_group": self.plan.share_group,
            "parts": {name: {"pid": p.pid, "alive": p.alive(), "restarts": p.restarts, "log": str(p.log),
                             "argv": p.argv[:2]} | getattr(p, "info", {})
                      for name, p in self.parts.items()},
        }

    def write_state(self) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state(), ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(self.state_path)

    def _add(self, part: Part, **info) -> Part:  # noqa: ANN003
        part.info = info  # type: ignore[attr-defined] - shown in state.json
        self.parts[part.name] = part
        self.order.append(part.name)
        part.start()
        self.write_state()
        return part

    # -- start ----------------------------------------------------------------------------------
    def check_tools(self) -> None:
        missing = [name for name, ok in (("nginx（apt-get install -y nginx）", nginx.binary()),
                                         ("pg_basebackup", shutil.which("pg_basebackup")),
                                         ("mosquitto", self.plan.mqtt != "private" or broker.binary()))
                   if not ok]
        if missing:
            raise RuntimeError("缺少程序：" + "、".join(missing))
        if self.primary.get_backend_name() != "postgresql":
            raise RuntimeError("规模化拓扑需要 PostgreSQL 主库（只读副本是 PostgreSQL 流复制）："
                               "设置 DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/cityops 或用 --database-url")

    def prepare_database(self) -> None:
        admin = create_engine(self.primary.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                      {"n": self.primary.database}).scalar()
                if not exists:
                    self.say(f"· 新建数据库 {self.primary.database}")
                    conn.exec_driver_sql(f'CREATE DATABASE "{self.primary.database}"')
        finally:
            admin.dispose()
        env = {**os.environ, "DATABASE_URL": self.plan.database_url}
        env.pop("DATABASE_REPLICA_URL", None)
        steps = [[PY, MANAGE, "migrate"]] + ([[PY, MANAGE, "seed-demo", "--if-missing"]] if self.plan.seed else [])
        for argv in steps:
            self.say(f"· {' '.join(argv[2:])}")
            with open(self.logs / "prepare.log", "ab") as out:
                done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=settings.ROOT,
                                      check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(argv[2:])} 失败，见 {self.logs / 'prepare.log'}")

    def start_replica(self) -> None:
        facts = replica.primary_facts(self.primary)
        self.pg_user = replica.run_as()
        if port_open(self.plan.replica_port):
            raise RuntimeError(f"端口 {self.plan.replica_port} 已被占用（--replica-port 换一个）")
        stale = replica.drop_stale_slots(self.primary)
        if stale:
            self.say(f"· 删除以前遗留的复制槽：{', '.join(stale)}")
        self.pg_dir.mkdir(mode=0o700, exist_ok=True)
        replica.chown(self.pg_dir, self.pg_user)
        if self.data.exists():
            shutil.rmtree(self.data)
        t0 = time.monotonic()
        self.say(f"· pg_basebackup -R（主库 {self.primary.host}:{self.primary.port or 5432}，复制槽 {self.slot}）")
        replica.base_backup(self.primary, self.data, self.slot, facts, self.logs / "basebackup.log", self.pg_user)
        replica.write_config(self.data, self.plan.replica_port, self.pg_dir, facts, self.pg_user)
        part = self._add(replica.server_part(self.data, facts, self.logs / "replica.log", self.pg_user),
                         port=self.plan.replica_port)
        wait_for(lambda: replica.is_standby(self.replica_url), 120, "只读副本启动", part)
        self.say(f"· 只读副本已就绪：127.0.0.1:{self.plan.replica_port}（{time.monotonic() - t0:.1f} 秒）")

    def start_broker(self) -> None:
        if self.plan.mqtt == "private":
            if port_open(self.plan.mqtt_port):
                raise RuntimeError(f"端口 {self.plan.mqtt_port} 已被占用（--mqtt-port 换一个）")
            part = self._add(broker.part(self.run_dir / "mqtt", self.plan.mqtt_port, self.logs / "mqtt.log"),
                             port=self.plan.mqtt_port)
            wait_for(lambda: port_open(self.plan.mqtt_port), 15, "MQTT 代理启动", part)
            self.say(f"· MQTT 代理（本拓扑专用）：127.0.0.1:{self.plan.mqtt_port}")
            return
        if self.plan.mqtt == "config":
            mq = settings.get_settings()["mqtt"]
            self.mqtt_host, self.mqtt_port = str(mq["host"]), int(mq["port"])
        else:
            host, _, port = self.plan.mqtt.rpartition(":")
            self.mqtt_host, self.mqtt_port = host or "127.0.0.1", int(port)
        if not port_open(self.mqtt_port, self.mqtt_host):
            raise RuntimeError(f"MQTT 代理 {self.mqtt_host}:{self.mqtt_port} 无法连接")

    def start_ingesters(self) -> None:
        base = str(settings.get_settings()["mqtt"].get("client_id") or "cityops-ingester")
        env = {"DATABASE_URL": self.plan.database_url, "CITYOPS_MQTT_SHARE_GROUP": self.plan.share_group}
        started = []
        for i in range(1, self.plan.ingesters + 1):
            client_id = f"{base}-{i}"
            log = self.logs / f"ingester-{i}.log"
            offset = log.stat().st_size if log.exists() else 0
            part = self._add(Part(f"ingester-{i}", [PY, MANAGE, "ingest-mqtt", "--host", self.mqtt_host, "--port",
                                                    str(self.mqtt_port), "--client-id", client_id,
                                                    *self.plan.ingester_args], log, env=env, cwd=settings.ROOT),
                             client_id=client_id)
            started.append((part, offset))
        for part, offset in started:
            wait_for(lambda p=part, o=offset: subscribed(p.log, o), 60, f"{part.name} 订阅", part)
        self.say(f"· 采集进程 {self.plan.ingesters} 个，共享订阅组 {self.plan.share_group}"
                 f"（$share/{self.plan.share_group}/…）")

    def start_servers(self) -> list[int]:
        ports = [self.plan.first_server_port + i for i in range(self.plan.servers)]
        taken = [p for p in ports if port_open(p)]
        if taken:
            raise RuntimeError(f"端口已被占用：{taken}（--first-server-port 换一个）")
        env = {"DATABASE_URL": self.plan.database_url, "DATABASE_REPLICA_URL": self.replica_url,
               "CITYOPS_SECURITY_TRUSTED_PROXIES": json.dumps([PROXY_ADDRESS]),
               "STREAMLIT_SERVER_COOKIE_SECRET": self._cookie_secret}
        parts = [self._add(Part(f"server-{i + 1}", [PY, "-m", "streamlit", "run", "server.py", "--server.port", str(port),
                                                    "--server.address", "127.0.0.1", "--server.headless", "true"],
                                self.logs / f"server-{i + 1}.log", env=env, cwd=settings.ROOT), port=port)
                 for i, port in enumerate(ports)]
        for part, port in zip(parts, ports):
            wait_for(lambda p=port: http_ok(f"http://127.0.0.1:{p}/_stcore/health"), 120, f"{part.name} 启动", part)
        self.say(f"· 应用服务器 {len(ports)} 个：" + "、".join(f"127.0.0.1:{p}" for p in ports))
        return ports

    def start_nginx(self, upstreams: list[int]) -> None:
        if port_open(self.plan.port, "127.0.0.1" if self.plan.listen in ("0.0.0.0", "::") else self.plan.listen):  # noqa: S104
            raise RuntimeError(f"端口 {self.plan.port} 已被占用（--port 换一个）")
        self.nginx_prefix.mkdir(exist_ok=True)
        (self.nginx_prefix / "tmp").mkdir(exist_ok=True)
        conf = self.nginx_prefix / "nginx.conf"
        conf.write_text(nginx.config(self.nginx_prefix, self.logs, self.plan.listen, self.plan.port, upstreams),
                        encoding="utf-8")
        part = self._add(Part("nginx", nginx.argv(self.nginx_prefix, conf), self.logs / "nginx.log"),
                         port=self.plan.port)
        host = "127.0.0.1" if self.plan.listen in ("0.0.0.0", "::") else self.plan.listen  # noqa: S104
        wait_for(lambda: http_ok(f"http://{host}:{self.plan.port}/_stcore/health"), 30, "nginx 启动", part)
        self.say(f"· nginx：{self.plan.url}（按路由 Cookie 粘滞，转发 websocket）")

    def up(self) -> None:
        """Start everything; on any failure stop what was started and re-raise."""
        self.check_tools()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # The replica runs as "postgres" when we are root: it must be able to walk into the run directory.
        self.run_dir.chmod(0o755)
        self.logs.mkdir(exist_ok=True)
        self.write_state()
        try:
            self.prepare_database()
            self.start_replica()
            self.start_broker()
            self.start_ingesters()
            upstreams = self.start_servers()
            self.start_nginx(upstreams)
        except BaseException:
            self.down()
            raise
        self.ready = True
        self.write_state()

    # -- run ------------------------------------------------------------------------------------
    def supervise(self, stop: threading.Event, poll: float = 0.5) -> None:
        """Until `stop`: start again any part that died (not faster than once a second each)."""
        while not stop.wait(poll):
            for name in list(self.order):
                part = self.parts[name]
                if part.alive() or not part.restart or time.monotonic() - part.started_at < 1.0:
                    continue
                code = part.proc.returncode if part.proc is not None else None
                part.restarts += 1
                self.say(f"! {name} 已退出（退出码 {code}），重新启动（第 {part.restarts} 次）")
                part.start()
                self.write_state()

    def down(self) -> None:
        """Stop the parts in reverse order, drop the replication slot, remove the replica's data."""
        with self._lock:
            for name in reversed(self.order):
                part = self.parts[name]
                part.restart = False
                if part.alive():
                    part.stop()
            self.ready = False
            if self.parts.get("replica") is not None or self.data.exists():
                try:
                    if not replica.drop_slot(self.primary, self.slot):
                        self.say(f"! 复制槽 {self.slot} 仍在使用，未删除（下次 up 时清理）")
                except Exception as exc:  # noqa: BLE001 - the primary may be gone too; say so and go on
                    self.say(f"! 无法删除复制槽 {self.slot}：{exc}")
            shutil.rmtree(self.data, ignore_errors=True)
            shutil.rmtree(self.nginx_prefix / "tmp", ignore_errors=True)
            if self.state_path.exists():
                self.write_state()


def subscribed(log: Path, offset: int) -> bool:
    """Has the ingester writing `log` (since `offset`) had its subscription accepted?"""
    try:
        with open(log, "rb") as fh:
            fh.seek(offset)
            return "订阅成功".encode() in fh.read()
    except FileNotFoundError:
        return False


def read_state(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / "state.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not running.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def stop_supervisor(run_dir: Path, seconds: float = 180) -> bool:
    """`down`: ask the supervisor to stop everything and wait for it. False when none was running."""
    state = read_state(run_dir)
    pid = state.get("supervisor") if state else None
    if not pid_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.2)
    if pid_alive(pid):
        raise RuntimeError(f"监督进程 {pid} 在 {seconds:.0f} 秒内未退出")
    return True


def clean_orphans(run_dir: Path, say=print) -> None:  # noqa: ANN001
    """`down` when the supervisor is gone (killed): stop parts still running from its state (checked to
    be ours by their command line), drop the slot, remove the replica's data."""
    state = read_state(run_dir)
    if not state:
        return
    for name, info in reversed(list(state.get("parts", {}).items())):
        pid = info.get("pid")
        if not pid_alive(pid):
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if not info.get("argv") or info["argv"][0] not in cmdline:
            continue
        say(f"· 停止遗留进程 {name}（{pid}）")
        os.kill(pid, signal.SIGINT if name == "replica" else signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.2)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    url = state.get("database_url")
    if url and state.get("slot"):
        try:
            replica.drop_slot(make_url(url), state["slot"])
        except Exception as exc:  # noqa: BLE001
            say(f"! 无法删除复制槽 {state['slot']}：{exc}")
    shutil.rmtree(run_dir / "pg" / "data", ignore_errors=True)
