"""Two commanders confirm plans that compete for the same team or the same stock — from two threads and
from two processes, on SQLite and PostgreSQL. Never both, never negative stock, nothing half-reserved.

Each round is released by a barrier so both confirmations start together. Round kinds:
  team  — both want the same team;
  stock — both want 300 of the same 500 sandbags;
  mixed — each wants its own team plus 300 of the same 500 sandbags (the loser's team must stay free).
"""
from __future__ import annotations

import multiprocessing as mp
import sys
import threading
import types

import pytest
from sqlalchemy import func, select

from emergency.dispatch import DispatchConflict, Selection, confirm
from emergency.incidents import open_incident
from store.db import get_engine, session_scope
from store.models import Dispatch, InventoryItem, Resource
from tests.test_emergency_support import COMMANDER, COMMANDER_2, add_resource, add_stock

KINDS = ("team", "stock", "mixed")


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
    rounds = 9
    a, b, plans = _setup(city_engine, rounds)
    barrier = threading.Barrier(2)
    results: dict[str, list[str]] = {"a": [], "b": []}

    def worker(name, incident_id, actor, pick):  # noqa: ANN001
        for r in range(rounds):
            barrier.wait(timeout=60)
            results[name].append(_try(city_engine, incident_id, plans[r][pick], actor))

    threads = [threading.Thread(target=worker, args=("a", a, COMMANDER, 0)),
               threading.Thread(target=worker, args=("b", b, COMMANDER_2, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(results["a"]) == len(results["b"]) == rounds
    _check(city_engine, a, b, plans, list(zip(results["a"], results["b"])))


def _process_worker(url, incident_id, actor, selections, barrier, queue):  # noqa: ANN001
    # Any failure in the child is sent back, so the parent fails at once with the reason instead of
    # waiting out its timeout on an empty queue.
    try:
        engine = get_engine(url)
        out = []
        for sel in selections:
            barrier.wait(timeout=120)
            out.append(_try(engine, incident_id, sel, actor))
        queue.put((actor.username, out))
    except BaseException as exc:  # noqa: BLE001
        import traceback

        queue.put((actor.username, f"CHILD FAILED: {exc!r}\n{traceback.format_exc()}"))
        barrier.abort()


def test_two_processes_compete(city_engine, monkeypatch):
    # Spawned children re-run the parent's __main__ file. After an AppTest earlier in the same pytest
    # process, __main__ points at a page script, which a child must not run: give it a blank one.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    rounds = 6
    a, b, plans = _setup(city_engine, rounds)
    url = city_engine.url.render_as_string(hide_password=False)
    ctx = mp.get_context("spawn")  # a fresh interpreter each: no inherited connections or locks
    barrier = ctx.Barrier(2)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_process_worker, args=(url, a, COMMANDER, [p[0] for p in plans], barrier, queue)),
             ctx.Process(target=_process_worker, args=(url, b, COMMANDER_2, [p[1] for p in plans], barrier, queue))]
    for p in procs:
        p.start()
    got = dict(queue.get(timeout=240) for _ in procs)
    failures = [v for v in got.values() if isinstance(v, str)]
    assert not failures, failures[0]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    _check(city_engine, a, b, plans, list(zip(got[COMMANDER.username], got[COMMANDER_2.username])))


@pytest.mark.parametrize("n", [4])
def test_many_threads_never_oversubscribe_stock(city_engine, n):
    """n commanders each ask for 200 of 500 sandbags at once: exactly two succeed, 100 stay free."""
    with session_scope(city_engine) as s:
        inv = add_stock(s, "W-big", 110.4, 21.4, {"沙袋": 500})[0].id
        incidents = [open_incident(s, incident_type="内涝", level="IV", lon=110.3 + 0.1 * i, lat=21.3,
                                   actor=COMMANDER).id for i in range(n)]
    barrier = threading.Barrier(n)
    results = []

    def worker(iid):  # noqa: ANN001
        barrier.wait(timeout=60)
        results.append(_try(city_engine, iid, Selection(stock=((inv, 200),)), COMMANDER))

    threads = [threading.Thread(target=worker, args=(iid,)) for iid in incidents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(r[:2] for r in results) == ["co"] * (n - 2) + ["ok"] * 2
    with session_scope(city_engine, readonly=True) as s:
        row = s.get(InventoryItem, inv)
        assert (row.quantity, row.reserved) == (500, 400)
