import pytest

import parlay


@pytest.fixture(autouse=True)
def _no_leftover_kernel():
    """A test that fails half-way must not leave its DataFlowKernel loaded for the next one."""
    yield
    from parlay.dataflow import loader

    if loader._current is not None:
        loader._current.cleanup()
    parlay.clear()


@pytest.fixture
def run_dir(tmp_path):
    return str(tmp_path / "runinfo")
