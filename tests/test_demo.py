"""The README's demo workflow runs on every executor the workspace ships."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("executor", ["threads", "processes", "htex", "dask", "ray"])
def test_demo(executor, tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "demo.py"), executor],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "sums of 1..10, 1..100, 1..1000: [55, 5050, 500500]" in result.stdout
    assert "sum of their squares: 250525755525" in result.stdout
    assert f"done: tasks ran on {executor}" in result.stdout
