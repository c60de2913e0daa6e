"""What the monitoring plugin adds to every process: `parlay dashboard`, and `parlay status` from the
monitoring database. Imported by the `parlay` command, so it imports nothing heavy at module level."""

from __future__ import annotations

from typing import Any

from parlay.plugins import hookimpl


@hookimpl
def parlay_cli_subcommands(subparsers: Any) -> None:
    from parlay_monitoring.dashboard.cli import add_dashboard_command

    add_dashboard_command(subparsers)


@hookimpl
def parlay_status_report(run_dir: str) -> str | None:
    from parlay_monitoring.status import report

    return report(run_dir)
