"""Run in a fresh process by bench.measure: the whole rerun a signed-in leader triggers on the overview, as
the server runs it — app.py (settings, the indicator library check, the session check against the
database, the role's page table, the sidebar with scope and period pickers), then pages/overview.py —
cold, warm, after a case write, and on the first view of a district and a grid. Prints one JSON line.

How: Streamlit's AppTest runs app.py with the ScriptRunner the server uses (the same `_run_script`, the
same caches, st.navigation and st.rerun); the time of a rerun is that method's wall time, measured around
it here, so AppTest's own polling and the parsing of its element tree are left out. What AppTest cannot do
is carry a browser's cookie header, so the probe signs a demo leader in for real (a session row in the
database, its token signed into the cookie value) and hands that value to ui.login where it would read the
header; from there the check is the app's own (signature, server-side session, idle and absolute expiry,
the account still active). Not included: the protobuf bytes on the websocket and the browser's drawing —
`send_kb` says how much a rerun sends, and bench/journeys.py measures what a person feels in Chromium.

    python -m bench.overview_probe CITY DISTRICT GRID PERIOD REPEAT [--cold-only]
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

from streamlit.runtime.scriptrunner.script_runner import ScriptRunner
from streamlit.testing.v1 import AppTest

import ui.login
from auth import cookies, sessions
from bench import timing
from store import data_version
from store.db import session_scope
from ui import heap, warmup
from ui.data import app_engine

ROOT = Path(__file__).resolve().parents[1]
# The demo city's leader (auth/demo.py), zone = the city; BENCH_PROBE_USER names another demo account (at
# province scale bench.measure also probes the province's leader, demo.cities.PROVINCE_LEADER).
USERNAME = os.environ.get("BENCH_PROBE_USER", "lingdao")


def _instrument() -> None:
    """Time every script run where the server runs it, ScriptRunner._run_script (st.rerun loops inside)."""
    real = ScriptRunner._run_script

    def timed_run(self, rerun_data):  # noqa: ANN001, ANN202
        t0 = time.perf_counter()
        try:
            return real(self, rerun_data)
        finally:
            timing.RUNS.append((time.perf_counter() - t0) * 1000)

    ScriptRunner._run_script = timed_run


def _sign_in() -> str:
    """A real session for the demo leader; returns the cookie value the browser would send."""
    with session_scope(app_engine()) as s:
        token = sessions.open_session(s, USERNAME, client="127.0.0.1", user_agent="bench.overview_probe")
    return cookies.sign_token(token)


class Visitor:
    """One browser tab: one AppTest session over app.py, rerun as the user would."""

    def __init__(self, cookie: str, region: str, period: str) -> None:
        # The one stand-in: the cookie header AppTest has no way to send (see the module docstring).
        ui.login._cookie_value = lambda name=None: cookie if name is None else None  # noqa: SLF001
        self.at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        self.at.query_params["region"] = region
        self.at.query_params["period"] = period

    def rerun(self, **params: str) -> tuple[float, int]:
        """(server ms of the rerun, bytes it sends)."""
        for k, v in params.items():
            self.at.query_params[k] = v
        before = len(timing.RUNS)
        self.at.run()
        if self.at.exception:
            raise RuntimeError(f"overview failed: {self.at.exception[0].message}")
        if "viewer" not in self.at.session_state or self.at.session_state["viewer"].username != USERNAME:
            raise RuntimeError("the probe's session was not signed in: the rerun would be the login page")
        ms = sum(timing.RUNS[before:])
        return ms, _sent_bytes(self.at)


def _sent_bytes(at) -> int:  # noqa: ANN001
    """Bytes of the element protos of the page the rerun left (what the websocket carries, about)."""
    total = 0
    stack = [at._tree]  # noqa: SLF001
    while stack:
        node = stack.pop()
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "ByteSize"):
            total += proto.ByteSize()
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            stack.extend(children.values())
    return total


def main() -> None:
    city, district, grid, period, repeat = sys.argv[1:6]
    cold_only = "--cold-only" in sys.argv[6:]
    load_start = os.getloadavg()[0]
    # As server.py does when it starts (after importing its routes, as this module does its helpers):
    # the city overview's statements are prepared, the page modules loaded and the heap frozen before the first
    # visitor (server_startup_ms is all of it).
    startup = warmup.prepare_city() + heap.settle()
    warmup.start()  # as server.py: in the background, after the first page a visitor opens is drawn
    _instrument()
    cookie = _sign_in()
    tab = Visitor(cookie, city, period)
    cold, cold_bytes = tab.rerun()
    out = {"server_startup_ms": round(startup, 1), "overview_cold_ms": round(cold, 1),
           "overview_send_kb": round(cold_bytes / 1024, 1), "probe_load_1m": [round(load_start, 2)]}
    if not cold_only:
        warm = [tab.rerun()[0] for _ in range(int(repeat))]
        out["overview_warm"] = timing.spread(warm, load_1m=os.getloadavg()[0])
        # A case was written (the events version moved): the case figures are recomputed, nothing else.
        after = []
        for _ in range(max(1, min(int(repeat), 11))):
            with session_scope(app_engine()) as s:
                data_version.bump(s, "events")
            after.append(tab.rerun()[0])
        out["overview_after_case_write"] = timing.spread(after, load_1m=os.getloadavg()[0])
        # Whether the start-up warm-up (ui/warmup.py) had finished: if not, the first views below paid for
        # some of their statements themselves, as they would for a visitor that early after a start.
        out["warmup_done_before_district"] = warmup.finished.is_set()
        out["district_first_ms"] = round(tab.rerun(region=district)[0], 1)
        out["grid_first_ms"] = round(tab.rerun(region=grid)[0], 1)
        out["probe_load_1m"].append(round(os.getloadavg()[0], 2))
    out["probe_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
