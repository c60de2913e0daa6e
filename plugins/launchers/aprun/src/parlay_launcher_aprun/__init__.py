"""parlay launcher plugin: copies of the worker command through Cray ALPS's aprun."""

from parlay_launcher_aprun.launcher import AprunLauncher

__all__ = ["AprunLauncher"]
