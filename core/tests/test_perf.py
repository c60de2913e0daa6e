"""`parlay perf` against real config files."""

import subprocess
import sys

import pytest

from parlay.cli import main
from parlay.errors import ConfigurationError
from parlay.perf import batch_sizes


def write_config(tmp_path, body):
    path = tmp_path / "site.py"
    path.write_text(body.format(run_dir=tmp_path / "runinfo"))
    return str(path)


def test_fixed_batches(tmp_path, capsys):
    config = write_config(tmp_path, "import parlay\nconfig = parlay.Config(run_dir='{run_dir}')\n")
    assert main(["perf", "--config", config, "--iterate", "20,40", "--argsize", "100"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "20" and lines[1].split()[0] == "40"
    assert lines[-1].startswith("Tasks per second: ")
    assert float(lines[-1].split(": ")[1].replace(",", "")) > 0


def test_estimate_stops_near_the_target(tmp_path):
    config = write_config(
        tmp_path, "import parlay\ndef fresh_config():\n    return parlay.Config(run_dir='{run_dir}')\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "parlay.cli", "perf", "--config", config, "--time", "0.5"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Tasks per second:" in result.stdout


def test_bad_config_files(tmp_path):
    config = write_config(tmp_path, "x = 1\n")
    with pytest.raises(ConfigurationError, match="defines neither `config` nor `fresh_config\\(\\)`"):
        main(["perf", "--config", config])
    config = write_config(tmp_path, "config = 'threads'\n")
    with pytest.raises(ConfigurationError, match=r"expected a parlay\.Config, got str"):
        main(["perf", "--config", config])


def test_bad_iterate():
    with pytest.raises(ConfigurationError, match="--iterate 'lots'"):
        list(batch_sizes("lots", 1.0, []))


def test_exponential_doubles_until_the_target():
    results = []
    sizes = batch_sizes("exponential", 1.0, results)
    seen = []
    for size, seconds in ((100, 0.1), (200, 0.2), (400, 0.8)):
        seen.append(next(sizes))
        results.append((size, seconds))
    assert seen == [100, 200, 400]
    assert list(sizes) == []
