"""Zero requests off the machine, the server's too (issue 18, defect 9): `streamlit run server.py` as
`make run` starts it (headless, all interfaces, no --server.address) must not look up or connect to
any outside host — Streamlit asks checkip.amazonaws.com for an "External URL" and opens a UDP socket
towards 8.8.8.8 unless told otherwise — neither at start nor when a browser of another origin opens
the websocket (Streamlit's cross-origin check makes the same lookups). Every attempt is caught by an
audit hook in the server process (tests/support/no_egress.py), network or no network."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.live_server import ROOT, free_port


def _wait_healthy(proc: subprocess.Popen, url: str, log: Path, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"server not healthy after {timeout}s:\n{log.read_text()[-3000:]}")


def _cross_origin_websocket(port: int) -> bytes:
    """Open the app's websocket as a page of another origin would (Origin differs from Host)."""
    request = (f"GET /_stcore/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "Origin: http://wall-pc.intranet.example:8080\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        s.settimeout(10)
        try:
            return s.recv(200)
        except OSError:
            return b""


def test_server_start_and_cross_origin_socket_reach_no_other_host(tmp_path):
    attempts = tmp_path / "egress.jsonl"
    server_log = tmp_path / "server.log"
    port = free_port()
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}", PYTHONUNBUFFERED="1")
    with open(server_log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.no_egress", str(attempts), "--",
             "streamlit", "run", "server.py", "--server.port", str(port), "--server.headless", "true"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(proc, f"http://127.0.0.1:{port}", server_log)
        _cross_origin_websocket(port)
        time.sleep(3)  # a lookup would take the 1 s timeout per URL; give it time to be recorded
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    log = server_log.read_text()
    assert "You can now view your Streamlit app" in log, log[-2000:]
    tried = [json.loads(line) for line in attempts.read_text().splitlines()] if attempts.exists() else []
    assert tried == [], f"the server tried to reach other hosts: {tried}"
    assert "Did not auto detect external IP" not in log
    assert "External URL" not in log and "Network URL" not in log


def test_no_egress_wrapper_catches_a_lookup(tmp_path):
    """The detector itself: a program that asks for an outside host is caught (no packet needs to leave)."""
    attempts = tmp_path / "egress.jsonl"
    (tmp_path / "runpy_probe.py").write_text(
        "import socket\ntry:\n    socket.getaddrinfo('checkip.amazonaws.com', 80)\nexcept OSError:\n    pass\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ntry:\n    s.connect(('8.8.8.8', 1))\n"
        "except OSError:\n    pass\ns.close()\nsocket.getaddrinfo('localhost', 80)\n")
    subprocess.run([sys.executable, "-m", "tests.support.no_egress", str(attempts), "--", "runpy_probe"],
                   cwd=ROOT, env=dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}"), check=True,
                   capture_output=True)
    tried = [json.loads(line)["target"] for line in attempts.read_text().splitlines()]
    assert any("checkip.amazonaws.com" in t for t in tried), tried
    assert any("8.8.8.8" in t for t in tried), tried
    assert not any("localhost" in t for t in tried), tried
