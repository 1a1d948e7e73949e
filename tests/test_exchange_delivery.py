"""Upward sync against a stand-in upper platform (a real HTTP server on 127.0.0.1), on SQLite and
PostgreSQL: with HTTP 500s, timeouts (a lost acknowledgement), dropped and refused connections, a worker
killed mid-batch and several workers at once, the set of records the platform holds equals the set
written — no loss, no duplicate — each case's records arrive in order, and the only records sent twice
are ones whose acknowledgement never came back."""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import random
import signal
import ssl
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

import settings
from exchange import actions, config as exchange_config
from exchange.destinations import UpperDestination
from exchange.queue import backoff_seconds
from exchange.views import ExchangeViews
from exchange.worker import Worker
from store import outbox
from store.db import session_scope
from store.models import OutboxDelivery
from store.scope import Viewer
from tests.support.exchange_standins import StandIn

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cret-for-tests"
ADMIN = Viewer("xitong", "sys_admin", "440900")


@pytest.fixture
def upper(monkeypatch):
    """A stand-in upper platform, and the settings pointing at it (records fan out to `upper`)."""
    stand_in = StandIn(secret=SECRET)
    monkeypatch.setenv("CITYOPS_EXCHANGE_UPPER_URL", stand_in.url)
    monkeypatch.setenv("CITYOPS_EXCHANGE_UPPER_SECRET", SECRET)
    settings.reload_settings()
    yield stand_in
    stand_in.release()
    stand_in.stop()
    monkeypatch.delenv("CITYOPS_EXCHANGE_UPPER_URL")
    monkeypatch.delenv("CITYOPS_EXCHANGE_UPPER_SECRET")
    settings.reload_settings()


def fast_config(**kw) -> exchange_config.ExchangeConfig:
    values = dict(batch_size=7, lease_seconds=2.0, backoff_base_seconds=0.02, backoff_max_seconds=0.2,
                  upper_timeout_seconds=0.5, deadline_scan_seconds=3600)
    return dataclasses.replace(exchange_config.load(), **{**values, **kw})


def write_records(engine, keys: int = 6, per_key: int = 8) -> dict[str, str]:  # noqa: ANN001
    """Records interleaved over `keys` cases (one transaction each, as workflow steps are);
    recordId → its order key."""
    out = {}
    for step in range(per_key):
        for k in range(keys):
            with session_scope(engine) as s:
                rec = outbox.record(s, "case.note", "event", 1000 + k, {"id": 1000 + k, "step": step},
                                    region={"city_code": "440900"})
                s.flush()
                out[f"440900-{rec.id}"] = rec.order_key
    return out


def pending(engine) -> int:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return s.scalar(select(func.count()).select_from(OutboxDelivery).where(
            OutboxDelivery.destination == "upper", OutboxDelivery.state == "pending"))


def drain(worker: Worker, engine, timeout: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.time() + timeout
    while pending(engine) and time.time() < deadline:
        worker.run_once()
        time.sleep(0.02)
    assert pending(engine) == 0, "backlog not drained"


def assert_in_order(stand_in: StandIn, sent: dict[str, str]) -> None:
    """Each case's records first arrived in the order they were written."""
    by_key: dict[str, list[int]] = {}
    for rid in stand_in.first_arrivals():
        by_key.setdefault(sent[rid], []).append(int(rid.rsplit("-", 1)[1]))
    for key, ids in by_key.items():
        assert ids == sorted(ids), (key, ids)


def test_faults_lose_nothing_and_resend_only_unacknowledged(db_engine, upper):
    sent = write_records(db_engine)
    cfg = fast_config()
    worker = Worker(db_engine, cfg, destinations=[UpperDestination(cfg)], rng=random.Random(1))
    # The platform is down: connections refused. Nothing is lost, the destination pauses, the reason shows.
    upper.stop()
    for _ in range(3):
        worker.run_once()
        time.sleep(0.25)
    with ExchangeViews.open(db_engine, ADMIN) as views:
        state = {r["destination"]: r for r in views.destination_status()}["upper"]
    assert state["pending"] == len(sent) and "连接" in (state["last_error"] or "")
    upper.start()
    # Back, but faulty: a 500, an answer after the client gave up (stored, acknowledgement lost), a
    # dropped connection, a 503; then fine.
    upper.script = [500, ("sleep", 1.0), "drop", 503]
    drain(worker, db_engine)
    assert set(upper.stored) == set(sent)
    lost_ack = {rid for what, ids in upper.batches if isinstance(what, tuple) for rid in ids}
    assert lost_ack and set(upper.duplicates()) <= lost_ack
    assert len(upper.duplicates()) == len(set(upper.duplicates()))  # resent once, not again and again
    assert upper.bad_signatures == 0
    assert_in_order(upper, sent)
    with session_scope(db_engine, readonly=True) as s:
        states = dict(s.execute(select(OutboxDelivery.state, func.count()).where(OutboxDelivery.destination == "upper")
                                .group_by(OutboxDelivery.state)).all())
    assert states == {"delivered": len(sent)}


def test_two_workers_at_once_never_send_a_record_twice(db_engine, upper):
    sent = write_records(db_engine, keys=8, per_key=10)
    upper.default = ("sleep", 0.01)  # a little latency widens every window
    # Leases long enough never to expire here: a lease that runs out is resent on purpose (the killed
    # worker's test), and on a loaded machine a 2 s lease can, which is not what this test is about.
    cfg = fast_config(upper_timeout_seconds=5.0, lease_seconds=60.0)
    workers = [Worker(db_engine, cfg, destinations=[UpperDestination(cfg)], owner=f"w{i}", rng=random.Random(i))
               for i in range(3)]
    errors: list[BaseException] = []

    def run(w: Worker) -> None:
        try:
            deadline = time.time() + 60
            while pending(db_engine) and time.time() < deadline:
                w.run_once()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert set(upper.stored) == set(sent)
    assert upper.duplicates() == []  # no record sent twice, not even to a de-duplicating receiver
    assert_in_order(upper, sent)


def test_worker_killed_mid_batch_resends_only_that_batch(db_engine, upper):
    sent = write_records(db_engine, keys=4, per_key=5)
    upper.script = ["ok", "hold"]
    url = db_engine.url.render_as_string(hide_password=False)
    env = dict(os.environ, DATABASE_URL=url, PYTHONPATH=str(ROOT), CITYOPS_EXCHANGE_BATCH_SIZE="5",
               CITYOPS_EXCHANGE_LEASE_SECONDS="2", CITYOPS_EXCHANGE_UPPER_TIMEOUT_SECONDS="60",
               CITYOPS_EXCHANGE_POLL_SECONDS="0.1")
    proc = subprocess.Popen([sys.executable, "manage.py", "exchange", "run"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert upper.held.wait(90), "the worker never sent its second batch"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # mid-batch: the platform holds the batch, no acknowledgement
        proc.wait(30)
    upper.release()
    held = next(ids for what, ids in upper.batches if what == "hold")
    first = next(ids for what, ids in upper.batches if what == "ok")
    worker = Worker(db_engine, fast_config(), owner="after-restart")
    worker.destinations = [d for d in worker.destinations if d.name == "upper"]
    drain(worker, db_engine)
    assert set(upper.stored) == set(sent)
    assert set(upper.duplicates()) == set(held)  # only the unacknowledged batch went out again
    assert not set(first) & set(upper.duplicates())
    assert_in_order(upper, sent)


def test_a_refused_record_waits_failed_and_goes_again_on_replay(sqlite_engine, upper):
    sent = write_records(sqlite_engine, keys=2, per_key=2)
    bad = sorted(sent)[0]
    upper.reject = {bad: "字段缺失"}
    cfg = fast_config()
    worker = Worker(sqlite_engine, cfg, destinations=[UpperDestination(cfg)])
    drain(worker, sqlite_engine)
    assert set(upper.stored) == set(sent) - {bad}
    with ExchangeViews.open(sqlite_engine, ADMIN) as views:
        failures = views.failures()
    assert [f["state"] for f in failures] == ["failed"] and "字段缺失" in failures[0]["last_error"]
    upper.reject = {}
    assert "1 条" in actions.replay(sqlite_engine, ADMIN, "upper")
    drain(worker, sqlite_engine)
    assert set(upper.stored) == set(sent)


def test_replay_needs_the_exchange_capability(sqlite_engine):
    with pytest.raises(Exception, match="无权"):
        actions.replay(sqlite_engine, Viewer("zhiban", "duty_officer", "440900"), "upper")
    with pytest.raises(Exception, match="无权"):
        with ExchangeViews.open(sqlite_engine, Viewer("lingdao", "leader", "440900")) as views:
            views.destination_status()


def test_backoff_is_exponential_capped_and_jittered():
    rng = random.Random(7)
    for n in range(1, 12):
        full = min(900, 5 * 2 ** (n - 1))
        values = [backoff_seconds(n, 5, 900, rng) for _ in range(50)]
        assert all(full / 2 <= v <= full for v in values)
        assert len({round(v, 6) for v in values}) > 40  # spread, so failing rows do not retry together


def _certificates(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA (PEM)."""
    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def cert(subject: str, key, issuer_key, issuer: str, *, ca=False, san=None):  # noqa: ANN001, ANN202
        b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(datetime.now(timezone.utc) - timedelta(days=1))
             .not_valid_after(datetime.now(timezone.utc) + timedelta(days=2))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    out = {}
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = cert("测试 CA", ca_key, ca_key, "测试 CA", ca=True)
    for label, key, c in (("ca", ca_key, ca),
                          ("server", (k := ec.generate_private_key(ec.SECP256R1())),
                           cert("127.0.0.1", k, ca_key, "测试 CA", san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])),
                          ("client", (k2 := ec.generate_private_key(ec.SECP256R1())),
                           cert("440900", k2, ca_key, "测试 CA"))):
        (folder / f"{label}.crt").write_bytes(c.public_bytes(serialization.Encoding.PEM))
        (folder / f"{label}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                                serialization.PrivateFormat.PKCS8,
                                                                serialization.NoEncryption()))
        out[label] = folder / f"{label}.crt"
        out[f"{label}_key"] = folder / f"{label}.key"
    return out


def test_mutual_tls_to_the_upper_platform(sqlite_engine, monkeypatch, tmp_path):
    certs = _certificates(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs["server"], certs["server_key"])
    ctx.load_verify_locations(certs["ca"])
    ctx.verify_mode = ssl.CERT_REQUIRED  # the platform accepts only clients with a certificate from its CA
    platform = StandIn(secret=SECRET, ssl_context=ctx)
    try:
        monkeypatch.setenv("CITYOPS_EXCHANGE_UPPER_URL", platform.url)
        monkeypatch.setenv("CITYOPS_EXCHANGE_UPPER_SECRET", SECRET)
        settings.reload_settings()
        sent = write_records(sqlite_engine, keys=2, per_key=2)
        # Without our certificate the handshake fails: nothing is lost, the reason says TLS.
        anonymous = fast_config(upper_ca_bundle=str(certs["ca"]))
        Worker(sqlite_engine, anonymous, destinations=[UpperDestination(anonymous)]).run_once()
        with ExchangeViews.open(sqlite_engine, ADMIN) as views:
            state = {r["destination"]: r for r in views.destination_status()}["upper"]
        assert state["pending"] == len(sent) and state["last_error"]
        assert not platform.stored
        mutual = fast_config(upper_ca_bundle=str(certs["ca"]), upper_client_cert=str(certs["client"]),
                             upper_client_key=str(certs["client_key"]))
        worker = Worker(sqlite_engine, mutual, destinations=[UpperDestination(mutual)])
        time.sleep(0.3)  # the destination's pause after the failure
        drain(worker, sqlite_engine)
        assert set(platform.stored) == set(sent)
    finally:
        platform.stop()
        monkeypatch.delenv("CITYOPS_EXCHANGE_UPPER_URL")
        monkeypatch.delenv("CITYOPS_EXCHANGE_UPPER_SECRET")
        settings.reload_settings()
