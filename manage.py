"""Command line for operators: `python manage.py --help` lists every command.

Each domain package registers its own commands in its `cli.py` (`register(subparsers)`); a command's
function takes the parsed arguments and returns an exit code.
"""
from __future__ import annotations

import argparse
import sys

from auth import audit_cli
from auth import cli as auth_cli
from demo import cli as demo_cli
from emergency import cli as emergency_cli
from events import cli as events_cli
from exchange import cli as exchange_cli
from geo import address_cli
from geo import cli as geo_cli
from indicators import cli as indicators_cli
from open311 import cli as open311_cli
from sensors import cli as sensors_cli
from store import cli as store_cli
from store import partition_cli
from supervision import cli as supervision_cli

COMMAND_MODULES = (
    store_cli,       # migrate, info
    partition_cli,   # partitions list|ensure|detach (PostgreSQL)
    demo_cli,        # seed-demo
    geo_cli,         # import-boundaries, locate, export-boundaries
    auth_cli,        # create-user, set-password, deactivate-user, unlock-user, list-users
    audit_cli,       # audit archive, audit flush
    emergency_cli,   # import-resources, import-inventory, emergency-coverage
    sensors_cli,     # import-sensors, import-readings, ingest-mqtt, sensor-status, evaluate-alerts
    events_cli,      # import-events, event-rollup-check
    indicators_cli,  # import-stats, check-indicators
    address_cli,     # import-addresses, geocode
    open311_cli,     # api-key create|list|revoke, open311 process-pending
    supervision_cli,  # supervision escalate, supervision hotspots
    exchange_cli,    # exchange run|pull|snapshot|status|replay|check-rules
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="manage.py", description="一网统管 城市运行指挥平台 管理命令")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
