"""Proof that two concurrent attempts really overlapped, for the concurrency tests (issue 19, finding 10:
checking the outcome of one trial proves nothing if the two attempts ran one after the other).

A hook on the engine holds the first thread that reaches the critical section (the first statement
starting with `marker`, e.g. "UPDATE events") until the other thread is provably inside its own attempt:
- SQLite (one writer at a time): until the other thread has issued its BEGIN IMMEDIATE — it is then
  queued on the write lock the first one holds, and is held back a little longer so that it really
  waits there;
- PostgreSQL: until the other thread reaches the same point (a barrier) — both transactions have read
  what they read before either writes.
Each trial counts as proved only when that happened; a test asserts `proved == trials`.
"""
from __future__ import annotations

import threading
import time

from sqlalchemy import Engine, event

WAIT = 20.0  # seconds before giving up on the other party (a test failure, not a hang)


class Overlap:
    def __init__(self, engine: Engine, marker: str, parties: int = 2) -> None:
        self.engine = engine
        self.marker = marker.upper()
        self.parties = parties
        self.sqlite = engine.dialect.name == "sqlite"
        self.proved = 0
        self._lock = threading.Lock()
        self._armed = False
        event.listen(engine, "before_cursor_execute", self._hook)

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._hook)

    def __enter__(self) -> "Overlap":
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.close()

    def arm(self) -> None:
        """Start a trial: the next `parties` threads to run statements take part."""
        with self._lock:
            self._begun: set[str] = set()
            self._held: set[str] = set()
            self._began = threading.Condition(self._lock)
            self._barrier = threading.Barrier(self.parties, timeout=WAIT)
            self._armed = True

    def _hook(self, conn, cursor, statement, params, context, executemany) -> None:  # noqa: ANN001
        if not self._armed:
            return
        me = threading.current_thread().name
        text = statement.lstrip().upper()
        if text.startswith("BEGIN"):
            with self._began:
                self._begun.add(me)
                self._began.notify_all()
            return
        if not text.startswith(self.marker):
            return
        with self._lock:
            if me in self._held:
                return
            self._held.add(me)
            first = len(self._held) == 1
        if self.sqlite:
            if not first:
                return  # it got here after the first one committed: nothing to prove
            with self._began:
                if not self._began.wait_for(lambda: len(self._begun) >= self.parties, timeout=WAIT):
                    raise AssertionError("the other attempt never started its transaction")
            time.sleep(0.02)  # let it block on the write lock this transaction holds
            with self._lock:
                self.proved += 1
        else:
            self._barrier.wait()
            if first:
                with self._lock:
                    self.proved += 1
