"""parlay's plugin machinery: pluggy markers, hook specifications, entry-point discovery.

Plugin authors mark hook implementations with `hookimpl`::

    from parlay.plugins import hookimpl

    @hookimpl
    def parlay_provider_job_preamble(provider, job_name):
        return "module load python/3.11"

pluggy itself is imported on first use of a marker, so `parlay.executors.X` lookups stay cheap.
"""

from typing import Any

PROJECT = "parlay"

__all__ = ["PROJECT", "hookimpl", "hookspec"]


def __getattr__(name: str) -> Any:
    if name in ("hookspec", "hookimpl"):
        import pluggy

        marker = (pluggy.HookspecMarker if name == "hookspec" else pluggy.HookimplMarker)(PROJECT)
        globals()[name] = marker
        return marker
    raise AttributeError(f"module 'parlay.plugins' has no attribute {name!r}")
