"""One progress bar over the stages of an import — reading the file, checking its rows, writing them.

An importer takes `progress(done, total)` (the import screen's bar; None from the command line) and
splits it: `read, check, write = stages(progress, 1, 1, 0 if check_only else 1)`. Each stage reports
its own (done, total); the bar moves through that stage's share, in order, never backwards. A stage
of weight 0 (a check writes nothing) gets None.
"""
from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int], None]
_SCALE = 1000  # steps per unit of weight: fine enough for a bar drawn in whole percent


def stages(progress: Progress | None, *weights: int) -> list[Progress | None]:
    """A callback per stage (None for a weight of 0, or when there is no bar)."""
    total = sum(weights) * _SCALE
    out: list[Progress | None] = []
    start = 0
    for weight in weights:
        out.append(None if progress is None or not weight else _stage(progress, start, weight * _SCALE, total))
        start += weight * _SCALE
    return out


def _stage(progress: Progress, start: int, span: int, total: int) -> Progress:
    def report(done: int, of: int) -> None:
        progress(start + span * min(done, of) // max(of, 1), total)

    return report
