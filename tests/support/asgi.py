"""A minimal ASGI client for tests (Starlette's TestClient needs httpx, which is not a dependency):
drives an app — a bare Starlette app or the real st.App of server.py, lifespan included — one request
at a time, on one event loop."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlencode, urlsplit


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name.lower()), None)

    def set_cookies(self) -> dict[str, str]:
        """name → full Set-Cookie header."""
        out = {}
        for k, v in self.headers:
            if k == "set-cookie":
                out[v.split("=", 1)[0]] = v
        return out

    def cookie_value(self, name: str) -> str | None:
        header = self.set_cookies().get(name)
        if header is None:
            return None
        jar = SimpleCookie()
        jar.load(header)
        return jar[name].value

    @property
    def location_query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.header("location") or "").query).items()}


class AsgiClient:
    def __init__(self, app, host: str = "dash.local:8501") -> None:  # noqa: ANN001
        self.app = app
        self.host = host
        self.loop = asyncio.new_event_loop()
        self._lifespan = None

    def __enter__(self) -> "AsgiClient":
        self._in: asyncio.Queue = asyncio.Queue()
        self._out: asyncio.Queue = asyncio.Queue()

        async def start() -> dict:
            await self._in.put({"type": "lifespan.startup"})
            self._lifespan = asyncio.ensure_future(
                self.app({"type": "lifespan", "asgi": {"version": "3.0"}}, self._in.get, self._out.put))
            return await self._out.get()

        started = self.loop.run_until_complete(start())
        assert started["type"] == "lifespan.startup.complete", started
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        async def stop() -> None:
            await self._in.put({"type": "lifespan.shutdown"})
            await self._out.get()
            await self._lifespan

        self.loop.run_until_complete(stop())
        self.loop.close()

    def request(self, method: str, path: str, *, headers: dict | None = None, form: dict | None = None,
                cookies: dict | None = None, client: str = "10.0.0.7", scheme: str = "http") -> Reply:
        body = urlencode(form).encode() if form is not None else b""
        hdrs = {"host": self.host, "user-agent": "pytest", **(headers or {})}
        if form is not None:
            hdrs["content-type"] = "application/x-www-form-urlencoded"
            hdrs["content-length"] = str(len(body))
        if cookies:
            hdrs["cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        raw_path, _, query = path.partition("?")
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": scheme, "path": raw_path, "raw_path": raw_path.encode(), "query_string": query.encode(),
                 "root_path": "", "headers": [(k.lower().encode(), v.encode()) for k, v in hdrs.items()],
                 "client": (client, 50000), "server": ("dash.local", 8501)}
        sent: list[dict] = []
        delivered = False

        async def receive() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        self.loop.run_until_complete(self.app(scope, receive, send))
        start = next(m for m in sent if m["type"] == "http.response.start")
        headers_out = [(k.decode().lower(), v.decode("latin-1")) for k, v in start.get("headers", [])]
        return Reply(start["status"], headers_out,
                     b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
