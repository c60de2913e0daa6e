"""The conformance suite on a local Ray cluster of two CPUs, which the tests of this module share: each test's
executor joins the connection this process already has, and leaves it open."""

import pytest

from parlay.testing import ExecutorConformance
from parlay_executor_ray import RayExecutor

pytestmark = pytest.mark.usefixtures("user_ray")


class TestRayExecutor(ExecutorConformance):
    def make_executor(self):
        return RayExecutor(label="ray")
