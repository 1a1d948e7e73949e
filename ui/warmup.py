"""Start-up warm-up of the indicator statements, in the background, so the first district a user opens does
not build and compile them.

The engine keeps one built statement per request shape (indicators.sqlbuild.shape: scope level, the
viewer's role and zone level, how the periods fall) and SQLAlchemy keeps its compiled form; values are bound
parameters. A fresh process has none: the first view of each scope level paid 0.3–0.45 s for planning,
building and compiling its tile statements (profiled on the demo city: 0.15 s building, 0.30 s compiling
of 0.57 s of tiles), and ~0.1 s more compiling the statements of the map, ranking, trend, case map,
urgent list and 办理进度 (city scale). `start()` runs the overview's reads once — the default city's first
district, street and grid; the tiles for the current and the last month — in a daemon thread, and throws
the figures away: only the statements stay. What a user then sees is computed from the database as before
(screens cache figures by data version, ui/versions.py). One viewer serves every role but a department's:
the statements differ by role only there (indicators.sqlbuild.shape). The city level itself is prepared
before the server takes visitors (`prepare_city()`, called by server.py), not in this thread: here it would
compete with the first visitor's overview for the interpreter. For the same reason the thread waits until
the first page a visitor opens has been drawn (`visited()`, at the end of app.py's run: usually the sign-in
page, long before anyone drills down) or FIRST_VISIT_WAIT_S, whichever comes first: started at once, it
competed with a first overview for the interpreter lock.
"""
from __future__ import annotations

import logging
import threading
import time

from datetime import datetime, timezone

from sqlalchemy import select

import settings
from events.views import EventViews
from geo.views import RegionViews
from situation import kpis
from situation.events_map import event_map
from situation.report_progress import progress_table
from situation.urgent import urgent_items
from store.db import read_session, session_scope
from store.models import Region
from store.period import Period
from store.scope import Viewer
from ui import versions
from ui.data import app_engine

log = logging.getLogger(__name__)

FIRST_VISIT_WAIT_S = 20.0

_started = threading.Event()
_visited = threading.Event()
finished = threading.Event()


def visited() -> None:
    """A page has been drawn for a visitor (app.py, at the end of every run): the warm-up may go."""
    _visited.set()


def scopes(city: str) -> list[str]:
    """The default city's first district, street and grid (the levels a drill-down passes)."""
    out = []
    with read_session(app_engine()) as s:
        for level in ("district", "street", "grid"):
            code = s.scalar(select(Region.code).where(Region.level == level, Region.city_code == city)
                            .order_by(Region.code).limit(1))
            if code:
                out.append(code)
    return out


def warm() -> dict:
    """Compute what the overview of each scope level below the city reads — the tile groups for both
    months; the map's and ranking's children values, the trend, the case map, the urgent list, the
    办理进度 table and the incidents layer for the current month — once (figures discarded). Returns what
    was done and how long it took."""
    t0 = time.perf_counter()
    city = str(settings.get_settings()["city"]["code"])
    done = sum(_scope_reads(city, code) for code in scopes(city))
    return {"tile_groups": done, "ms": round((time.perf_counter() - t0) * 1000, 1)}


def prepare_city() -> float:
    """The same for the configured city (or province) itself, synchronously, before the server takes its
    first visitor (server.py): the statements of the city's overview were a third of its first view (city
    scale, PostgreSQL: ~0.6 s of 1.7 s building and compiling them). The server starts that much later;
    the visitor's figures are still computed for the visitor. Returns the milliseconds it took (a
    failure is logged, never raised: the first view then pays as before)."""
    t0 = time.perf_counter()
    try:
        city = str(settings.get_settings()["city"]["code"])
        _scope_reads(city, city)
    except Exception:  # noqa: BLE001 - a warm-up must never stop the server
        log.exception("全市总览语句预热失败（不影响使用，首次打开时再生成）")
    return (time.perf_counter() - t0) * 1000


def _scope_reads(city: str, code: str) -> int:
    """The overview's reads of one scope as the city's leader would see them; returns the tile groups run."""
    viewer = Viewer("warmup", "leader", city, display_name="启动预热")
    this_month = Period.current_month()
    groups = [ids for ids, _inputs in versions.indicator_groups(kpis.tile_ids(code))]
    for period in (this_month, this_month.previous()):
        for ids in groups:
            kpis.tiles(viewer, code, period, ids=ids)
    _overview_parts(viewer, code, this_month)
    return 2 * len(groups)


def _overview_parts(viewer: Viewer, code: str, period: Period) -> None:
    """The overview's reads besides the tiles (ui.overview_parts), for the map's default indicator: their
    statements are compiled here instead of in a first view (a district's first view compiled eleven,
    ~0.1 s, profiled at city scale)."""
    indicator = kpis.default_map_indicator(code)
    kpis.children_values(viewer, code, period, indicator)
    kpis.trend(viewer, code, period, indicator)
    now = datetime.now(timezone.utc)
    with session_scope(app_engine(), readonly=True) as s:  # as ui.overview_parts reads them
        event_map(s, viewer, code, period, now)
        urgent_items(s, viewer, code, now)
    with EventViews.open(app_engine(), viewer) as events:
        progress_table(events, RegionViews(events.session, viewer), code, period)
    kpis.extra_layer("incidents", viewer, code)


def _run() -> None:
    _visited.wait(FIRST_VISIT_WAIT_S)
    try:
        result = warm()
        log.info("指标语句预热完成：%s", result)
    except Exception:  # noqa: BLE001 - a warm-up must never stop the server; the first views just pay
        log.exception("指标语句预热失败（不影响使用，首次打开各层级时再生成）")
    finally:
        finished.set()


def start() -> bool:
    """Start the warm-up thread once per process; False if it was already started."""
    if _started.is_set():
        return False
    _started.set()
    threading.Thread(target=_run, name="statement-warmup", daemon=True).start()
    return True
