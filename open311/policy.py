"""The API's limits and published facts, from config.toml [open311] (defaults here)."""
from __future__ import annotations

from dataclasses import dataclass, fields

import settings


@dataclass(frozen=True)
class Policy:
    enabled: bool = True
    max_body_bytes: int = 64 * 1024       # a POST body; anything larger is refused unread
    max_media_url_chars: int = 1000
    max_description_chars: int = 4000
    default_rate_per_minute: int = 120    # a new key's limit unless given at creation
    anonymous_rate_per_minute: int = 60   # per client address, for calls without a key
    default_page_size: int = 100
    max_page_size: int = 1000             # the spec's usual ceiling
    max_ids: int = 100                    # service_request_id list length
    default_days: int = 90                # GET requests without dates: the last 90 days (spec)
    max_days: int = 90                    # and no wider window than that
    contact: str = "茂名市城市运行管理指挥中心"
    changeset: str = "2026-12-01T00:00:00+08:00"
    key_service: str = "向指挥中心系统管理员申请接入密钥（api_key），密钥只在创建时显示一次。"

    @classmethod
    def from_settings(cls) -> Policy:
        cfg = settings.get_settings().get("open311", {})
        kinds = {f.name: type(f.default) for f in fields(cls)}
        return cls(**{k: kinds[k](v) for k, v in cfg.items() if k in kinds})
