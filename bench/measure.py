"""The measurements behind `python -m bench`.

Every repeated figure carries its spread and the load average it ran under (bench/timing.py): the flat
`<name>_ms` key is the median (what bench/report.py tabulates), `timings[<name>]` holds n, median, p10,
p90, min, max and load_1m. The overview figures are whole reruns through app.py (bench/overview_probe.py).
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from bench import exchange, geocoding, supervision, timing
from events import status_cohort
from store.db import get_engine, session_scope
from store.demo_scale import get_scale
from store.models import Event, Meta, Region
from store.models.sensors import SensorAreaDaily
from store.period import Period
from store.scope import Viewer
from store.frames import rows_frame

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(os.environ.get("CITYOPS_BENCH_DIR", ROOT / "data" / "bench"))
UNTIL = date(2026, 11, 20)      # fixed anchor: the same data every run
SEED = 20261125
UNTIL_DT = datetime(2026, 11, 20, 16, tzinfo=timezone.utc)
PERIOD = Period.parse("2026-10")
SYSTEM = Viewer("bench", "leader", "440900", display_name="基准测试")
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def database_url(scale: str, backend: str) -> str:
    if backend == "sqlite":
        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{BENCH_DIR / f'{scale}.db'}"
    name = f"cityops_bench_{scale}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def ensure_database(url: str, scale: str, rebuild: bool) -> dict:
    """Reuse a database seeded at this scale, or seed it in a child process (bench.seed_run)."""
    from demo.seed import is_seeded  # the measuring process imports the app only after its env is set

    engine = get_engine(url)
    if is_seeded(engine) and not rebuild:
        with session_scope(engine, readonly=True) as s:
            meta = dict(s.execute(select(Meta.key, Meta.value)).all())
        if meta.get("scale") == scale and "seed_seconds" in meta:
            out = {"seed_s": float(meta["seed_seconds"]), "reused": True}
            if "seed_peak_rss_mb" in meta:
                out["seed_peak_rss_mb"] = float(meta["seed_peak_rss_mb"])
            return out
    engine.dispose()
    done = subprocess.run([sys.executable, "-m", "bench.seed_run", url, scale, str(SEED), UNTIL.isoformat()],
                          cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=7200)
    if done.returncode != 0:
        raise RuntimeError(f"seeding {scale} failed (exit {done.returncode})")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "reused": False}


def database_bytes(url: str) -> int:
    engine = get_engine(url)
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        return sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def sample_codes(url: str) -> tuple[str, str, str, str]:
    """The bench leader's city (a province holds five: the figures are one city's screens at either scale,
    so city and province figures compare) and the last district, street and grid in it."""
    city = SYSTEM.zone_code
    with session_scope(get_engine(url), readonly=True) as s:
        def last(level: str) -> str:
            return s.scalar(select(Region.code).where(Region.level == level, Region.city_code == city)
                            .order_by(Region.code.desc()))
        return city, last("district"), last("street"), last("grid")


def _probe(url: str, args: list[str], user: str | None = None) -> dict:
    env = dict(os.environ, DATABASE_URL=url)
    if user:
        env["BENCH_PROBE_USER"] = user
    out = subprocess.run([sys.executable, "-m", "bench.overview_probe", *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"overview probe failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def overview_times(url: str, city: str, district: str, grid: str, repeat: int, cold_runs: int = 3) -> dict:
    """The whole rerun of the city overview through app.py (bench/overview_probe.py): cold in `cold_runs`
    fresh processes (one cold run each: a process's caches are cold once), warm `repeat` times in the first,
    after a case write, and the first views of a district and a grid."""
    args = [city, district, grid, PERIOD.key, str(repeat)]
    main = _probe(url, args)
    colds = [main["overview_cold_ms"]] + [_probe(url, [*args, "--cold-only"])["overview_cold_ms"]
                                          for _ in range(max(0, cold_runs - 1))]
    starts = [main["server_startup_ms"]]
    timings = {"overview_cold": timing.spread(colds), "overview_warm": main.pop("overview_warm"),
               "overview_after_case_write": main.pop("overview_after_case_write")}
    out = {**main, "overview_cold_ms": timings["overview_cold"]["median"],
           "overview_warm_ms": timings["overview_warm"]["median"],
           "overview_after_case_write_ms": timings["overview_after_case_write"]["median"],
           "server_startup_ms": round(sum(starts) / len(starts), 1), "timings": timings}
    return out


def province_overview_times(url: str, repeat: int) -> dict:
    """At province scale: the whole rerun of the province overview for the province's leader, cold and warm,
    and the first view of a city (the last one) and of a grid in it; keys prefixed `province_`."""
    from demo.cities import PROVINCE_CODE, PROVINCE_LEADER  # as ensure_database: the app after its env is set

    with session_scope(get_engine(url), readonly=True) as s:
        city = s.scalar(select(Region.code).where(Region.level == "city").order_by(Region.code.desc()))
        grid = s.scalar(select(Region.code).where(Region.level == "grid", Region.city_code == city)
                        .order_by(Region.code.desc()))
    out = _probe(url, [PROVINCE_CODE, city, grid, PERIOD.key, str(repeat)], user=PROVINCE_LEADER)
    warm = out.pop("overview_warm")
    return {"province_overview_cold_ms": out["overview_cold_ms"], "province_overview_warm_ms": warm["median"],
            "province_city_first_ms": out["district_first_ms"], "province_grid_first_ms": out["grid_first_ms"],
            "province_probe_city": city, "timings": {"province_overview_warm": warm}}


def timed(fn, repeat: int = 3) -> dict:  # noqa: ANN001
    """spread() of `repeat` timed runs after one untimed warm-up."""
    return timing.measure(fn, repeat)


def engine_times(url: str, city: str, repeat: int) -> dict:
    import indicators  # imported after DATABASE_URL is set for this run (settings are read at import)

    engine = get_engine(url)
    ids = list(indicators.load_library())
    all_districts = timed(lambda: indicators.compute_children_many(ids, city, PERIOD, SYSTEM, engine=engine),
                          repeat)
    one = "cm_close_ontime_rate" if "cm_close_ontime_rate" in ids else ids[0]
    def all_grids() -> None:
        frame = indicators.compute_children(one, city, PERIOD, SYSTEM, engine=engine, level="grid")
        assert len(frame) > 0

    grids = timed(all_grids, repeat)
    return {"indicators": len(ids), "all_indicators_all_districts_ms": all_districts["median"],
            "one_indicator_all_grids_ms": grids["median"], "one_indicator_id": one,
            "timings": {"all_indicators_all_districts": all_districts, "one_indicator_all_grids": grids}}


def map_bytes(url: str, city: str, street: str) -> dict:
    """Bytes of the deck spec the overview sends for its default layers, built by the page's own code
    (outside a Streamlit server: its caches fall back to memory, which Streamlit would log each call)."""
    import logging

    logging.getLogger("streamlit.runtime.caching.cache_data_api").setLevel(logging.ERROR)
    os.environ["DATABASE_URL"] = url
    # The page's modules are imported only now, after DATABASE_URL names this run's database.
    import settings

    settings.reload_settings()
    from situation.events_map import event_map  # after settings.reload_settings(), like the page
    from ui import overview_parts  # noqa: E402 - same reason

    indicator = settings.get_settings()["map"]["default_indicator"]
    out = {}
    for label, code in (("city", city), ("street", street)):
        spec, _ = overview_parts.map_spec(SYSTEM, code, PERIOD.key, indicator, ("regions", "events", "incidents"),
                                          (820, 560))
        out[f"map_bytes_{label}"] = len(spec.encode())
        with session_scope(get_engine(url), readonly=True) as s:
            out[f"map_event_mode_{label}"] = event_map(s, SYSTEM, code, PERIOD, UNTIL_DT).mode
    return out


def our_statements() -> tuple:
    """Our side of the two reference figures, for the whole database, read where the screens read them:
    events by district × status from the status cohort (events.status_cohort, what the overview's
    办理进度 reads), daily AQI by district from sensor_area_daily (what the AQI indicators read)."""
    A = SensorAreaDaily
    start, end = PERIOD.utc_bounds()
    events = status_cohort.counts(PERIOD.start, PERIOD.end + timedelta(days=1))
    aqi = select(A.region_code, A.day, func.avg(A.value)).where(
        A.metric == "AQI", A.level == "district", A.day >= start, A.day < end).group_by(A.region_code, A.day)
    return events, aqi


def duckdb_reference(url: str, repeat: int) -> dict:
    """The same two figures by hand in DuckDB over Parquet exports of the base rows (every case's district,
    status and report time; every station-day's AQI), computed at each query: the near-limit reference
    for a scan. (DuckDB's AQI is the mean of the stations' daily AQI, a lighter computation than the
    area assessment of HJ 663 that sensor_area_daily holds: the comparison favours DuckDB.)"""
    import duckdb
    import pandas as pd

    engine = get_engine(url)
    start, end = PERIOD.utc_bounds()
    tmp = Path(tempfile.mkdtemp(prefix="bench-parquet-"))
    from store.models import SensorDaily  # only the DuckDB reference needs the sensor tables

    def frame(stmt, columns):  # noqa: ANN001, ANN202 - through the ORM types, so timestamps are real UTC times
        with session_scope(engine, readonly=True) as s:
            return rows_frame(s.execute(stmt).all(), columns=columns)

    frame(select(Event.district_code, Event.status, Event.reported_at),
          ["district_code", "status", "reported_at"]).to_parquet(tmp / "events.parquet")
    frame(select(SensorDaily.district_code, SensorDaily.day, SensorDaily.value).where(SensorDaily.metric == "AQI"),
          ["district_code", "day", "value"]).to_parquet(tmp / "sensor_daily.parquet")

    runs = max(repeat, timing.MIN_REFERENCE_RUNS)
    con = duckdb.connect()
    q1 = ("SELECT district_code, status, count(*) FROM read_parquet(?) "
          "WHERE reported_at >= ? AND reported_at < ? GROUP BY 1, 2")
    q2 = "SELECT district_code, day, avg(value) FROM read_parquet(?) WHERE day >= ? AND day < ? GROUP BY 1, 2"
    duck1 = timed(lambda: con.execute(q1, [str(tmp / "events.parquet"), start, end]).fetchall(), runs)
    duck2 = timed(lambda: con.execute(q2, [str(tmp / "sensor_daily.parquet"), start, end]).fetchall(), runs)

    events_stmt, aqi_stmt = our_statements()

    def ours1() -> None:
        with session_scope(engine, readonly=True) as s:
            s.execute(events_stmt).all()

    def ours2() -> None:
        with session_scope(engine, readonly=True) as s:
            s.execute(aqi_stmt).all()

    o1, o2 = timed(ours1, runs), timed(ours2, runs)
    # Both sides must give the same events figure (the cohort counts every case once, as the scan does).
    with session_scope(engine, readonly=True) as s:
        kept = {(d, st): int(n) for d, st, n in s.execute(events_stmt)}
    scanned = {(d or "", st): int(n) for d, st, n in con.execute(q1, [str(tmp / "events.parquet"), start, end]).fetchall()}
    if kept != scanned:
        raise RuntimeError(f"events by district × status: the cohort and the scan disagree on "
                           f"{len(set(kept.items()) ^ set(scanned.items()))} rows")
    con.close()
    shutil.rmtree(tmp, ignore_errors=True)  # the exports: ~100 MB at province scale, every run
    return {"events_by_district_status_ms": o1["median"], "duckdb_events_by_district_status_ms": duck1["median"],
            "ratio_events_by_district_status": round(o1["median"] / max(duck1["median"], 0.01), 2),
            "daily_aqi_by_district_ms": o2["median"], "duckdb_daily_aqi_by_district_ms": duck2["median"],
            "ratio_daily_aqi_by_district": round(o2["median"] / max(duck2["median"], 0.01), 2),
            "timings": {"events_by_district_status": o1, "duckdb_events_by_district_status": duck1,
                        "daily_aqi_by_district": o2, "duckdb_daily_aqi_by_district": duck2}}


def _merge(figures: dict, part: dict) -> None:
    """Add a part's figures; its per-figure spreads go under figures["timings"]."""
    spreads = part.pop("timings", {})
    figures.update(part)
    figures.setdefault("timings", {}).update(spreads)


def run(scale: str, backend: str, *, rebuild: bool = False, repeat: int = 31, cold_runs: int = 3) -> dict:
    url = database_url(scale, backend)
    figures: dict = {"scale": scale, "backend": backend, "period": PERIOD.key,
                     "loadavg_start": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}
    figures.update(ensure_database(url, scale, rebuild))
    figures["db_bytes"] = database_bytes(url)
    with session_scope(get_engine(url), readonly=True) as s:
        figures["events"] = s.scalar(select(func.count()).select_from(Event))
        figures["grids"] = s.scalar(select(func.count()).select_from(Region).where(Region.level == "grid"))
    city, district, street, grid = sample_codes(url)
    _merge(figures, overview_times(url, city, district, grid, repeat, cold_runs))
    if get_scale(scale).cities > 1:
        _merge(figures, province_overview_times(url, repeat))
    # This process stands in for the server for the engine and map figures: start it the same way
    # (server.py settles the heap at start-up; a full collection otherwise lands in a timed run).
    from ui import heap

    heap.settle()
    _merge(figures, engine_times(url, city, repeat))
    figures.update(map_bytes(url, city, street))
    _merge(figures, duckdb_reference(url, repeat))
    figures.update(supervision.supervision_figures(url, UNTIL_DT, PERIOD))  # duplicate check, 研判, 考核评价
    figures.update(exchange.exchange_figures(url))  # the outbox write on a 立案, delivery throughput (issue 22)
    # The dashboard's memory: this process (engine, maps, DuckDB) and the page probe; seeding ran in its
    # own process and is reported as seed_peak_rss_mb.
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["peak_rss_mb"] = round(max(self_mb, figures.get("probe_peak_rss_mb", 0.0)), 1)
    # Geocoding against a 100k-address base built over this city's streets; after the memory figure,
    # since that test base lives only in this process and is not the dashboard's.
    figures.update(geocoding.geocode_figures(url))
    figures["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    return figures


def table(figures: dict, targets: dict) -> str:
    """The flat figures (medians, for repeated ones) against the targets, then each repeated figure's
    spread beside the load average it ran under."""
    lines = [f"{'figure':40s} {'value':>16s} {'target':>12s}"]
    for key, value in figures.items():
        if isinstance(value, (list, dict)):
            continue
        target = targets.get(key)
        mark = ""
        if target is not None and isinstance(value, (int, float)):
            mark = "  ok" if value <= target else "  MISSED"
        lines.append(f"{key:40s} {str(value):>16s} {'' if target is None else str(target):>12s}{mark}")
    lines.append("")
    lines.append(spread_table(figures))
    return "\n".join(lines)


def spread_table(figures: dict) -> str:
    load = " / ".join(f"{a}→{b}" for a, b in zip(figures.get("loadavg_start", []), figures.get("loadavg_end", [])))
    lines = [f"load average (1, 5, 15 min) start→end: {load or '—'} on {figures.get('cpus', '?')} CPUs",
             f"{'repeated figure (ms)':36s} {'n':>4s} {'median':>10s} {'p10–p90':>19s} {'min–max':>19s} {'load 1m':>8s}"]
    for name, t in figures.get("timings", {}).items():
        band, span = f"{t['p10']:g}–{t['p90']:g}", f"{t['min']:g}–{t['max']:g}"
        lines.append(f"{name:36s} {t['n']:>4d} {t['median']:>10g} {band:>19s} {span:>19s} {t['load_1m']:>8g}")
    return "\n".join(lines)
