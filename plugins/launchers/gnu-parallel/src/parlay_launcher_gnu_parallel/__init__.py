"""parlay launcher plugin: copies of the worker command on the job's nodes through GNU parallel."""

from parlay_launcher_gnu_parallel.launcher import GnuParallelLauncher

__all__ = ["GnuParallelLauncher"]
