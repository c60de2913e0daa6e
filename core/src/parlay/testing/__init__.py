"""Test support for plugin authors: conformance suites every backend's tests inherit."""

from parlay.testing.executors import TIMEOUT, ExecutorConformance, process_alive
from parlay.testing.providers import LiveProviderConformance, ProviderConformance

__all__ = ["TIMEOUT", "ExecutorConformance", "LiveProviderConformance", "ProviderConformance", "process_alive"]
