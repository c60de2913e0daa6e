"""parlay executor plugin: a pool of worker processes on this machine."""

from parlay_executor_processes.executor import ProcessExecutor

__all__ = ["ProcessExecutor"]
