"""A demo database seeded once per test run and copied for each pytest-xdist worker.

Seeding the demo city takes 10–20 s; every worker used to seed each demo it needs itself. Now the first
worker to ask seeds it into a directory all workers of this run share (under a file lock), and each worker
then gets a copy of its own (a file copy for SQLite, CREATE DATABASE … TEMPLATE on PostgreSQL), so a test
may still write to its copy without touching another worker's.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from store.db import get_engine


def run_dir(tmp_path_factory) -> Path:  # noqa: ANN001 - pytest's TempPathFactory
    """A directory every worker of this run shares: under xdist, the parent of the workers' base temp
    directories (one per run); without it, this process's own base temp directory."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def run_id() -> str:
    """The same for every worker of one run (xdist's test run uid), else this process."""
    return (os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"p{os.getpid()}")[:12]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sqlite_copy(tmp_path_factory, name: str, build: Callable[[str], None]) -> str:  # noqa: ANN001
    """The URL of this worker's copy of the SQLite database `build(url)` fills once per run."""
    shared = run_dir(tmp_path_factory) / f"{name}.db"
    with _locked(shared.with_suffix(".lock")):
        if not shared.exists():
            building = shared.with_name(f"{name}.building.db")
            url = f"sqlite:///{building}"
            build(url)
            get_engine(url).dispose()
            # Everything into the main file (WAL mode): a copy of that file alone is then the whole database.
            with sqlite3.connect(building) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            os.replace(building, shared)
    mine = tmp_path_factory.mktemp(name) / f"{name}.db"
    shutil.copyfile(shared, mine)
    return f"sqlite:///{mine}"


def postgres_copy(tmp_path_factory, admin_url: str, name: str, copy: str,  # noqa: ANN001
                  build: Callable[[str], None]) -> str:
    """The URL of database `copy`, made from a template database that `build(url)` fills once per run.
    The template is dropped by `drop_template` (any worker; one that needs it later builds it again)."""
    template = f"cityops_tpl_{name}_{run_id()}"
    base = admin_url.rsplit("/", 1)[0]
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with _locked(run_dir(tmp_path_factory) / f"{template}.lock"), admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": template}).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{template}"'))
                try:
                    build(f"{base}/{template}")
                except BaseException:
                    get_engine(f"{base}/{template}").dispose()
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
                    raise
                get_engine(f"{base}/{template}").dispose()  # a template must have no connections
            conn.execute(text(f'CREATE DATABASE "{copy}" TEMPLATE "{template}"'))
    finally:
        admin.dispose()
    return f"{base}/{copy}"


def drop_template(tmp_path_factory, admin_url: str, name: str) -> None:  # noqa: ANN001
    template = f"cityops_tpl_{name}_{run_id()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with _locked(run_dir(tmp_path_factory) / f"{template}.lock"), admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
    finally:
        admin.dispose()
