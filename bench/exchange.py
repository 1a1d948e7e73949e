"""The exchange figures of `python -m bench`: what the outbox costs a workflow action, and how fast the
worker empties it towards a local stand-in upper platform.

- exchange_transition_ms / exchange_transition_no_outbox_ms: a 立案 on the benchmark city's cases, with
  and without the outbox write (median of many, each in a savepoint rolled back: the database is left
  as it was); exchange_outbox_write_ms is the difference.
- exchange_throughput_rps: records per second from written to acknowledged, one worker, batches of
  [exchange].batch_size, to a stand-in platform on 127.0.0.1 (HMAC-signed JSON, de-duplicated there),
  on a scratch database of the same backend; exchange_write_rps: records per second written, one
  transaction each, as workflow steps write them.

    python -m bench.exchange [--backend sqlite|postgres] [--records 5000]   # this figure alone
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

import settings
from events import workflow
from exchange import config as exchange_config
from exchange.destinations import UpperDestination
from exchange.worker import Worker
from store.demo_scale import SCALES
from store import outbox
from store.db import dispose_engines, get_engine, session_scope
from store.models import Base, Event, OutboxDelivery
from store.scope import Viewer

DUTY = Viewer("bench", "duty_officer", "440900", display_name="基准测试")
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class _StandIn:
    """A local upper platform: stores record ids (a set: it de-duplicates), answers 200."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        lock = threading.Lock()
        ids = self.ids

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

            def do_POST(self) -> None:  # noqa: N802
                doc = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                with lock:
                    ids.update(r["recordId"] for r in doc["records"])
                body = b'{"ok":true}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/receive"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def transition_cost(url: str, n: int = 300) -> dict:
    """Median ms of a 立案 (register) with and without the outbox write, on reported cases of the
    benchmark database, each inside a savepoint that is rolled back."""
    engine = get_engine(url)
    with session_scope(engine, readonly=True) as s:
        cases = list(s.scalars(select(Event.id).where(Event.status == "reported", Event.city_code == DUTY.zone_code)
                               .order_by(Event.id.desc()).limit(50)))  # the duty officer's city (a province has five)
    if not cases:
        return {}
    real = outbox.record_object
    skip = lambda *a, **k: None  # noqa: E731 - the outbox write left out

    # With and without alternate step by step, so that a busy machine weighs on both alike.
    times: dict[bool, list[float]] = {True: [], False: []}
    try:
        with Session(engine) as session, session.begin():
            for i in range(2 * n + 20):
                with_outbox = i % 2 == 0
                workflow.outbox.record_object = real if with_outbox else skip
                nested = session.begin_nested()
                t0 = time.perf_counter()
                workflow.transition(session, cases[(i // 2) % len(cases)], "register", DUTY)
                session.flush()
                elapsed = (time.perf_counter() - t0) * 1000
                nested.rollback()
                session.expire_all()
                if i >= 20:  # the first ones warm the caches (deadlines, routing, statements)
                    times[with_outbox].append(elapsed)
            session.rollback()
    finally:
        workflow.outbox.record_object = real
    with_, without = statistics.median(times[True]), statistics.median(times[False])
    return {"exchange_transition_ms": round(with_, 3), "exchange_transition_no_outbox_ms": round(without, 3),
            "exchange_outbox_write_ms": round(with_ - without, 3)}


@contextmanager
def scratch_database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'exchange.db'}"
            dispose_engines()
        return
    name = "cityops_bench_exchange"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def throughput(backend: str, records: int = 5000) -> dict:
    """Records written (one transaction each) and then sent to a local stand-in by one worker."""
    stand_in = _StandIn()
    saved = {k: os.environ.get(k) for k in ("CITYOPS_EXCHANGE_UPPER_URL", "CITYOPS_EXCHANGE_UPPER_SECRET")}
    os.environ.update(CITYOPS_EXCHANGE_UPPER_URL=stand_in.url, CITYOPS_EXCHANGE_UPPER_SECRET="bench-secret")
    settings.reload_settings()
    try:
        with scratch_database(backend) as url:
            engine = get_engine(url)
            Base.metadata.create_all(engine)
            t0 = time.perf_counter()
            for i in range(records):
                with session_scope(engine) as s:
                    outbox.record(s, "case.register", "event", i % 500, {"id": i % 500, "status": "registered"},
                                  region={"city_code": "440900", "district_code": "440902"})
            write_s = time.perf_counter() - t0
            cfg = dataclasses.replace(exchange_config.load(), deadline_scan_seconds=0)
            worker = Worker(engine, cfg, destinations=[UpperDestination(cfg)])
            t0 = time.perf_counter()
            while True:
                worker.run_once()
                with session_scope(engine, readonly=True) as s:
                    left = s.scalar(select(OutboxDelivery.id).where(OutboxDelivery.destination == "upper",
                                                                    OutboxDelivery.state == "pending").limit(1))
                if left is None:
                    break
            send_s = time.perf_counter() - t0
            assert len(stand_in.ids) == records, (len(stand_in.ids), records)
    finally:
        stand_in.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        settings.reload_settings()
    return {"exchange_records": records, "exchange_write_rps": round(records / write_s, 1),
            "exchange_throughput_rps": round(records / send_s, 1), "exchange_batch_size": cfg.batch_size}


def exchange_figures(url: str, records: int = 5000) -> dict:
    backend = "sqlite" if url.startswith("sqlite") else "postgres"
    return {**transition_cost(url), **throughput(backend, records)}


def main(argv: list[str] | None = None) -> int:
    # bench.measure builds (or reuses) the benchmark database; imported here, as `python -m bench` does.
    from bench import measure  # noqa: PLC0415 - only this entry point needs the database builder

    parser = argparse.ArgumentParser(prog="python -m bench.exchange", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="demo", choices=list(SCALES))
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--records", type=int, default=5000)
    args = parser.parse_args(argv)
    url = measure.database_url(args.scale, args.backend)
    measure.ensure_database(url, args.scale, rebuild=False)
    started = datetime.now(timezone.utc)
    figures = exchange_figures(url, args.records)
    print(measure.table({"scale": args.scale, "backend": args.backend, **figures}, {}))
    print(f"({(datetime.now(timezone.utc) - started).total_seconds():.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
