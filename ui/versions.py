"""What a cached screen figure was computed from, as its cache key: the data versions of the domains it
reads (store.data_version), and the clock where the figure depends on the time of day.

A cached function takes `inputs` — the value of `inputs(...)` — as an argument and never reads it: the
argument is only there so that st.cache_data recomputes when, and only when, an input moved. So a write is
seen at the next rerun, and a database nobody writes is read once per scope, not once per time-to-live.

The clock: figures that compare with "now" (a case overdue now, a station silent for an hour, an alert's
age) change while nobody writes; they also take `clock()`, the refresh interval this moment falls in
(settings [app].refresh_seconds, the wall's own refresh). Indicator figures take the date at least:
the engine cuts the current period at today for 环比/同比.

The versions are read once per script run (one primary-key read of meta), however many cached functions
ask. So a run that writes and then reads a cached figure sees the figure as of the run's start; the screens'
actions rerun after writing (st.rerun), and the next run reads the new versions.
"""
from __future__ import annotations

import threading
import time
import weakref
from datetime import datetime
from typing import Iterable

from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

import indicators
import settings
from indicators import calculator_specs
from indicators.schema import NOW
from store import data_version
from store.db import read_session
from store.period import local_tz
from ui.data import app_engine

# id(script run context) → (weak reference to it, the run's cursor table, the versions read in that run)
_MEMO: dict[int, tuple] = {}
_LOCK = threading.Lock()


def _read_all() -> dict[str, str]:
    # Through the same routing as the figures' own reads (store.db.read_session: the read replica when one
    # is configured and this browser session has no write of its own pending there), so that the versions
    # and the data they key normally come from the same server and a figure is never cached under a newer
    # version than the data it was computed from.
    with read_session(app_engine()) as s:
        return data_version.current(s)


def _this_run() -> dict[str, str]:
    """Every domain's version, read once per script run. The run is recognised by the cursor table
    Streamlit's ScriptRunContext makes anew at the start of every run (and fragment run); outside a
    script run (benchmarks, tests calling a part directly) the versions are read each time."""
    ctx = get_script_run_ctx(suppress_warning=True)
    marker = getattr(ctx, "cursors", None) if ctx is not None else None
    if marker is None:
        return _read_all()
    key = id(ctx)
    with _LOCK:
        memo = _MEMO.get(key)
    if memo is not None and memo[0]() is ctx and memo[1] is marker:
        return memo[2]
    values = _read_all()
    with _LOCK:
        if key not in _MEMO:  # the session's context goes away with the session: so does its entry
            weakref.finalize(ctx, _MEMO.pop, key, None)
        _MEMO[key] = (weakref.ref(ctx), marker, values)
    return values


def versions(*domains: str) -> tuple[tuple[str, str], ...]:
    """((domain, version), …) of `domains`, sorted: the data part of a cache key."""
    current = _this_run()
    return tuple((d, current[d]) for d in sorted(set(domains)))


def clock(seconds: float | None = None) -> int:
    """The number of the refresh interval this moment falls in: the time part of a cache key for a figure
    that compares with "now" (at most one interval late, as a refreshing screen is anyway)."""
    step = float(seconds or settings.get_settings()["app"]["refresh_seconds"])
    return int(time.time() // step)


def today() -> str:
    return datetime.now(local_tz()).date().isoformat()


def inputs(*domains: str, now: bool = False) -> tuple:
    """The cache key of a figure reading `domains`; `now=True` when it compares with the current time."""
    return (versions(*domains), clock() if now else today())


# -- what an indicator reads --------------------------------------------------------------------------------
def _filters(filters: Iterable) -> Iterable:
    for f in filters:
        yield f
        yield from _filters(getattr(f, "any_of", ()) or ())


def _parts(ind) -> list:  # noqa: ANN001
    f = ind.formula
    return [p for p in (f, getattr(f, "numerator", None), getattr(f, "denominator", None)) if p is not None]


def indicator_domains(ind) -> frozenset[str]:  # noqa: ANN001 - an indicators.schema.Indicator
    """The data domains an indicator's figure reads: its source tables' domains (a table's parent, read
    through `via`, always lies in the same domain), the regions (names, children), and the station
    registry beside any reading. A source this cannot place makes it depend on every domain."""
    f = ind.formula
    tables = {p.source for p in _parts(ind) if getattr(p, "source", None)}
    if f.kind == "external":
        tables.add("external_values")
    if f.kind == "standard" and f.calculator:
        tables.add(calculator_specs.get(f.calculator).source)
    domains = {"regions"}
    for table in tables:
        domain = data_version.domain_of(table)
        if domain is None:
            return frozenset(data_version.ALL)
        domains.add(domain)
    if "readings" in domains:
        domains.add("sensors")
    return frozenset(domains)


def indicator_uses_now(ind) -> bool:  # noqa: ANN001
    """True when the figure changes with the time of day alone: a filter compares with the moment of
    computation (@now: "overdue now"), or it is a newest value, whose tile says how late it is."""
    if ind.formula.kind == "latest":
        return True
    return any(getattr(x, "value", None) == NOW for p in _parts(ind) for x in _filters(getattr(p, "filters", ())))


def indicator_reads(indicator_ids: Iterable[str]) -> tuple[frozenset[str], bool]:
    """(domains, compares with now) of these indicators together; an unknown id reads everything."""
    library = indicators.load_library()
    ids = list(indicator_ids)
    inds = [library[i] for i in ids if i in library]
    if len(inds) < len(ids) or not inds:
        return frozenset(data_version.ALL), True
    return frozenset().union(*(indicator_domains(i) for i in inds)), any(indicator_uses_now(i) for i in inds)


def indicator_inputs(indicator_ids: Iterable[str]) -> tuple:
    """The cache key of figures of these indicators (the union of what they read)."""
    domains, now = indicator_reads(indicator_ids)
    return inputs(*domains, now=now)


def indicator_groups(indicator_ids: Iterable[str]) -> list[tuple[tuple[str, ...], tuple]]:
    """The ids split by what they read — [(ids in the given order, cache key)] — so that a write to one
    domain recomputes only the figures that read it (sensor readings arrive every second; the case figures
    must not be recomputed for them)."""
    library = indicators.load_library()
    groups: dict[tuple, list[str]] = {}
    for i in indicator_ids:
        ind = library.get(i)
        signature = ((tuple(sorted(indicator_domains(ind))), indicator_uses_now(ind)) if ind is not None
                     else (tuple(data_version.ALL), True))
        groups.setdefault(signature, []).append(i)
    return [(tuple(ids), inputs(*domains, now=now)) for (domains, now), ids in groups.items()]
