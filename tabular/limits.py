"""How much of a file an import will read: caps against files that are too large by mistake or on
purpose. Defaults here; a deployment overrides them in config.toml's [import] section (or with
CITYOPS_IMPORT_<KEY>)."""
from __future__ import annotations

from dataclasses import dataclass, fields

import settings


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 100 * 2**20           # the file as uploaded
    max_unzipped_bytes: int = 256 * 2**20  # an .xlsx once decompressed (a zip bomb stops here)
    max_rows: int = 200_000                # data rows, blank rows not counted
    max_columns: int = 200

    @classmethod
    def from_settings(cls) -> Limits:
        cfg = settings.get_settings().get("import", {})
        return cls(**{f.name: int(cfg[f.name]) for f in fields(cls) if f.name in cfg})


def mib(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n / 1024:.0f} KB"
