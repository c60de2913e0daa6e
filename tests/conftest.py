"""Clean environments, as a site installs parlay: wheels built from repository folders, fresh virtual
environments outside the repository holding them (their dependencies come from the package index), and
commands run there with nothing of the repository importable.

    def test_mine(clean_venv):
        venv = clean_venv("core", "plugins/providers/slurm", requirements=["pytest>=8"])
        venv.run("parlay", "plugins", "--check")
        venv.python("import parlay; print(parlay.__file__)")
        venv.pytest("plugins/providers/slurm/tests")

Folders are relative to the repository root (or absolute); `folder[extra,...]` installs the wheel's extras
too. Each folder's wheel is built once per session, and each set of folders and requirements makes one venv
per session, shared by every test that asks for it (so do not install into it). A command that fails fails
the test with its output. Without a package index these tests skip, except in CI (`CI` set), where they fail.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # a dependency of pytest before Python 3.11

ROOT = Path(__file__).resolve().parent.parent
#: Limits that only catch hangs: pip may download and build, the commands themselves are small.
PIP_TIMEOUT = 240
RUN_TIMEOUT = 120
#: Variables through which the repository, its venv, the outer pytest or the outer run's parlay settings
#: would leak into a clean venv: these names, and every name with one of these prefixes.
LEAKY_VARIABLES = frozenset({"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV"})
LEAKY_PREFIXES = ("PYTEST_", "PARLAY_")
PIP_OPTIONS = ("--no-input", "--disable-pip-version-check", "--quiet")
#: The pip of the environment running the tests, which builds the wheels.
PIP = (sys.executable, "-m", "pip", *PIP_OPTIONS)


def unavailable(reason: str) -> None:
    """Skip a test that needs what this machine lacks; in CI (`CI` set), where it must run, fail instead
    (as the root conftest.py does for real schedulers)."""
    (pytest.fail if os.environ.get("CI") else pytest.skip)(reason)


def _fail(command: Sequence[str], cwd: Path, why: str, stdout: str, stderr: str) -> NoReturn:
    pytest.fail(
        f"`{shlex.join(command)}` (in {cwd}) {why}\n--- stdout ---\n{stdout[-6000:]}\n--- stderr ---\n{stderr[-6000:]}",
        pytrace=False,
    )


def run_checked(
    command: Sequence[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = RUN_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run `command`; a non-zero exit or a hang fails the test with the command's output."""
    try:
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        stdout, stderr = (part.decode(errors="replace") if isinstance(part, bytes) else part or ""
                          for part in (exc.stdout, exc.stderr))  # fmt: skip
        _fail(command, cwd, f"did not finish within {timeout:.0f}s", stdout, stderr)
    if result.returncode:
        _fail(command, cwd, f"exited with {result.returncode}", result.stdout, result.stderr)
    return result


def in_repository(path: Path) -> bool:
    """Whether `path` is the repository or inside it."""
    resolved = path.resolve()
    return resolved == ROOT or ROOT in resolved.parents


def split_extras(folder: str | Path) -> tuple[str, str]:
    """`"plugins/x[test]"` -> `("plugins/x", "[test]")`."""
    match = re.fullmatch(r"(.+?)(\[[\w,\s-]+\])?", str(folder))
    assert match is not None
    return match.group(1), (match.group(2) or "").replace(" ", "")


class Wheelhouse:
    """Wheels of repository folders, each built once (`pip wheel --no-deps`: pip fetches the folder's build
    backend, hatchling, into an isolated build environment)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._wheels: dict[Path, Path] = {}

    def build(self, *folders: str | Path) -> list[Path]:
        """The wheel of each folder, building in one pip run those not built yet."""
        paths = [(ROOT / folder).resolve() for folder in folders]
        missing = [path for path in dict.fromkeys(paths) if path not in self._wheels]
        if missing:
            command = [*PIP, "wheel", "--no-deps", "--wheel-dir", str(self.directory), *map(str, missing)]
            run_checked(command, cwd=self.directory, timeout=PIP_TIMEOUT)
            for path in missing:
                self._wheels[path] = self._wheel_of(path)
        return [self._wheels[path] for path in paths]

    def entry_points(self, *folders: str | Path) -> set[tuple[str, str, str]]:
        """(group, name, distribution) of every entry point the folders' wheels declare."""
        found = set()
        for wheel in self.build(*folders):
            with zipfile.ZipFile(wheel) as archive:
                metadata = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
                dist_info = zipfile.Path(archive, metadata.rpartition("/")[0] + "/")
                declared = importlib.metadata.PathDistribution(dist_info)  # type: ignore[arg-type]
                found |= {(ep.group, ep.name, declared.metadata["Name"]) for ep in declared.entry_points}
        return found

    def _wheel_of(self, folder: Path) -> Path:
        with open(folder / "pyproject.toml", "rb") as stream:
            name = tomllib.load(stream)["project"]["name"]
        wheels = list(self.directory.glob(re.sub(r"[-_.]+", "_", name).lower() + "-*.whl"))
        if len(wheels) != 1:
            pytest.fail(f"expected one wheel of {name} (from {folder}) in {self.directory}, found {wheels}")
        return wheels[0]


class CleanVenv:
    """A virtual environment outside the repository. Commands run in its `work` folder, with its `bin` first
    on PATH and no variable that would make the repository importable."""

    def __init__(self, root: Path):
        self.root = root
        self.path = root / "venv"
        self.work = root / "work"
        self.work.mkdir()
        self.env = {name: value for name, value in os.environ.items()
                    if name not in LEAKY_VARIABLES and not name.startswith(LEAKY_PREFIXES)}  # fmt: skip
        self.env.update(PATH=f"{self.path / 'bin'}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
                        VIRTUAL_ENV=str(self.path))  # fmt: skip
        run_checked([sys.executable, "-m", "venv", str(self.path)], cwd=root, timeout=PIP_TIMEOUT)

    def install(self, *requirements: str) -> None:
        """`pip install` wheel files and requirements (the latter, and all dependencies, from the index)."""
        self.run("python", "-m", "pip", *PIP_OPTIONS, "install", *requirements, timeout=PIP_TIMEOUT)

    def run(
        self, *command: str, cwd: Path | None = None, timeout: float = RUN_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run a command of the venv (`python`, `parlay`, ...); fail the test with its output if it fails."""
        return run_checked(command, cwd=cwd or self.work, env=self.env, timeout=timeout)

    def python(self, code: str, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run Python `code` (dedented) in the venv."""
        return self.run("python", "-c", textwrap.dedent(code), timeout=timeout)

    def pytest(
        self, folder: str | Path, *options: str, timeout: float = RUN_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run a repository folder of tests with the venv's pytest, from a copy outside the repository: only
        the folder's own files (its conftest.py too) take part, no configuration from around it."""
        copy = Path(tempfile.mkdtemp(prefix="tests-", dir=self.root))
        shutil.copytree(ROOT / folder, copy / "tests")
        command = ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", str(copy / "tmp"),
                   "--rootdir", str(copy), *options, "tests"]  # fmt: skip
        return self.run(*command, cwd=copy, timeout=timeout)

    def check_isolated(self, wheelhouse: Path) -> None:
        """Fail unless nothing of the repository is importable and every parlay distribution installed came
        from a wheel of `wheelhouse` (not an editable install, not a namesake from the index)."""
        state = json.loads(
            self.python("""
                import json, sys
                from importlib.metadata import distributions
                origins = {d.metadata["Name"]: d.read_text("direct_url.json") for d in distributions()}
                print(json.dumps({"path": sys.path, "origins": origins}))
            """).stdout
        )
        on_path = [entry for entry in state["path"] if in_repository(self.work / entry)]
        if on_path:
            pytest.fail(f"the repository is importable in the clean venv {self.path}: {on_path} are on sys.path")
        for name, origin in state["origins"].items():
            url = json.loads(origin or "{}").get("url", "")
            if name.lower().startswith("parlay") and not url.startswith(wheelhouse.resolve().as_uri() + "/"):
                pytest.fail(f"{name} was not installed from a wheel built here ({url or 'from the index'}): "
                            "pass its folder too")  # fmt: skip


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    """Builds repository folders as wheels, once per session; needs pip to reach a package index."""
    if in_repository(tmp_path_factory.getbasetemp()):
        pytest.fail("pytest's --basetemp is inside the repository: clean environments must be made outside it")
    download = [*PIP, "download", "--no-deps", "--retries", "2", "--timeout", "15",
                "--dest", str(tmp_path_factory.mktemp("index-probe")), "hatchling"]  # fmt: skip
    probe = subprocess.run(download, capture_output=True, text=True, timeout=PIP_TIMEOUT)
    if probe.returncode:
        unavailable(
            "pip cannot download from its package index (no network to PyPI?), so no wheel can be built or "
            f"installed: {(probe.stderr.strip().splitlines() or ['?'])[-1]}"
        )
    return Wheelhouse(tmp_path_factory.mktemp("wheels"))


@pytest.fixture(scope="session")
def clean_venv(wheelhouse: Wheelhouse, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., CleanVenv]:
    """`clean_venv(*folders, requirements=())`: a venv holding the folders' wheels and the requirements,
    made once per session for each combination."""
    made: dict[tuple[tuple[str, ...], tuple[str, ...]], CleanVenv] = {}

    def make(*folders: str | Path, requirements: Sequence[str] = ()) -> CleanVenv:
        key = (tuple(map(str, folders)), tuple(requirements))
        if key not in made:
            specs = [split_extras(folder) for folder in folders]
            wheels = wheelhouse.build(*(folder for folder, _ in specs))
            venv = CleanVenv(tmp_path_factory.mktemp("venv"))
            venv.install(*(f"{wheel}{extras}" for wheel, (_, extras) in zip(wheels, specs, strict=True)), *requirements)
            venv.check_isolated(wheelhouse.directory)
            made[key] = venv
        return made[key]

    return make
