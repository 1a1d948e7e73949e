"""Server start-up: the page modules are loaded and the heap is frozen once per process."""
from __future__ import annotations

import gc
import sys

from ui import heap


def test_settle_loads_the_page_modules_and_freezes_once():
    first = heap.settle()
    assert all(name in sys.modules for name in heap.PAGE_MODULES)
    assert gc.get_freeze_count() > 0
    assert heap.settle() == first  # a second call does nothing
