"""parlay executor plugin: tasks run as Ray tasks on a local or existing Ray cluster."""

from parlay_executor_ray.executor import RayExecutor

__all__ = ["RayExecutor"]
