"""Build the demo city: hierarchy first, then each domain's generated data, each in its own transaction.

Every generator has the signature `generate(session, rng, scale, now) -> dict` (a summary of what it
made) and draws only from its own seeded random stream, so a domain's data does not change when
another generator changes. Same seed + same anchor date → the same database.

The big generators (events: month by month; sensors: block by block of stations) write as they go, so
the seed's memory stays bounded whatever the scale (city: a million cases, a year of ~2k stations); they
take an optional `progress(done, total)` keyword, which `seed_demo` passes on with the step's label.
"""
from __future__ import annotations

import inspect as pyinspect
import time
from contextlib import nullcontext
from datetime import date, datetime, time as dtime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Engine, inspect

import settings
from auth import demo as auth_demo
from auth.service import create_user
from emergency import demo as emergency_demo
from events import demo as events_demo
from events.departments import ensure_demo_departments
from demo.cities import PROVINCE_CODE, PROVINCE_LEADER, as_city, province_cities
from geo import demo_addresses, demo_city
from geo.boundaries import refresh_provinces
from geo.cities import ensure_province
from indicators import demo_stats
from sensors import demo as sensors_demo
from store import bulkload
from store.demo_scale import ScaleSpec, get_scale
from store.db import refresh_statistics, session_scope
from store.models import Base, Meta
from store.schema import migrate
from supervision import demo as supervision_demo

def _accounts(session, rng, scale, now) -> dict:  # noqa: ANN001 - the generator protocol
    """Departments first (a department user's account refers to one), then the demo accounts. One
    step, so the random streams of the later generators keep their index."""
    ensure_demo_departments(session)
    return auth_demo.generate(session, rng, scale, now)


# Order matters: regions before anything located in them; users and departments before events.
GENERATORS: tuple[tuple[str, str, object], ...] = (
    ("geo.demo_city", "行政区划与网格", demo_city.generate),
    ("auth.demo", "演示账号", _accounts),
    ("events.demo", "网格事件与案卷流转", events_demo.generate),
    ("sensors.demo", "监测站点与读数", sensors_demo.generate),
    ("emergency.demo", "应急资源与事件", emergency_demo.generate),
    ("indicators.demo_stats", "经济与政务统计（演示）", demo_stats.generate),
    # Last, so the generators above keep the index (and so the random stream) they always had.
    ("geo.demo_addresses", "标准地址库（演示）", demo_addresses.generate),
    # After the cases: the escalation rules applied once, a few 督办, the day's 研判 (supervision.demo).
    ("supervision.demo", "督办、升级与研判（演示）", supervision_demo.generate),
)


def _finish_province(session, rng, scale, now) -> dict:  # noqa: ANN001, ARG001 - the generator protocol
    """After the last city of a generated province: the province region over its cities, the indexes the
    cities' bulk loads held back, then the district and department copies of the case rollup."""
    t0 = time.perf_counter()
    ensure_province(session, PROVINCE_CODE)
    refresh_provinces(session, {PROVINCE_CODE})
    # A leader over the whole province, beside the default city's demo accounts (auth.demo).
    create_user(session, PROVINCE_LEADER, "省领导·演示", "leader", PROVINCE_CODE, password=auth_demo.DEMO_PASSWORD,
                actor=auth_demo.ACTOR)
    indexes = bulkload.create_held(session)
    t1 = time.perf_counter()
    events_demo.finish(session)
    return {"province": PROVINCE_CODE, "leader": PROVINCE_LEADER, "indexes": indexes,
            "seconds": {"indexes": round(t1 - t0, 1), "rollup_copies": round(time.perf_counter() - t1, 1)}}


def _steps(scale: ScaleSpec, seed: int) -> list[tuple]:
    """(summary key, label, generator, random-stream key, [city] section or None, extra keyword arguments)
    for every step of the seed. One city: GENERATORS in order, stream [seed, index]. A province
    (scale.cities > 1): every city runs the generators in turn (the accounts once, for the default city;
    the first city keeps the one city's streams, city k draws from [seed, index, k]), the case rollup's
    copies are derived once after the last, then the supervision step once over all of them."""
    if scale.cities <= 1:
        return [(key, label, gen, [seed, index], None, {}) for index, (key, label, gen) in enumerate(GENERATORS)]
    steps: list[tuple] = []
    supervision: tuple | None = None
    for k, city in enumerate(province_cities(scale.cities)):
        for index, (key, label, gen) in enumerate(GENERATORS):
            if key == "supervision.demo":
                supervision = (key, label, gen, [seed, index], None, {})
                continue
            if key == "auth.demo" and k > 0:
                continue
            extra = {"derive_copies": False} if key == "events.demo" else {}
            steps.append((f"{key}@{city['code']}", f"{city['name']} {label}", gen,
                          [seed, index] if k == 0 else [seed, index, k], city, extra))
    steps.append(("demo.province", "全省：省级区划、索引与汇总表", _finish_province, [seed, len(GENERATORS)], None, {}))
    if supervision is not None:
        steps.append(supervision)
    return steps


class AlreadySeeded(Exception):
    pass


def anchor_datetime(until: date | None = None) -> datetime:
    """The generated history ends at the end of local date `until`, or at the current hour when no date
    is given (never in the future: a dashboard must not show tomorrow's events)."""
    tz = ZoneInfo(settings.get_settings()["app"]["timezone"])
    if until is None:
        return datetime.now(tz).replace(minute=0, second=0, microsecond=0)
    return datetime.combine(until + timedelta(days=1), dtime(0), tzinfo=tz) - timedelta(seconds=1)


def is_seeded(engine: Engine) -> bool:
    if "meta" not in inspect(engine).get_table_names():
        return False
    with session_scope(engine, readonly=True) as s:
        return s.get(Meta, "seeded_at") is not None


def seed_demo(engine: Engine, scale_name: str | ScaleSpec = "demo", seed: int = 20261125, until: date | None = None,
              force: bool = False, log=print, progress=None) -> dict:  # noqa: ANN001
    """Build the demo city. `log(line)` gets one summary line per step; `progress(label, done, total)`, if
    given, is told how far the current step is (demo.progress.ProgressLine draws it)."""
    scale = scale_name if isinstance(scale_name, ScaleSpec) else get_scale(scale_name)
    if is_seeded(engine):
        if not force:
            raise AlreadySeeded("数据库已有数据；如需重建演示数据请加 --force")
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    migrate(engine)
    now = anchor_datetime(until).astimezone(ZoneInfo("UTC"))
    summary: dict = {"scale": scale.name, "seed": seed, "until": now.isoformat()}
    t_start = time.perf_counter()
    steps = _steps(scale, seed)
    try:
        with bulkload.held_indexes() if scale.cities > 1 else nullcontext():
            for n, (key, label, generate, rng_key, city_cfg, extra) in enumerate(steps):
                t0 = time.perf_counter()
                rng = np.random.default_rng(rng_key)
                kwargs = dict(extra)
                if progress is not None:
                    step = f"[{n + 1}/{len(steps)}] {label}"
                    progress(step, 0, 1)
                    if "progress" in pyinspect.signature(generate).parameters:
                        kwargs["progress"] = lambda done, total, step=step: progress(step, done, total)
                with as_city(city_cfg) if city_cfg else nullcontext(), session_scope(engine) as session:
                    part = generate(session, rng, scale, now, **kwargs)
                summary[key] = part
                log(f"  {label}: {part}  ({time.perf_counter() - t0:.1f} s)")
        with session_scope(engine) as session:
            for key, value in {"demo": "1", "scale": scale.name, "seed": str(seed),
                               "until": now.isoformat(), "seeded_at": datetime.now(ZoneInfo("UTC")).isoformat()}.items():
                session.merge(Meta(key=key, value=value))
        t0 = time.perf_counter()
        if progress is not None:
            progress("更新统计信息", 0, 1)
        refresh_statistics(engine)
        log(f"  更新统计信息并整理日志 ({time.perf_counter() - t0:.1f} s)")
    except Exception:
        # Never leave a half-built demo behind: the next run starts from scratch.
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        raise
    summary["seconds"] = round(time.perf_counter() - t_start, 1)
    return summary
