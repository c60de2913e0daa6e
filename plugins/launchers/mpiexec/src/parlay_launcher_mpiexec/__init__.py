"""parlay launcher plugin: copies of the worker command as the ranks of mpiexec or mpirun."""

from parlay_launcher_mpiexec.launchers import MpiExecLauncher, MpiRunLauncher

__all__ = ["MpiExecLauncher", "MpiRunLauncher"]
