"""A PostgreSQL streaming replica of the primary, in a data directory under the run directory.

Made by `pg_basebackup -R` (which writes standby.signal and primary_conninfo) with a physical replication
slot, so the primary keeps the WAL the replica has not received yet; started with the `postgres` binary
of the primary's major version as a child of the supervisor; stopped by a fast shutdown, after which the
slot is dropped (a slot left behind would make the primary keep WAL for ever — `up` also drops the
inactive slots earlier runs left, by their name prefix).

The primary must accept replication connections from 127.0.0.1 (a `host replication …` line in pg_hba.conf;
.ci/run adds one) as a role with REPLICATION. A Debian cluster keeps postgresql.conf and pg_hba.conf in
/etc, outside the data directory, so the copy gets its own small ones here; the settings a hot standby
must have at least as high as its primary are copied from the primary.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from scaleout.procs import Part

SLOT_PREFIX = "cityops_scaleout_"
# A hot standby refuses to start when one of these is lower than on its primary.
MUST_MATCH = ("max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions",
              "max_locks_per_transaction")


class ReplicaError(RuntimeError):
    """A step of making or starting the replica failed; the message says what to do (Chinese)."""


def run_as() -> str | None:
    """The OS user the replica runs as: ourselves, or "postgres" when we are root (postgres refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ReplicaError("以 root 运行时需要系统用户 postgres 来运行副本（PostgreSQL 拒绝以 root 运行）") from exc
    return "postgres"


def chown(path: Path, user: str | None) -> None:
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _admin(url: URL):  # noqa: ANN202 - an Engine on the primary's maintenance database
    return create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")


def primary_facts(url: URL) -> dict:
    engine = _admin(url)
    try:
        with engine.connect() as conn:
            facts = {name: conn.exec_driver_sql(f"SHOW {name}").scalar() for name in (*MUST_MATCH, "wal_level")}
            facts["version_num"] = int(conn.exec_driver_sql("SHOW server_version_num").scalar())
            facts["replication_role"] = bool(conn.execute(
                text("SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user")).scalar())
    finally:
        engine.dispose()
    if facts["wal_level"] not in ("replica", "logical"):
        raise ReplicaError(f"主库 wal_level = {facts['wal_level']}，流复制需要 replica 或 logical")
    if int(facts["max_wal_senders"]) < 1:
        raise ReplicaError("主库 max_wal_senders = 0，不能流复制")
    if not facts["replication_role"]:
        raise ReplicaError(f"数据库角色 {url.username} 没有 REPLICATION 权限（ALTER ROLE … REPLICATION）")
    return facts


def bindir(version_num: int) -> Path:
    """The server binaries of the primary's major version (a standby must run the same major)."""
    major = version_num // 10000
    for candidate in (Path(f"/usr/lib/postgresql/{major}/bin"), Path(f"/usr/pgsql-{major}/bin")):
        if (candidate / "postgres").exists():
            return candidate
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out and (Path(out) / "postgres").exists():
            return Path(out)
    raise ReplicaError(f"找不到 PostgreSQL {major} 的 postgres 程序（/usr/lib/postgresql/{major}/bin）")


def drop_stale_slots(url: URL, keep: str | None = None) -> list[str]:
    """Drop our inactive replication slots (left by a run that never got to `down`)."""
    engine = _admin(url)
    try:
        with engine.connect() as conn:
            names = list(conn.execute(text(
                "SELECT slot_name FROM pg_replication_slots WHERE NOT active AND slot_name LIKE :p"),
                {"p": SLOT_PREFIX.replace("_", r"\_") + "%"}).scalars())
            names = [n for n in names if n != keep]
            for name in names:
                conn.execute(text("SELECT pg_drop_replication_slot(:n)"), {"n": name})
    finally:
        engine.dispose()
    return names


def drop_slot(url: URL, slot: str, seconds: float = 15.0) -> bool:
    """Drop our slot once its walsender has gone (it lingers briefly after the replica stops)."""
    engine = _admin(url)
    deadline = time.monotonic() + seconds
    try:
        while True:
            with engine.connect() as conn:
                active = conn.execute(text("SELECT active FROM pg_replication_slots WHERE slot_name = :n"),
                                      {"n": slot}).scalar()
                if active is None:
                    return True
                if not active:
                    conn.execute(text("SELECT pg_drop_replication_slot(:n)"), {"n": slot})
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.3)
    finally:
        engine.dispose()


def base_backup(url: URL, data: Path, slot: str, facts: dict, log: Path, user: str | None) -> None:
    """pg_basebackup -R into `data` (which must not exist), creating the slot."""
    tool = bindir(facts["version_num"]) / "pg_basebackup"
    argv = [str(tool), "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres",
            "-D", str(data), "-R", "-X", "stream", "-c", "fast", "-C", "-S", slot, "--no-password"]
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = url.password
    with open(log, "ab") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, env=env, user=user, check=False,
                              cwd="/", timeout=1800)
        out.write(done.stderr)
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip()
        hint = ""
        if "pg_hba.conf" in err and "replication" in err:
            hint = ("。主库不接受来自本机的复制连接：在 pg_hba.conf 最前面加入 "
                    "`host replication all 127.0.0.1/32 trust`（或 scram-sha-256 并设置密码）后 reload")
        raise ReplicaError(f"pg_basebackup 失败：{err.splitlines()[-1] if err else done.returncode}{hint}")


def write_config(data: Path, port: int, socket_dir: Path, facts: dict, user: str | None) -> None:
    lines = [
        "# Generated by `python -m scaleout` (scaleout/replica.py): a hot standby for the dashboards' reads.",
        f"port = {port}",
        "listen_addresses = '127.0.0.1'",
        f"unix_socket_directories = '{socket_dir}'",
        "hot_standby = on",
        # Tell the primary which rows our queries still read, so its vacuum does not cancel a dashboard
        # query on the replica (a long read would otherwise fail with a recovery conflict).
        "hot_standby_feedback = on",
        "jit = off",
        "logging_collector = off",
        "log_line_prefix = '%m [%p] '",
        *(f"{name} = {facts[name]}" for name in MUST_MATCH),
    ]
    files = {"postgresql.conf": "\n".join(lines) + "\n",
             "pg_hba.conf": "# Generated: local connections only.\nlocal all all trust\nhost all all 127.0.0.1/32 trust\n",
             "pg_ident.conf": ""}
    for name, body in files.items():
        path = data / name
        path.write_text(body, encoding="utf-8")
        chown(path, user)


def server_part(data: Path, facts: dict, log: Path, user: str | None) -> Part:
    # SIGINT = fast shutdown: open sessions are ended, nothing to recover at the next start.
    return Part("replica", [str(bindir(facts["version_num"]) / "postgres"), "-D", str(data)], log, user=user,
                cwd=Path("/"), stop_signal=signal.SIGINT, stop_seconds=60)


def replica_url(primary: str, port: int) -> str:
    """The primary's URL with the replica's address: same database, user and driver."""
    return make_url(primary).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def is_standby(url: str) -> bool:
    engine = create_engine(url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as conn:
            return bool(conn.exec_driver_sql("SELECT pg_is_in_recovery()").scalar())
    except Exception:  # noqa: BLE001 - not up yet
        return False
    finally:
        engine.dispose()
