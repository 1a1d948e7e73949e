"""Start-up warm-up of the indicator statements, in the background, so the first district a user opens does
not build and compile them.

The engine keeps one built statement per request shape (indicators.sqlbuild.shape: scope level, the
viewer's role and zone level, how the periods fall) and SQLAlchemy keeps its compiled form; values are bound
parameters. A fresh process has none: the first view of each scope level paid 0.3–0.45 s for planning,
building and compiling its tile statements (profiled on the demo city: 0.15 s building, 0.30 s compiling
of 0.57 s of tiles). `start()` runs the overview's tile groups once — the default city's first district,
street and grid, for the current and the last month — in a daemon thread, and throws the figures away:
only the statements stay. What a user then sees is computed from the database as before (screens cache
figures by data version, ui/versions.py). One viewer serves every role but a department's: the statements
differ by role only there (indicators.sqlbuild.shape). The city level is left to the first visitor, whose
cold overview builds it anyway; warming it too would only compete with that visitor for the interpreter.
For the same reason the thread waits until the first page a visitor opens has been drawn (`visited()`, at
the end of app.py's run: usually the sign-in page, long before anyone drills down) or FIRST_VISIT_WAIT_S,
whichever comes first: started at once, it competed with a first overview for the interpreter lock.
"""
from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import select

import settings
from situation import kpis
from store.db import read_session
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
    """Compute the overview's tile groups once for every scope level below the city and both months
    (figures discarded). Returns what was done and how long it took."""
    t0 = time.perf_counter()
    city = str(settings.get_settings()["city"]["code"])
    this_month = Period.current_month()
    months = (this_month, this_month.previous())
    done = 0
    viewer = Viewer("warmup", "leader", city, display_name="启动预热")
    for code in scopes(city):
        groups = [ids for ids, _inputs in versions.indicator_groups(kpis.tile_ids(code))]
        for period in months:
            for ids in groups:
                kpis.tiles(viewer, code, period, ids=ids)
                done += 1
    return {"tile_groups": done, "ms": round((time.perf_counter() - t0) * 1000, 1)}


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
