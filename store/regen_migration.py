"""Developer tool, pre-release only: rewrite the single initial migration from the current models.

Until the first deployment there is one revision, regenerated whenever a model changes; after it,
changes get their own revisions (`store.schema.autogenerate`).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from store.db import get_engine
from store.schema import MIGRATIONS, autogenerate


INITIAL = "0001"


def main() -> None:
    """Only the generated initial revision is rewritten; hand-written revisions after it (0002 the
    audit-log guard, ...) keep pointing at its fixed id."""
    for old in (MIGRATIONS / "versions").glob(f"{INITIAL}_*.py"):
        old.unlink()
    versions = MIGRATIONS / "versions"
    with tempfile.TemporaryDirectory() as tmp:
        # Hand-written revisions step aside while the initial one is generated against a blank
        # database (Alembic would otherwise find 0002's parent missing), then come back.
        parked = [p.rename(Path(tmp) / p.name) for p in list(versions.glob("*.py"))]
        try:
            autogenerate(get_engine(f"sqlite:///{Path(tmp) / 'empty.db'}"), "initial schema", rev_id=INITIAL)
        finally:
            for p in parked:
                p.rename(versions / p.name)


if __name__ == "__main__":
    main()
