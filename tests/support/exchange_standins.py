"""Stand-ins for the systems the exchange talks to, as real HTTP servers on 127.0.0.1 (a thread each):
the upper platform (takes signed JSON batches, de-duplicates by recordId, answers tasks for pull mode),
and a robot webhook / SMS gateway (takes one JSON message per request).

Faults are scripted per request: `script` holds what the next requests get — "ok", an HTTP status
(500, 400 …), ("sleep", seconds) (the batch is stored, the answer comes after the client gave up:
a lost acknowledgement), "drop" (the connection is closed unanswered, nothing stored), "hold" (stored,
then the answer waits until `release()` — for killing a worker mid-batch). `stop()` / `start()` on the
same port make "connection refused" in between.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from exchange.signing import HEADER_SIGNATURE, HEADER_TIMESTAMP, problem, sign_headers
from tests.support.live_server import free_port


class StandIn:
    def __init__(self, *, secret: str | None = None, port: int | None = None, ssl_context=None) -> None:  # noqa: ANN001
        self.secret = secret
        self.port = port or free_port()
        self.ssl_context = ssl_context  # an ssl.SSLContext: HTTPS (with client certificates, if it asks)
        self.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{self.port}/receive"
        self.lock = threading.Lock()
        self.script: list = []
        self.default = "ok"
        self.wire: list[str] = []  # every recordId stored, in arrival order, resends included
        self.stored: dict[str, dict] = {}  # recordId → record: what the platform keeps (de-duplicated)
        self.messages: list[dict] = []  # robot / SMS bodies
        self.batches: list[tuple[object, list[str]]] = []  # (what the request got, the recordIds it carried)
        self.reject: dict[str, str] = {}  # recordId → reason: refused one by one in a 2xx answer
        self.requests = 0
        self.bad_signatures = 0
        self.tasks: list[dict] = []  # what a pull is answered with
        self.pull_cursor = "c1"
        self.answer_secret: str | None = None  # sign pull answers with another secret (a forgery)
        self.held = threading.Event()
        self._release = threading.Event()
        self.server: ThreadingHTTPServer | None = None
        self.start()

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

            def do_POST(self) -> None:  # noqa: N802
                stand_in._post(self)

            def do_GET(self) -> None:  # noqa: N802
                stand_in._get(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        if self.ssl_context is not None:
            self.server.socket = self.ssl_context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def release(self) -> None:
        self._release.set()

    # -- behaviour -------------------------------------------------------------------------------------
    def _next(self):  # noqa: ANN202
        with self.lock:
            self.requests += 1
            return self.script.pop(0) if self.script else self.default

    def _answer(self, h: BaseHTTPRequestHandler, status: int, doc: dict, headers: dict | None = None) -> None:
        body = json.dumps(doc, ensure_ascii=False).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(body)
        except OSError:
            pass  # the client is gone (timed out, or its process was killed)

    def _post(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        what = self._next()
        if self.secret is not None and problem(self.secret, body, h.headers.get(HEADER_TIMESTAMP),
                                               h.headers.get(HEADER_SIGNATURE)):
            with self.lock:
                self.bad_signatures += 1
            self._answer(h, 401, {"error": "bad signature"})
            return
        if what == "drop":
            h.close_connection = True
            try:
                h.connection.shutdown(2)
            except OSError:
                pass
            return
        if isinstance(what, int) and what != 200:
            self._answer(h, what, {"error": f"scripted {what}"})
            return
        doc = json.loads(body or b"{}")
        rejected = []
        with self.lock:
            if "records" in doc:
                ids = [rec["recordId"] for rec in doc["records"]]
                self.batches.append((what, ids))
                for rec in doc["records"]:
                    if rec["recordId"] in self.reject:
                        rejected.append({"recordId": rec["recordId"], "reason": self.reject[rec["recordId"]]})
                        continue
                    self.wire.append(rec["recordId"])
                    self.stored.setdefault(rec["recordId"], rec)
            else:
                self.messages.append(doc)
        if isinstance(what, tuple) and what[0] == "sleep":
            time.sleep(what[1])
        elif what == "hold":
            self.held.set()
            self._release.wait(30)
        self._answer(h, 200, {"ok": True, "errcode": 0, "code": 0, "rejected": rejected})

    def _get(self, h: BaseHTTPRequestHandler) -> None:
        if self.secret is not None and problem(self.secret, b"", h.headers.get(HEADER_TIMESTAMP),
                                               h.headers.get(HEADER_SIGNATURE)):
            self._answer(h, 401, {"error": "bad signature"})
            return
        body = json.dumps({"tasks": self.tasks, "cursor": self.pull_cursor}, ensure_ascii=False).encode()
        headers = sign_headers(self.answer_secret or self.secret or "", body, "upper")
        try:
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(body)
        except OSError:
            pass

    # -- what arrived ----------------------------------------------------------------------------------
    def first_arrivals(self) -> list[str]:
        seen, out = set(), []
        for rid in self.wire:
            if rid not in seen:
                seen.add(rid)
                out.append(rid)
        return out

    def duplicates(self) -> list[str]:
        seen, dup = set(), []
        for rid in self.wire:
            if rid in seen:
                dup.append(rid)
            seen.add(rid)
        return dup
