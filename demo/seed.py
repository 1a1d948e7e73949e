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
from datetime import date, datetime, time as dtime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Engine, inspect

import settings
from auth import demo as auth_demo
from emergency import demo as emergency_demo
from events import demo as events_demo
from events.departments import ensure_demo_departments
from geo import demo_addresses, demo_city
from indicators import demo_stats
from sensors import demo as sensors_demo
from store.demo_scale import get_scale
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


def seed_demo(engine: Engine, scale_name: str = "demo", seed: int = 20261125, until: date | None = None,
              force: bool = False, log=print, progress=None) -> dict:  # noqa: ANN001
    """Build the demo city. `log(line)` gets one summary line per step; `progress(label, done, total)`, if
    given, is told how far the current step is (demo.progress.ProgressLine draws it)."""
    scale = get_scale(scale_name)
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
    try:
        for index, (module_name, label, generate) in enumerate(GENERATORS):
            t0 = time.perf_counter()
            rng = np.random.default_rng([seed, index])
            kwargs = {}
            if progress is not None:
                step = f"[{index + 1}/{len(GENERATORS)}] {label}"
                progress(step, 0, 1)
                if "progress" in pyinspect.signature(generate).parameters:
                    kwargs["progress"] = lambda done, total, step=step: progress(step, done, total)
            with session_scope(engine) as session:
                part = generate(session, rng, scale, now, **kwargs)
            summary[module_name] = part
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
