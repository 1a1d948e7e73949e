"""Command line for operators: `python manage.py --help` lists every command.

Each domain package registers its own commands in its `cli.py` (`register(subparsers)`); a command's
function takes the parsed arguments and returns an exit code.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "store.cli",      # migrate, seed-demo, info
    "geo.cli",        # import-boundaries, locate, export-boundaries
    "auth.cli",       # create-user, set-password, deactivate-user, unlock-user, list-users
    "emergency.cli",  # import-resources, import-inventory, emergency-coverage
    "sensors.cli",    # import-sensors, import-readings, ingest-mqtt, sensor-status, evaluate-alerts
    "events.cli",     # import-events, event-rollup-check
    "indicators.cli",  # import-stats, check-indicators
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="manage.py", description="一网统管 城市运行指挥平台 管理命令")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
