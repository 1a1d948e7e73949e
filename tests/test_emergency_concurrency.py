"""Two commanders confirm plans that compete for the same team or the same stock — from two threads and
from two processes, on SQLite and PostgreSQL. Never both, never negative stock, nothing half-reserved.

Each round is released by a barrier so both confirmations start together, and ROUNDS rounds each prove
that the two confirmations overlapped (issue 19, finding 10): the first to enter its critical section
(its UPDATE of its own incident, before any contested row) is held there until the other has started
its transaction (SQLite: queued on the write lock) or reached the same point (PostgreSQL) —
tests/support/overlap.py for threads, the same rule through marker files for processes. Round kinds:
  team  — both want the same team;
  stock — both want 300 of the same 500 sandbags;
  mixed — each wants its own team plus 300 of the same 500 sandbags (the loser's team must stay free).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
import time
import types

import pytest
from sqlalchemy import func, select

from emergency.dispatch import DispatchConflict, Selection, confirm
from emergency.incidents import open_incident
from store.db import get_engine, session_scope
from store.models import Dispatch, InventoryItem, Resource
from tests.support.overlap import Overlap
from tests.test_emergency_support import COMMANDER, COMMANDER_2, add_resource, add_stock

KINDS = ("team", "stock", "mixed")
ROUNDS = 51  # ≥ 50, a multiple of the three kinds
MARKER = "UPDATE INCIDENTS"


def _setup(engine, rounds: int) -> tuple[int, int, list[tuple[Selection, Selection]]]:  # noqa: ANN001
    """Two incidents and, per round, the two competing selections."""
    plans = []
    with session_scope(engine) as s:
        a = open_incident(s, incident_type="内涝", level="III", lon=110.3, lat=21.3, actor=COMMANDER).id
        b = open_incident(s, incident_type="内涝", level="III", lon=110.7, lat=21.7, actor=COMMANDER_2).id
        for r in range(rounds):
            kind = KINDS[r % 3]
            add_resource(s, f"T{r:02d}a", "排涝抢险队", 110.5, 21.5)
            add_resource(s, f"T{r:02d}b", "排涝抢险队", 110.5, 21.6)
            inv = add_stock(s, f"W{r:02d}", 110.4, 21.4, {"沙袋": 500})[0].id
            if kind == "team":
                plans.append((Selection(units=((f"T{r:02d}a", 1),)), Selection(units=((f"T{r:02d}a", 1),))))
            elif kind == "stock":
                plans.append((Selection(stock=((inv, 300),)), Selection(stock=((inv, 300),))))
            else:
                plans.append((Selection(units=((f"T{r:02d}a", 1),), stock=((inv, 300),)),
                              Selection(units=((f"T{r:02d}b", 1),), stock=((inv, 300),))))
    return a, b, plans


def _try(engine, incident_id, selection, actor) -> str:  # noqa: ANN001
    try:
        with session_scope(engine) as s:
            confirm(s, incident_id, selection, actor)
        return "ok"
    except DispatchConflict as exc:
        return "conflict:" + "|".join(exc.items)


def _check(engine, a: int, b: int, plans, outcomes: list[tuple[str, str]]) -> None:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        for r, ((sel_a, sel_b), (out_a, out_b)) in enumerate(zip(plans, outcomes)):
            kind = KINDS[r % 3]
            # Exactly one winner per round, the loser told why.
            assert sorted([out_a[:2], out_b[:2]]) == ["co", "ok"], (r, kind, out_a, out_b)
            loser_msg = out_b if out_a == "ok" else out_a
            assert ("已调派" in loser_msg) if kind == "team" else ("沙袋" in loser_msg and "现仅可用 200袋" in loser_msg)
            winner, w_sel, l_sel = (a, sel_a, sel_b) if out_a == "ok" else (b, sel_b, sel_a)
            inv = s.scalars(select(InventoryItem).where(InventoryItem.resource_id == f"W{r:02d}")).one()
            assert inv.quantity == 500 and 0 <= inv.reserved <= inv.quantity
            assert inv.reserved == (0 if kind == "team" else 300)
            for rid, _ in w_sel.units:
                unit = s.get(Resource, rid)
                assert (unit.status, unit.incident_id, unit.version) == ("dispatched", winner, 2)
            for rid, _ in l_sel.units:
                if rid not in dict(w_sel.units):
                    unit = s.get(Resource, rid)  # nothing half-reserved: the loser's own team is untouched
                    assert (unit.status, unit.incident_id, unit.version) == ("available", None, 1)
            n_disp = s.scalar(select(func.count()).select_from(Dispatch)
                              .where(Dispatch.resource_id.in_([f"T{r:02d}a", f"T{r:02d}b", f"W{r:02d}"])))
            assert n_disp == len(w_sel.units) + len(w_sel.stock)


def test_two_threads_compete(city_engine):
    rounds = ROUNDS
    a, b, plans = _setup(city_engine, rounds)
    # The overlap hook is armed between rounds by the barrier's action (one thread runs it while
    # both wait), so every round starts a fresh trial.
    overlap = Overlap(city_engine, MARKER)
    barrier = threading.Barrier(2, action=overlap.arm)
    results: dict[str, list[str]] = {"a": [], "b": []}

    def worker(name, incident_id, actor, pick):  # noqa: ANN001
        for r in range(rounds):
            barrier.wait(timeout=60)
            results[name].append(_try(city_engine, incident_id, plans[r][pick], actor))

    threads = [threading.Thread(target=worker, args=("a", a, COMMANDER, 0)),
               threading.Thread(target=worker, args=("b", b, COMMANDER_2, 1))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    finally:
        overlap.close()
    assert len(results["a"]) == len(results["b"]) == rounds
    assert overlap.proved == rounds
    _check(city_engine, a, b, plans, list(zip(results["a"], results["b"])))


def _mark(folder: str, name: str) -> None:
    open(os.path.join(folder, name), "w").close()


def _wait_for(folder: str, name: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while not os.path.exists(os.path.join(folder, name)):
        if time.time() > deadline:
            raise AssertionError(f"the other process never reached {name}")
        time.sleep(0.001)


def _process_worker(url, incident_id, actor, other, selections, barrier, queue, folder):  # noqa: ANN001
    # Any failure in the child is sent back, so the parent fails at once with the reason instead of
    # waiting out its timeout on an empty queue.
    try:
        from sqlalchemy import event

        engine = get_engine(url)
        sqlite = engine.dialect.name == "sqlite"
        me = actor.username
        state = {"round": None, "held": False}

        def hold(conn, cursor, statement, params, context, executemany):  # noqa: ANN001
            r, text = state["round"], statement.lstrip().upper()
            if r is None:
                return
            if text.startswith("BEGIN"):
                _mark(folder, f"{me}.{r}.begin")
            elif text.startswith(MARKER) and not state["held"]:
                state["held"] = True
                if sqlite:
                    if os.path.exists(os.path.join(folder, f"{other}.{r}.proved")):
                        return  # the other one went first and already proved this round
                    _wait_for(folder, f"{other}.{r}.begin")  # queued on our write lock
                    time.sleep(0.02)
                else:
                    _mark(folder, f"{me}.{r}.update")
                    _wait_for(folder, f"{other}.{r}.update")  # both inside, before any contested row
                _mark(folder, f"{me}.{r}.proved")

        event.listen(engine, "before_cursor_execute", hold)
        out = []
        for r, sel in enumerate(selections):
            barrier.wait(timeout=120)
            state["round"], state["held"] = r, False
            out.append(_try(engine, incident_id, sel, actor))
            state["round"] = None
        queue.put((actor.username, out))
    except BaseException as exc:  # noqa: BLE001
        import traceback

        queue.put((actor.username, f"CHILD FAILED: {exc!r}\n{traceback.format_exc()}"))
        barrier.abort()


def test_two_processes_compete(city_engine, monkeypatch, tmp_path):
    # Spawned children re-run the parent's __main__ file. After an AppTest earlier in the same pytest
    # process, __main__ points at a page script, which a child must not run: give it a blank one.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    rounds = ROUNDS
    a, b, plans = _setup(city_engine, rounds)
    url = city_engine.url.render_as_string(hide_password=False)
    ctx = mp.get_context("spawn")  # a fresh interpreter each: no inherited connections or locks
    barrier = ctx.Barrier(2)
    queue = ctx.Queue()
    one, two = COMMANDER.username, COMMANDER_2.username
    procs = [ctx.Process(target=_process_worker, args=(url, a, COMMANDER, two, [p[0] for p in plans], barrier,
                                                       queue, str(tmp_path))),
             ctx.Process(target=_process_worker, args=(url, b, COMMANDER_2, one, [p[1] for p in plans], barrier,
                                                       queue, str(tmp_path)))]
    for p in procs:
        p.start()
    got = dict(queue.get(timeout=240) for _ in procs)
    failures = [v for v in got.values() if isinstance(v, str)]
    assert not failures, failures[0]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    _check(city_engine, a, b, plans, list(zip(got[COMMANDER.username], got[COMMANDER_2.username])))
    unproved = [r for r in range(rounds) if not any((tmp_path / f"{u}.{r}.proved").exists() for u in (one, two))]
    assert not unproved, f"rounds without proved overlap: {unproved}"


@pytest.mark.parametrize("n", [4])
def test_many_threads_never_oversubscribe_stock(city_engine, n):
    """n commanders each ask for 200 of 500 sandbags at once: exactly two succeed, 100 stay free —
    ROUNDS times, all n confirmations provably overlapping in each."""
    with session_scope(city_engine) as s:
        stock = [add_stock(s, f"W-big{r}", 110.4, 21.4, {"沙袋": 500})[0].id for r in range(ROUNDS)]
        incidents = [open_incident(s, incident_type="内涝", level="IV", lon=110.3 + 0.1 * i, lat=21.3,
                                   actor=COMMANDER).id for i in range(n)]
    overlap = Overlap(city_engine, MARKER, parties=n)
    barrier = threading.Barrier(n, action=overlap.arm)
    results: list[list[str]] = [[] for _ in range(ROUNDS)]

    def worker(iid):  # noqa: ANN001
        for r, inv in enumerate(stock):
            barrier.wait(timeout=60)
            results[r].append(_try(city_engine, iid, Selection(stock=((inv, 200),)), COMMANDER))

    threads = [threading.Thread(target=worker, args=(iid,)) for iid in incidents]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    finally:
        overlap.close()
    assert overlap.proved == ROUNDS
    with session_scope(city_engine, readonly=True) as s:
        for r, inv in enumerate(stock):
            assert sorted(x[:2] for x in results[r]) == ["co"] * (n - 2) + ["ok"] * 2, (r, results[r])
            row = s.get(InventoryItem, inv)
            assert (row.quantity, row.reserved) == (500, 400)
