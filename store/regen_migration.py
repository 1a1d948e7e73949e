"""Developer tool, pre-release only: rewrite the single initial migration from the current models.

Until the first deployment there is one revision, regenerated whenever a model changes; after it,
changes get their own revisions (`store.schema.autogenerate`).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from store.db import get_engine
from store.schema import MIGRATIONS, autogenerate


def main() -> None:
    for old in (MIGRATIONS / "versions").glob("*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        autogenerate(get_engine(f"sqlite:///{Path(tmp) / 'empty.db'}"), "initial schema")


if __name__ == "__main__":
    main()
