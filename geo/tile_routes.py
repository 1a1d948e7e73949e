"""HTTP routes serving the offline basemap beside the app (server.py adds them to st.App):

- GET /tiles/{z}/{x}/{y}.pbf — one vector tile from `basemap_tiles` (gzip-encoded Mapbox Vector
  Tile; 204 where there is none, which MapLibre draws as empty);
- GET /tiles/style-dark.json, /tiles/style-light.json — the local MapLibre style with the city base
  layers added (geo.basemap.style); config.toml's [map].style points here.

A city's base layers are the GIS office's survey data, so only a signed-in browser gets them: the
`allow` callable (server.py passes the session check from auth.web) decides; without one every
request is refused. Reads only: nothing here changes state.

The style's tile URL is absolute: the map fetches tiles from a web worker, where a path has no page
to be relative to. `origin(request)` says which scheme://host the browser used (server.py passes
auth.web.public_origin, which believes X-Forwarded-* only from trusted proxies).
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from geo import basemap
from store.db import get_engine, session_scope

Allow = Callable[[Request], Awaitable[bool]]
Origin = Callable[[Request], str]
MAX_Z = 22


def _tile(z: int, x: int, y: int) -> bytes | None:
    with session_scope(get_engine(), readonly=True) as session:
        return basemap.tile(session, z, x, y)


def _style(dark: bool, origin: str) -> dict:
    with session_scope(get_engine(), readonly=True) as session:
        return basemap.style(session, dark, origin=origin)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def routes(allow: Allow | None = None, origin: Origin | None = None) -> list[Route]:
    async def refused() -> Response:
        return PlainTextResponse("请先登录", status_code=403)

    async def tile_endpoint(request: Request) -> Response:
        if allow is None or not await allow(request):
            return await refused()
        z, x = request.path_params["z"], request.path_params["x"]
        y_text = request.path_params["y"]
        if not y_text.endswith(".pbf") or not y_text[:-4].isdigit() or not 0 <= z <= MAX_Z:
            return PlainTextResponse("瓦片地址应为 /tiles/{z}/{x}/{y}.pbf", status_code=404)
        y = int(y_text[:-4])
        if not (0 <= x < (1 << z) and 0 <= y < (1 << z)):
            return PlainTextResponse("瓦片超出范围", status_code=404)
        data = await run_in_threadpool(_tile, z, x, y)
        if data is None:
            return Response(status_code=204, headers={"Cache-Control": "private, max-age=3600"})
        return Response(data, media_type="application/x-protobuf",
                        headers={"Content-Encoding": "gzip", "Cache-Control": "private, max-age=3600"})

    def style_endpoint(dark: bool):  # noqa: ANN202
        async def endpoint(request: Request) -> Response:
            if allow is None or not await allow(request):
                return await refused()
            doc = await run_in_threadpool(_style, dark, (origin or _base_url)(request))
            return Response(json.dumps(doc, ensure_ascii=False), media_type="application/json",
                            headers={"Cache-Control": "no-cache"})
        return endpoint

    return [
        Route("/tiles/style-dark.json", style_endpoint(True), methods=["GET"]),
        Route("/tiles/style-light.json", style_endpoint(False), methods=["GET"]),
        Route("/tiles/{z:int}/{x:int}/{y}", tile_endpoint, methods=["GET"]),
    ]
