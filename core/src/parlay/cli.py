"""The `parlay` command: `parlay plugins` lists installed backends, `parlay perf` measures a config,
`parlay cleanup` cancels the jobs a crashed run left behind, `parlay status` summarizes a run; plugins add
subcommands through the `parlay_cli_subcommands` hook."""

from __future__ import annotations

import argparse
import json
import os
import sys

import parlay
from parlay import cleanup, perf, status
from parlay.errors import PluginError
from parlay.plugins import registry


def plugins_command(args: argparse.Namespace) -> int:
    """List every installed backend and hooks plugin without importing it; with --check, import and
    validate each (exit 1 if one is broken or two distributions declare one name); with --describe NAME,
    print that backend's options."""
    if args.describe:
        return describe_command(args.describe)
    from parlay.plugins.manager import DISABLE_VARIABLE, Hooks, disabled_names

    disabled = disabled_names(os.environ.get(DISABLE_VARIABLE, ""))
    broken_hooks = dict(Hooks().load_entry_points()) if args.check else {}
    rows = []
    for backend in registry.available():
        row = {
            "name": backend.name,
            "kind": backend.kind,
            "distribution": backend.distribution,
            "version": backend.version,
            "value": backend.value,
        }
        if args.check:
            row["status"] = _check(backend, broken_hooks)
        if backend.kind == "hooks" and ("all" in disabled or backend.name in disabled):
            row["status"] = f"disabled by {DISABLE_VARIABLE}"
        rows.append(row)
    clashes = [
        f"{registry.SINGULAR.get(group[0].kind, group[0].kind)} {group[0].name!r} is declared by "
        + " and by ".join(f"{b.distribution} {b.version} ({b.value})" for b in group)
        for group in registry.clashes()
    ]
    if args.json:
        print(json.dumps({"plugins": rows, "clashes": clashes}, indent=2))
    else:
        columns = ["kind", "name", "distribution", "version"] + (["status"] if args.check else [])
        widths = {c: max([len(c), *(len(r.get(c, "")) for r in rows)]) for c in columns}
        print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
        for row in rows:
            print("  ".join(row.get(c, "").ljust(widths[c]) for c in columns).rstrip())
        for clash in clashes:
            print(f"clash: {clash}; using that name is an error until one is uninstalled")
    broken = [r for r in rows if r.get("status", "ok") != "ok" and not r["status"].startswith("disabled")]
    return 1 if args.check and (broken or clashes) else 0


def describe_command(name: str) -> int:
    """Print the options of every backend called `name` (an entry-point or class name, of any kind)."""
    from parlay.backend_docs import describe

    found = 0
    for kind in registry.SINGULAR:
        try:
            backend = registry.find(kind, name)
            cls = registry.load_backend(backend)
        except LookupError:
            continue
        except PluginError as exc:
            print(f"parlay plugins: {exc}", file=sys.stderr)
            return 1
        found += 1
        print(f"{backend.describe()}\n\n{describe(cls)}")
    if not found:
        installed = sorted({b.name for b in registry.available() if b.kind != "hooks"})
        print(f"parlay plugins: no backend named {name!r} is installed ({', '.join(installed)})", file=sys.stderr)
        return 1
    return 0


def _check(backend: registry.Backend, broken_hooks: dict[str, str]) -> str:
    """`ok`, or `broken: ` and the first line of what is wrong with one backend."""
    if backend.kind == "hooks":
        problem = broken_hooks.get(backend.name)
        return "ok" if problem is None else "broken: " + problem.splitlines()[0]
    try:
        registry.load_backend(backend)
    except PluginError as exc:
        return "broken: " + str(exc).splitlines()[0]
    return "ok"


#: Subcommands of parlay's own: running one adds no plugin's subcommands (`parlay plugins` must work when a plugin is
#: broken; `parlay status` asks the plugins only for `parlay_status_report`).
BUILTIN = ("plugins", "perf", "cleanup", "status")


def build_parser(plugin_subcommands: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parlay", description="parlay: parallel scripting for Python")
    parser.add_argument("--version", action="version", version=f"parlay {parlay.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    plugins = subparsers.add_parser(
        "plugins", help="list installed executors, providers, launchers, staging and hooks plugins"
    )
    plugins.add_argument("--check", action="store_true", help="import and validate each plugin")
    plugins.add_argument("--json", action="store_true", help="print JSON")
    plugins.add_argument(
        "--describe", metavar="NAME", help="print the options of backend NAME (an entry-point or class name)"
    )
    plugins.set_defaults(func=plugins_command)
    perf.add_parser(subparsers)
    cleanup.add_parser(subparsers)
    status.add_parser(subparsers)
    if plugin_subcommands:
        from parlay.plugins.manager import get_hooks  # pluggy and the hooks plugins, only when needed

        get_hooks().add_cli_subcommands(subparsers=subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(plugin_subcommands=not (argv and argv[0] in BUILTIN))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
