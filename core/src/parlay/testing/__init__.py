"""Test support for plugin authors: conformance suites every backend's tests inherit."""

from parlay.testing.executors import TIMEOUT, ExecutorConformance, process_alive

__all__ = ["TIMEOUT", "ExecutorConformance", "process_alive"]
