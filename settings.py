"""Application settings: config.toml, overridden by environment variables.

One place for what varies per deployment (database, city, SLA table, map style...).
Environment override: CITYOPS_<SECTION>_<KEY>=value (values parsed as TOML when possible),
plus DATABASE_URL for [database].url and DATABASE_REPLICA_URL for [database].replica_url.
"""
from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
CONFIG_PATH = Path(os.environ.get("CITYOPS_CONFIG", ROOT / "config.toml"))


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _apply_env(cfg: dict) -> dict:
    for key, raw in os.environ.items():
        if not key.startswith("CITYOPS_") or key == "CITYOPS_CONFIG":
            continue
        parts = key[len("CITYOPS_"):].lower().split("_", 1)
        if len(parts) == 2 and isinstance(cfg.get(parts[0]), dict):
            cfg[parts[0]][parts[1]] = _parse_env_value(raw)
    if os.environ.get("DATABASE_URL"):
        cfg.setdefault("database", {})["url"] = os.environ["DATABASE_URL"]
    if os.environ.get("DATABASE_REPLICA_URL"):
        cfg.setdefault("database", {})["replica_url"] = os.environ["DATABASE_REPLICA_URL"]
    return cfg


@lru_cache(maxsize=1)
def get_settings() -> dict:
    """The merged settings dict. Cached: call `reload_settings()` after changing the environment."""
    with open(CONFIG_PATH, "rb") as fh:
        cfg = tomllib.load(fh)
    return _apply_env(cfg)


def reload_settings() -> dict:
    get_settings.cache_clear()
    return get_settings()


def database_url() -> str:
    url = get_settings()["database"]["url"]
    # Relative SQLite paths are relative to the project root, not the working directory.
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        url = prefix + str(ROOT / url[len(prefix):])
    return url


def replica_url() -> str | None:
    """The read replica's URL ([database].replica_url / DATABASE_REPLICA_URL), or None: no replica."""
    url = str(get_settings()["database"].get("replica_url") or "").strip()
    return url or None
