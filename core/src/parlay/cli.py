"""The `parlay` command: `parlay plugins` lists installed backends, `parlay perf` measures a config,
`parlay cleanup` cancels the jobs a crashed run left behind; plugins add subcommands through the
`parlay_cli_subcommands` hook."""

from __future__ import annotations

import argparse
import json
import sys

import parlay
from parlay import cleanup, perf
from parlay.errors import PluginError
from parlay.plugins import registry


def plugins_command(args: argparse.Namespace) -> int:
    """List every installed backend without importing it; with --check, import and validate each."""
    rows = []
    broken = 0
    for backend in registry.available():
        row = {
            "name": backend.name,
            "kind": backend.kind,
            "distribution": backend.distribution,
            "version": backend.version,
            "value": backend.value,
        }
        if args.check:
            try:
                registry.load_backend(backend)
                row["status"] = "ok"
            except PluginError as exc:
                broken += 1
                row["status"] = "broken: " + str(exc).splitlines()[0]
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        columns = ["kind", "name", "distribution", "version"] + (["status"] if args.check else [])
        widths = {c: max([len(c), *(len(r[c]) for r in rows)]) for c in columns}
        print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
        for row in rows:
            print("  ".join(row[c].ljust(widths[c]) for c in columns).rstrip())
    return 1 if broken else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parlay", description="parlay: parallel scripting for Python")
    parser.add_argument("--version", action="version", version=f"parlay {parlay.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    plugins = subparsers.add_parser("plugins", help="list installed executors, providers, launchers and staging")
    plugins.add_argument("--check", action="store_true", help="import and validate each plugin")
    plugins.add_argument("--json", action="store_true", help="print JSON")
    plugins.set_defaults(func=plugins_command)
    perf.add_parser(subparsers)
    cleanup.add_parser(subparsers)
    from parlay.plugins.manager import get_hooks

    get_hooks().add_cli_subcommands(subparsers=subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
