"""A progress line for the seed on the command line: one stderr line rewritten in place (tqdm is not a
dependency, and one line is all a seed needs). Off when stderr is not a terminal, so logs and pipes get
only the per-step summary lines."""
from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 24


class ProgressLine:
    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.started = time.perf_counter()
        self.shown = 0  # length of the line on screen, to blank it before a summary line

    def __call__(self, label: str, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        share = min(1.0, done / total)
        filled = int(round(share * WIDTH))
        line = (f"  {label} [{'#' * filled}{'.' * (WIDTH - filled)}] {done}/{total}  "
                f"{time.perf_counter() - self.started:.0f} s")
        self.stream.write("\r" + line.ljust(self.shown))
        self.stream.flush()
        self.shown = len(line)

    def clear(self) -> None:
        """Blank the line (before a summary line is printed over it)."""
        if self.enabled and self.shown:
            self.stream.write("\r" + " " * self.shown + "\r")
            self.stream.flush()
            self.shown = 0
