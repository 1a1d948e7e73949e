"""Issue 19, audit (等保三级): a stated retention (≥ 180 days) with archiving that works under the
append-only guard, and an RFC 5424 syslog forwarder for the security operations centre."""
from __future__ import annotations

import copy
import socket
from datetime import timedelta

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import DatabaseError

import settings
from auth import audit, audit_archive, audit_cli, syslog
from auth.audit_guard import install_audit_guard
from store.db import session_scope
from store.models import AuditEntry, utcnow
from store.models.security import AuditArchive


@pytest.fixture
def guarded(db_engine):
    with db_engine.begin() as conn:
        install_audit_guard(conn)
    return db_engine


def _rows(engine, **where) -> list[AuditEntry]:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        stmt = select(AuditEntry).order_by(AuditEntry.id)
        for k, v in where.items():
            stmt = stmt.where(getattr(AuditEntry, k) == v)
        return s.execute(stmt).scalars().all()


def _seed(engine, ages_days: list[int]) -> None:  # noqa: ANN001
    now = utcnow()
    with session_scope(engine) as s:
        s.execute(insert(AuditEntry), [
            {"at": now - timedelta(days=d), "actor": f"u{i}", "action": "login", "client": "10.0.0.1",
             "detail": {"age": d, "名字": "张三"}} for i, d in enumerate(ages_days)])


def test_archive_moves_old_rows_to_a_file_and_deletes_them_under_the_guard(guarded, tmp_path):
    _seed(guarded, [400, 300, 200, 181, 179, 10, 0])
    result = audit_archive.archive(guarded, actor="cli:root", directory=tmp_path)
    assert result.rows == 4 and result.file.exists() and result.file.name.endswith(".jsonl.gz")
    archived = audit_archive.read_archive(result.file)
    assert [r["detail"]["age"] for r in archived] == [400, 300, 200, 181]
    assert archived[0]["detail"]["名字"] == "张三"
    left = _rows(guarded, action="login")
    assert [r.detail["age"] for r in left] == [179, 10, 0]
    [note] = _rows(guarded, action="audit_archive")
    assert note.detail["rows"] == 4 and note.detail["sha256"] == result.sha256
    with session_scope(guarded, readonly=True) as s:
        [record] = s.execute(select(AuditArchive)).scalars().all()
    assert (record.rows, record.sha256, record.file) == (4, result.sha256, str(result.file))
    # Nothing more to do the second time.
    assert audit_archive.archive(guarded, actor="cli:root", directory=tmp_path).rows == 0


def test_the_guard_still_refuses_young_rows_and_any_update(guarded, tmp_path):
    _seed(guarded, [300, 100, 1])
    audit_archive.archive(guarded, actor="cli:root", directory=tmp_path)
    # A forged archive record with a cutoff of "now" does not open the last 180 days.
    with session_scope(guarded) as s:
        s.add(AuditArchive(actor="x", archived_before=utcnow() + timedelta(days=1), rows=0, file="-", sha256="-"))
    for stmt in (delete(AuditEntry), update(AuditEntry).values(actor="x")):
        with pytest.raises(DatabaseError, match="append-only"):
            with session_scope(guarded) as s:
                s.execute(stmt)
    assert len(_rows(guarded, action="login")) == 2
    # The archive records themselves cannot be rewritten.
    for stmt in (delete(AuditArchive), update(AuditArchive).values(rows=99)):
        with pytest.raises(DatabaseError, match="append-only"):
            with session_scope(guarded) as s:
                s.execute(stmt)


def test_without_an_archive_record_even_old_rows_stay(guarded):
    _seed(guarded, [500])
    with pytest.raises(DatabaseError, match="append-only"):
        with session_scope(guarded) as s:
            s.execute(delete(AuditEntry))


def test_retention_below_six_months_is_refused(db_engine, tmp_path):
    with pytest.raises(audit_archive.ArchiveError, match="不能少于 180 天"):
        audit_archive.archive(db_engine, actor="cli:root", days=90, directory=tmp_path)
    assert settings.get_settings()["audit"]["retention_days"] >= 180


def test_archive_command(db_engine, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", db_engine.url.render_as_string(hide_password=False))
    settings.reload_settings()
    try:
        with db_engine.begin() as conn:
            install_audit_guard(conn)
        _seed(db_engine, [365, 2])
        from manage import main

        assert main(["audit", "archive", "--dir", str(tmp_path)]) == 0
        assert "已归档 1 条" in capsys.readouterr().out
        assert main(["audit", "archive", "--retention-days", "30", "--dir", str(tmp_path)]) == 2
        assert "不能少于 180 天" in capsys.readouterr().err
        assert main(["audit", "flush"]) == 0
    finally:
        monkeypatch.undo()
        settings.reload_settings()
    assert audit_cli.register  # registered in manage.py's command table


# ------------------------------------------------------------------ syslog (RFC 5424)

ROW = {"id": 7, "at": "2026-10-05T01:00:00.250000+00:00", "actor": "zhiban", "actor_role": "duty_officer",
       "action": "login_failed", "object_type": "user", "object_id": 'a"b]c\\d', "scope": "440900",
       "client": "10.0.0.1", "detail": {"reason": "bad_password", "名字": "张三"}}


def test_rfc5424_line():
    line = syslog.Format(hostname="dash01").line(ROW)
    header, _, rest = line.partition(" [")
    pri_version, timestamp, host, app, procid, msgid = header.split(" ")
    assert pri_version == f"<{10 * 8 + 4}>1"  # authpriv.warning
    assert timestamp == "2026-10-05T01:00:00.250000Z" and host == "dash01" and app == "cityops"
    assert procid.isdigit() and msgid == "login_failed"
    sd, _, msg = rest.partition("] \ufeff")
    assert sd.startswith("audit@32473 id=\"7\" actor=\"zhiban\"")
    assert 'object_id="a\\"b\\]c\\\\d"' in sd  # RFC 5424 §6.3.3 escapes
    assert '"名字": "张三"' in msg
    assert syslog.Format().line({**ROW, "action": "login"}).startswith(f"<{10 * 8 + 5}>1 ")  # notice


def test_tcp_framing_and_udp_cut():
    assert syslog.frame_tcp(b"<13>1 - - - - - - x") == b"19 <13>1 - - - - - - x"
    cut = syslog.cut_udp(("汉" * 5000).encode())
    assert len(cut) <= syslog.UDP_MAX and cut.decode("utf-8")


@pytest.fixture
def collector():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    yield sock
    sock.close()


def test_committed_audit_rows_reach_the_collector_and_rolled_back_ones_do_not(db_engine, collector, monkeypatch):
    cfg = copy.deepcopy(settings.get_settings())
    cfg["audit"]["syslog"].update(enabled=True, host="127.0.0.1", port=collector.getsockname()[1], protocol="udp")
    monkeypatch.setattr(settings, "get_settings", lambda: cfg)
    with session_scope(db_engine) as s:
        audit.record(s, "zhiban", "login", object_type="user", object_id="zhiban", client="10.0.0.1")
    with pytest.raises(RuntimeError):
        with session_scope(db_engine) as s:
            audit.record(s, "ghost", "login_failed", object_type="user", object_id="ghost")
            raise RuntimeError("the action failed: its audit row rolls back with it")
    with session_scope(db_engine) as s:
        audit.record(s, "lingdao", "export", object_type="events", detail={"rows": 3})
    syslog.forwarder().flush()
    received = [collector.recv(65535).decode("utf-8") for _ in range(2)]
    assert " login " in received[0] and 'actor="zhiban"' in received[0]
    assert " export " in received[1] and '"rows": 3' in received[1]
    assert all("ghost" not in r for r in received)
    collector.settimeout(0.3)
    with pytest.raises(socket.timeout):
        collector.recv(65535)


def test_forwarding_is_off_by_default():
    assert settings.get_settings()["audit"]["syslog"]["enabled"] is False
    assert syslog.forwarder() is None
