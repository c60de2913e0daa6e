"""parlay launcher plugin: copies of the worker command through IBM LSF's jsrun."""

from parlay_launcher_jsrun.launcher import JsrunLauncher

__all__ = ["JsrunLauncher"]
