"""Start-up of a long-running dashboard process: load what every page needs, then settle the heap.

Two things a freshly started server otherwise does inside its first page renders:
- importing pandas, plotly, pydeck, SQLAlchemy and the page modules (about 0.8 s);
- full garbage collections that walk every object those imports created. A generation-2 collection
  starting during a render added 0.1–0.2 s to the first view of a district (pyinstrument, tenth scale).
`gc.freeze()` moves the objects alive after start-up into a permanent generation that collections skip;
everything created later is collected as before.
"""
from __future__ import annotations

import gc
import importlib
import logging
import threading
import time

# What the pages import (their own modules import the rest: pandas, plotly, pydeck, SQLAlchemy, ...).
PAGE_MODULES = ("ui.overview_parts", "ui.wall_parts", "ui.case_panel", "situation.briefing", "situation.workbook",
                "indicators", "events.views", "sensors.views", "emergency.views")

_lock = threading.Lock()
_settled_ms: float | None = None


def settle() -> float:
    """Import the page modules and freeze the heap, once per process. Returns the milliseconds it took."""
    global _settled_ms
    with _lock:
        if _settled_ms is None:
            t0 = time.perf_counter()
            # Outside a script run, st.cache_data's decorator checks its options against an in-memory
            # storage manager and logs that no runtime exists; the caches themselves are created on
            # first call, inside the runtime. That notice would only be noise in the server log.
            cache_log = logging.getLogger(importlib.import_module("streamlit.runtime.caching.cache_data_api").__name__)
            level = cache_log.level
            cache_log.setLevel(logging.ERROR)
            try:
                for name in PAGE_MODULES:
                    importlib.import_module(name)
            finally:
                cache_log.setLevel(level)
            gc.collect()
            gc.freeze()
            _settled_ms = (time.perf_counter() - t0) * 1000
        return _settled_ms
