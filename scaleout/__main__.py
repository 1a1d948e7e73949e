"""python -m scaleout up|down|status — see scaleout/__init__.py and docs/scale-out.md."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import settings
from scaleout import topology
from scaleout.topology import DEFAULT_RUN_DIR, Plan, Topology, pid_alive, read_state


def _say(text: str) -> None:
    print(text, flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir).resolve()
    state = read_state(run_dir)
    if state and pid_alive(state.get("supervisor")):
        _say(f"拓扑已在运行（监督进程 {state['supervisor']}）：{state.get('url')}；先执行 python -m scaleout down")
        return 1
    if args.detach:
        return _detach(args, run_dir)
    url = args.database_url or settings.database_url()
    plan = Plan(run_dir=run_dir, database_url=url, servers=args.servers, ingesters=args.ingesters, listen=args.listen,
                port=args.port, first_server_port=args.first_server_port, replica_port=args.replica_port,
                mqtt=args.mqtt, mqtt_port=args.mqtt_port, share_group=args.share_group, seed=not args.no_seed,
                ingester_args=["--no-alerts"] if args.no_alerts else [])
    topo = Topology(plan, say=_say)
    stop = threading.Event()

    def interrupt(*_) -> None:  # noqa: ANN002
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # while starting: `down` interrupts like Ctrl+C
    _say(f"启动规模化拓扑（运行目录 {run_dir}）")
    t0 = time.monotonic()
    try:
        topo.up()
    except KeyboardInterrupt:
        _say("启动已中断，已停止")
        return 1
    except Exception as exc:  # noqa: BLE001 - said in Chinese; the parts already stopped
        _say(f"启动失败：{exc}")
        return 1
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    _say(f"已就绪（{time.monotonic() - t0:.0f} 秒）：{plan.url}")
    _say("停止：Ctrl+C，或另开终端执行 python -m scaleout down")
    try:
        topo.supervise(stop)
    finally:
        _say("正在停止…")
        topo.down()
        _say("已停止")
    return 0


def _detach(args: argparse.Namespace, run_dir: Path) -> int:
    """Start the supervisor in the background, wait until it is ready, print the URL."""
    argv = [sys.executable, "-m", "scaleout", *[a for a in sys.argv[1:] if a != "--detach"]]
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "logs").mkdir(exist_ok=True)
    log = run_dir / "logs" / "supervisor.log"
    (run_dir / "state.json").unlink(missing_ok=True)
    with open(log, "ab") as out:
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True, cwd=settings.ROOT)
    while True:
        state = read_state(run_dir)
        if state and state.get("supervisor") == child.pid and state.get("ready"):
            _say(f"已就绪：{state['url']}（监督进程 {child.pid}，日志 {log}）")
            return 0
        if child.poll() is not None:
            _say(f"启动失败（退出码 {child.returncode}），日志 {log}：")
            _say(log.read_text(encoding="utf-8", errors="replace")[-3000:])
            return 1
        time.sleep(0.3)


def cmd_down(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir).resolve()
    if topology.stop_supervisor(run_dir):
        _say("已停止")
        return 0
    if read_state(run_dir) is None:
        _say(f"没有运行中的拓扑（{run_dir} 下没有 state.json）")
        return 0
    _say("监督进程已不在，清理遗留进程与副本数据")
    topology.clean_orphans(run_dir, say=_say)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir).resolve()
    state = read_state(run_dir)
    if state is None or not pid_alive(state.get("supervisor")):
        _say("没有运行中的拓扑")
        return 1
    _say(f"{'已就绪' if state['ready'] else '启动中'}：{state['url']}（监督进程 {state['supervisor']}）")
    _say(f"  主库 {state['database_url']}  只读副本 {state['replica_url']}  MQTT {state['mqtt']} 组 {state['share_group']}")
    for name, part in state["parts"].items():
        alive = "运行" if pid_alive(part.get("pid")) else "已退出"
        extra = "".join(f" {k}={part[k]}" for k in ("port", "client_id") if k in part)
        _say(f"  {name:12s} {alive} pid={part.get('pid')} 重启 {part.get('restarts', 0)} 次{extra}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m scaleout", description="规模化拓扑：nginx + 多个应用服务器 + "
                                 "PostgreSQL 只读副本 + 共享订阅的多个采集进程（docs/scale-out.md）")
    sub = ap.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="启动全部（前台运行并看护；Ctrl+C 停止）")
    up.add_argument("--servers", type=int, default=2, help="应用服务器个数（默认 2）")
    up.add_argument("--ingesters", type=int, default=2, help="MQTT 采集进程个数（默认 2）")
    up.add_argument("--database-url", default=None, help="PostgreSQL 主库（默认 DATABASE_URL / config.toml）")
    up.add_argument("--listen", default="127.0.0.1", help="nginx 监听地址（默认 127.0.0.1）")
    up.add_argument("--port", type=int, default=8500, help="nginx 端口（默认 8500）")
    up.add_argument("--first-server-port", type=int, default=8511, help="第一个应用服务器的端口（其后依次加 1）")
    up.add_argument("--replica-port", type=int, default=5433, help="只读副本端口（默认 5433）")
    up.add_argument("--mqtt", default="config", help="config（[mqtt] 设置，默认）、private（本拓扑专用代理）或 host:port")
    up.add_argument("--mqtt-port", type=int, default=1884, help="private 代理的端口（默认 1884）")
    up.add_argument("--share-group", default="cityops", help="共享订阅组名（默认 cityops）")
    up.add_argument("--no-seed", action="store_true", help="只升级数据库结构，不生成演示城市")
    up.add_argument("--no-alerts", action="store_true", help="采集进程不评估告警规则")
    up.add_argument("--detach", action="store_true", help="在后台运行，就绪后返回")
    up.add_argument("--run-dir", default=str(DEFAULT_RUN_DIR))
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="停止全部并删除副本数据")
    down.add_argument("--run-dir", default=str(DEFAULT_RUN_DIR))
    down.set_defaults(func=cmd_down)
    status = sub.add_parser("status", help="各部分是否在运行")
    status.add_argument("--run-dir", default=str(DEFAULT_RUN_DIR))
    status.set_defaults(func=cmd_status)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
