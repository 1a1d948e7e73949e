"""Child processes of the topology: started with their own log file, watched, stopped by signal.

Every part is a non-daemon child of the supervisor (nginx with `daemon off`, postgres without pg_ctl's
detaching), so the supervisor sees it die and nothing outlives `down`. A part started for another OS
user (postgres refuses to run as root) is started with that uid directly, no su in between, so the
signal reaches the server itself.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=0.3).close()
        return True
    except OSError:
        return False


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - our own local URL
            return resp.status == 200
    except OSError:
        return False


def wait_for(check, seconds: float, what: str, proc: "Part | None" = None) -> None:  # noqa: ANN001
    """Poll `check()` until true; fail with `what` after `seconds`, or at once when `proc` died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{what}：进程已退出（退出码 {proc.proc.returncode}），见日志 {proc.log}")
        time.sleep(0.2)
    raise RuntimeError(f"{what}：{seconds:.0f} 秒内未就绪" + (f"，见日志 {proc.log}" if proc else ""))


@dataclass
class Part:
    """One child process: its command, environment, log, and how it is stopped."""
    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    user: str | None = None          # start as this OS user (postgres, when we are root)
    stop_signal: int = signal.SIGTERM
    stop_seconds: float = 30.0
    restart: bool = True             # the supervisor starts it again when it dies
    proc: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self.proc = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.cwd,
                env={**os.environ, **(self.env or {})}, user=self.user,
                # Its own process group: Ctrl+C in the supervisor's terminal reaches the supervisor only,
                # which then stops the parts in order (nginx first, the database last).
                start_new_session=True)
        finally:
            out.close()
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def stop(self) -> int | None:
        """Signal it, wait, kill if it will not go. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(self.stop_signal)
                self.proc.wait(timeout=self.stop_seconds)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        return self.proc.returncode
