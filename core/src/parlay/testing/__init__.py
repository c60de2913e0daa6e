"""Test support for plugin authors: conformance suites every backend's tests inherit."""

from parlay.testing.executors import TIMEOUT, ExecutorConformance

__all__ = ["TIMEOUT", "ExecutorConformance"]
