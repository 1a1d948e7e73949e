"""Build the demo city: hierarchy first, then each domain's generated data, each in its own transaction.

Every generator has the signature `generate(session, rng, scale, now) -> dict` (a summary of what it
made) and draws only from its own seeded random stream, so a domain's data does not change when
another generator changes. Same seed + same anchor date → the same database.
"""
from __future__ import annotations

import importlib
import time
from datetime import date, datetime, time as dtime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Engine, select

import settings
from demo.scale import get_scale
from store.db import refresh_statistics, session_scope
from store.models import Base, Meta
from store.schema import migrate

# Order matters: regions before anything located in them; users and departments before events.
GENERATORS: tuple[tuple[str, str], ...] = (
    ("geo.demo_city", "行政区划与网格"),
    ("auth.demo", "演示账号"),
    ("events.demo", "网格事件与案卷流转"),
    ("sensors.demo", "监测站点与读数"),
    ("emergency.demo", "应急资源与事件"),
    ("indicators.demo_stats", "经济与政务统计（演示）"),
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
    from sqlalchemy import inspect

    if "meta" not in inspect(engine).get_table_names():
        return False
    with session_scope(engine, readonly=True) as s:
        return s.get(Meta, "seeded_at") is not None


def seed_demo(engine: Engine, scale_name: str = "demo", seed: int = 20261125, until: date | None = None,
              force: bool = False, log=print) -> dict:  # noqa: ANN001
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
        for index, (module_name, label) in enumerate(GENERATORS):
            t0 = time.perf_counter()
            rng = np.random.default_rng([seed, index])
            with session_scope(engine) as session:
                part = importlib.import_module(module_name).generate(session, rng, scale, now)
            summary[module_name] = part
            log(f"  {label}: {part}  ({time.perf_counter() - t0:.1f} s)")
        with session_scope(engine) as session:
            for key, value in {"demo": "1", "scale": scale.name, "seed": str(seed),
                               "until": now.isoformat(), "seeded_at": datetime.now(ZoneInfo("UTC")).isoformat()}.items():
                session.merge(Meta(key=key, value=value))
        t0 = time.perf_counter()
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


def is_demo(session) -> bool:  # noqa: ANN001
    row = session.execute(select(Meta.value).where(Meta.key == "demo")).scalar_one_or_none()
    return row == "1"
