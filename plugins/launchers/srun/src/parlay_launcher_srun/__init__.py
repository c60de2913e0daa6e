"""parlay launcher plugin: copies of the worker command through Slurm's srun."""

from parlay_launcher_srun.launchers import SrunLauncher, SrunMPILauncher

__all__ = ["SrunLauncher", "SrunMPILauncher"]
