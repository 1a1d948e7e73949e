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
# The indicator engine's modules too: the `indicators` package loads them on first use.
PAGE_MODULES = ("ui.overview_parts", "ui.wall_parts", "ui.case_panel", "situation.briefing", "situation.workbook",
                "indicators", "indicators.engine", "indicators.calculators", "indicators.case_rollup",
                "events.views", "sensors.views", "emergency.views")

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
                # What loads lazily on a first page otherwise (0.3–0.7 s of imports in the cold overview,
                # profiled on the demo city): Plotly's trace classes on the first chart, Pillow's image
                # plugins on the page icon.
                importlib.import_module("ui.charts").prime()
                importlib.import_module("PIL.Image").init()
                # Tables go to the browser as Arrow (the first conversion loads pyarrow's pandas layer);
                # icons and emoji shortcodes are looked up in two large tables loaded on first use.
                pyarrow = importlib.import_module("pyarrow")
                pyarrow.Table.from_pandas(importlib.import_module("pandas").DataFrame({"a": [1]}))
                for name in ("streamlit.emojis", "streamlit.material_icon_names"):
                    importlib.import_module(name)
                # The first element a process draws asks whether it runs in a REPL, by inspect.stack(), which
                # resolves every frame's source file against every loaded module: 0.3–0.4 s of the cold
                # overview at city scale, profiled. A server is no REPL and its runs always have a runtime,
                # so the warning that check guards cannot print here; mark it shown (a rename in a later
                # Streamlit only brings the cost back).
                delta_generator = importlib.import_module("streamlit.delta_generator")
                if hasattr(delta_generator, "_use_warning_has_been_displayed"):
                    delta_generator._use_warning_has_been_displayed = True
            finally:
                cache_log.setLevel(level)
            gc.collect()
            gc.freeze()
            _settled_ms = (time.perf_counter() - t0) * 1000
        return _settled_ms
