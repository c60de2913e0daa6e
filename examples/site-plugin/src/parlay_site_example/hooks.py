"""Example Site's rules for parlay runs, registered as the `parlay.hooks` entry point `example-site`.

- Every job script loads the site's modules, before the provider's `worker_init`.
- Every Slurm provider names the account its jobs are charged to: a run whose config has one that does not
  is refused before anything starts. A Slurm provider with an empty `worker_init` gets the site's default.
"""

from __future__ import annotations

from typing import Any

from parlay.plugins import hookimpl

#: The lines that prepare a node of the site for parlay's workers, in order.
MODULE_LINES = ("module purge", "module load python/3.11", "module load openmpi/4.1")
#: The `worker_init` of a Slurm provider that sets none: one OpenMP thread per worker.
DEFAULT_WORKER_INIT = "export OMP_NUM_THREADS=1"
POLICY = "Example Site charges every Slurm job to an account: each SlurmProvider must name one"


@hookimpl
def parlay_provider_job_preamble(provider: Any, job_name: str) -> list[str]:
    """The site's module lines, in every job script."""
    return list(MODULE_LINES)


@hookimpl
def parlay_configure(config: Any) -> None:
    """Refuse a config with a Slurm provider that names no account (changing nothing); then give each Slurm
    provider without a `worker_init` the site's default."""
    providers = slurm_providers(config)
    lacking = [label for label, provider in providers if not provider.account]
    if lacking:
        raise ValueError(f"{POLICY}; set SlurmProvider(account=...) for executor {', '.join(map(repr, lacking))}")
    for _, provider in providers:
        if not provider.worker_init:
            provider.worker_init = DEFAULT_WORKER_INIT


def slurm_providers(config: Any) -> list[tuple[str, Any]]:
    """(executor label, provider) for every executor of `config` whose provider is a Slurm one."""
    found = []
    for executor in config.executors:
        provider = getattr(executor, "provider", None)
        if getattr(provider, "kind", None) == "slurm":
            found.append((executor.label, provider))
    return found
