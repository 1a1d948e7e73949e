"""The [exchange] settings as one typed object. Secrets may come from the environment instead of
config.toml (CITYOPS_EXCHANGE_UPPER_SECRET, CITYOPS_EXCHANGE_SMS_KEY, CITYOPS_EXCHANGE_WEBHOOK_URL …:
settings.py maps every CITYOPS_EXCHANGE_<KEY> onto [exchange].<key>)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import settings
from store.outbox import DEFAULT_UPPER_KINDS, DEFAULT_TIMELY_MINUTES

RULES_PATH = Path(__file__).resolve().parent / "rules.yaml"


@dataclass(frozen=True)
class Contact:
    """An on-duty group outside the system: phone numbers for the SMS gateway, a robot webhook URL."""

    phones: tuple[str, ...] = ()
    webhook: str = ""


@dataclass(frozen=True)
class ExchangeConfig:
    poll_seconds: float = 2.0
    batch_size: int = 100
    lease_seconds: float = 120.0
    backoff_base_seconds: float = 5.0
    backoff_max_seconds: float = 900.0
    channel_max_attempts: int = 12
    timely_minutes: float = DEFAULT_TIMELY_MINUTES
    deadline_scan_seconds: float = 60.0
    deadline_lookback_hours: float = 24.0
    system_id: str = ""
    # the upper platform
    upper_url: str = ""
    upper_secret: str = ""
    upper_kinds: tuple[str, ...] = DEFAULT_UPPER_KINDS
    upper_timeout_seconds: float = 10.0
    upper_client_cert: str = ""
    upper_client_key: str = ""
    upper_ca_bundle: str = ""
    # tasks handed down
    tasks_secret: str = ""
    tasks_pull_url: str = ""
    tasks_pull_seconds: float = 60.0
    max_task_bytes: int = 65536
    signature_skew_seconds: float = 300.0
    # channels
    webhook_enabled: bool = False
    webhook_url: str = ""
    sms_enabled: bool = False
    sms_url: str = ""
    sms_key: str = ""
    sms_sign: str = "【城市运行】"
    channel_timeout_seconds: float = 10.0
    contacts: dict[str, Contact] = field(default_factory=dict)
    rules_path: str = ""
    snapshot_dir: str = "data/exchange"

    @property
    def upper_enabled(self) -> bool:
        return bool(self.upper_url)

    @property
    def task_secret(self) -> str:
        """The secret tasks handed down are signed with (the upward one unless set apart)."""
        return self.tasks_secret or self.upper_secret

    @property
    def rules_file(self) -> Path:
        return Path(self.rules_path) if self.rules_path else RULES_PATH

    @property
    def snapshot_path(self) -> Path:
        path = Path(self.snapshot_dir)
        return path if path.is_absolute() else settings.ROOT / path


def _contacts(raw: dict) -> dict[str, Contact]:
    out = {}
    for group, spec in (raw or {}).items():
        spec = spec or {}
        out[str(group)] = Contact(tuple(str(p).strip() for p in spec.get("phones") or () if str(p).strip()),
                                  str(spec.get("webhook") or "").strip())
    return out


def load() -> ExchangeConfig:
    """The settings in force (settings.reload_settings() picks up a changed environment)."""
    raw = dict(settings.get_settings().get("exchange") or {})
    contacts = _contacts(raw.pop("contacts", {}))
    known = {f for f in ExchangeConfig.__dataclass_fields__ if f != "contacts"}
    values = {k: v for k, v in raw.items() if k in known}
    if "upper_kinds" in values:
        values["upper_kinds"] = tuple(values["upper_kinds"])
    for key in ("upper_url", "upper_secret", "tasks_secret", "tasks_pull_url", "webhook_url", "sms_url", "sms_key"):
        if key in values:
            values[key] = str(values[key] or "").strip()
    cfg = ExchangeConfig(contacts=contacts, **values)
    if not cfg.system_id:
        cfg = replace(cfg, system_id=str(settings.get_settings()["city"]["code"]))
    return cfg
