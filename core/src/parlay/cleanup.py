"""`parlay cleanup RUN_DIR`: cancel every job a run left queued or running.

A run cancels its own jobs when it ends, however it ends, short of SIGKILL or a lost machine. For those,
the journal (`runinfo/NNN/jobs.jsonl`) names each job the run submitted and the provider options needed
to reach it; this command rebuilds each provider from its plugin, asks for the jobs' status and cancels
those still alive.
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from collections.abc import Callable
from typing import Any

from parlay.errors import BadJournal, ParlayError, RunFileWarning
from parlay.plugins import registry
from parlay.providers.base import JOURNAL, read_journal


def run_dirs(path: str) -> list[str]:
    """`path` itself when it holds a journal, else its subdirectories that do (`runinfo/` -> every run)."""
    if os.path.exists(os.path.join(path, JOURNAL)):
        return [path]
    children = sorted(os.path.join(path, name) for name in os.listdir(path))
    return [child for child in children if os.path.exists(os.path.join(child, JOURNAL))]


def cleanup_run(run_dir: str, dry_run: bool = False, say: Callable[[str], None] = print) -> tuple[int, int]:
    """Cancel the live jobs of one run, then let each provider sweep what else the run created (cloud
    networks, secrets); return (jobs and resources removed, or that would be with `dry_run`, errors)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for entry in read_journal(run_dir).values():
        options = entry.get("options", {"label": entry["label"]})
        groups.setdefault((entry["provider"], json.dumps(options, sort_keys=True)), []).append(entry)
    removed = errors = 0
    for (kind, options_text), entries in groups.items():
        options = json.loads(options_text)
        where = f"{kind} {options.get('label', '')!r}"
        jobs = [entry for entry in entries if "resource" not in entry]
        try:
            provider = registry.load("providers", kind)(**options)
            provider.script_dir = os.path.join(run_dir, "submit_scripts")
            outcome = _cancel_jobs(provider, jobs, dry_run) if jobs else []
            swept = []
            for run_id in sorted({entry["run_id"] for entry in entries if "run_id" in entry}):
                recorded = [e for e in entries if "resource" in e and e["event"] != "deleted" and e["run_id"] == run_id]
                swept += provider.sweep(run_id, recorded, dry_run=dry_run)
        except (ParlayError, TypeError) as exc:
            errors += 1
            say(f"  {where}: could not clean up jobs {', '.join(e['job_id'] for e in entries)}: {exc}")
            continue
        for entry, state, answer in outcome:
            job = f"  {where} job {entry['job_id']} ({entry['job_name']}): {state}"
            if answer == "ended":
                say(f"{job}, already ended")
            elif answer == "failed":
                errors += 1
                say(f"{job}, could not be cancelled")
            else:
                removed += 1
                say(f"{job}, {answer}")
        for line in swept:
            removed += 1
            say(f"  {where}: {line}")
    return removed, errors


def _cancel_jobs(provider: Any, jobs: list[dict[str, Any]], dry_run: bool) -> list[tuple[dict[str, Any], str, str]]:
    """Each journaled job with its state and what became of it: ended, cancelled, would be cancelled, failed."""
    for entry in jobs:
        provider.adopt(entry["job_id"], entry["job_name"])
    ids = [entry["job_id"] for entry in jobs]
    statuses = provider.status(ids)
    alive = [job_id for job_id, status in zip(ids, statuses, strict=True) if not status.terminal]
    answers = provider.cancel(alive) if alive and not dry_run else [None] * len(alive)
    results = dict(zip(alive, answers, strict=True))
    outcome = []
    for entry, status in zip(jobs, statuses, strict=True):
        result = results.get(entry["job_id"], "ended")
        if result != "ended":
            result = "would be cancelled" if dry_run else "cancelled" if result else "failed"
        outcome.append((entry, status.state.name, result))
    return outcome


def cleanup_command(args: argparse.Namespace) -> int:
    """The CLI entry: clean each run under RUN_DIR and report; exit 1 if anything could not be cleaned."""
    if not os.path.isdir(args.run_dir):
        print(f"parlay cleanup: {args.run_dir} is not a directory")
        return 1
    runs = run_dirs(args.run_dir)
    if not runs:
        print(f"parlay cleanup: no job journal ({JOURNAL}) in {args.run_dir} or its subdirectories; nothing to do")
        return 0
    total = failures = 0
    for run in runs:
        print(f"{run}:")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RunFileWarning)
            try:
                cancelled, errors = cleanup_run(run, dry_run=args.dry_run)
            except BadJournal as exc:
                print(f"  {exc}")
                cancelled, errors = 0, 1
        for warning in caught:
            print(f"  warning: {warning.message}")
        total += cancelled
        failures += errors
    verb = "would cancel" if args.dry_run else "cancelled"
    summary = f"{verb} {total} job{'s' if total != 1 else ''} or resources" if total or args.dry_run else ""
    summary = summary or "nothing to cancel"
    print(summary + (f"; {failures} error{'s' if failures != 1 else ''}" if failures else ""))
    return 1 if failures else 0


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "cleanup", help="cancel the jobs a run left queued or running (after a crash or SIGKILL)"
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (runinfo/NNN), or runinfo for every run")
    parser.add_argument("--dry-run", action="store_true", help="show what would be cancelled, cancel nothing")
    parser.set_defaults(func=cleanup_command)
