"""Install the parlay workspace into ./.venv and run the demo, the tests or the benchmarks.

    python3 dev.py demo     install, then run examples/demo.py
    python3 dev.py test     install, then ruff and every test
    python3 dev.py bench    install (and Parsl beside it, for comparison), then every benchmark;
                            options after `bench` (--quick, --million) go to benchmarks/bench_htex.py
    python3 dev.py readmes  rewrite the options tables of the plugins' READMEs from their declarations, and the
                            table of Parsl's names in docs/parsl.md

Only the standard library is used here, so a fresh machine with Python 3.10+ and pip is enough.
Workspace members are found by the globs in pyproject.toml, never listed by hand.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import venv

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, ".venv")
PEERS_VENV = os.path.join(ROOT, ".venv-peers")
TEST_TOOLS = ["pytest>=8", "pytest-timeout>=2.3", "ruff>=0.6", "hypothesis>=6.100"]
PEERS = ["parsl"]
# Debian packages the tests use for real where they can (root with apt): program -> package.
TEST_PROGRAMS = {
    "mpiexec.mpich": "mpich",
    "parallel": "parallel",
    "rsync": "rsync",
    "pg_ctlcluster": "postgresql",
    "chromium": "chromium",
}


def members() -> list[str]:
    """Workspace member folders: the `members` globs of the root pyproject.toml."""
    with open(os.path.join(ROOT, "pyproject.toml")) as stream:
        text = stream.read()
    match = re.search(r"^members\s*=\s*\[(.*?)\]", text, re.MULTILINE | re.DOTALL)
    if match is None:
        sys.exit("pyproject.toml has no [tool.uv.workspace] members list")
    found: list[str] = []
    for pattern in re.findall(r'"([^"]+)"', match.group(1)):
        for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
            if os.path.isfile(os.path.join(path, "pyproject.toml")):
                found.append(path)
    return found


def python_in(env: str) -> str:
    return os.path.join(env, "bin", "python")


def run(*command: str, **options: object) -> None:
    print("+", " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in command), flush=True)
    result = subprocess.run(command, cwd=ROOT, **options)  # type: ignore[call-overload]
    if result.returncode:
        sys.exit(result.returncode)


def has_test_extra(path: str) -> bool:
    """Whether a member declares a `test` extra (what its tests need beyond the test tools: a stand-in server)."""
    with open(os.path.join(path, "pyproject.toml")) as stream:
        return re.search(r"^\[project\.optional-dependencies\][^\[]*^test\s*=", stream.read(), re.M) is not None


def install(extra: list[str], tests: bool = False) -> str:
    """Create .venv if needed and install every workspace member (editable, with its `test` extra when `tests`)
    plus `extra`, unless the same was installed since the members' pyproject.toml files last changed: the
    installs are editable, so only those files (dependencies, entry points) make a new install necessary."""
    if not os.path.exists(python_in(VENV)):
        venv.create(VENV, with_pip=True)
    targets = [path + ("[test]" if tests and has_test_extra(path) else "") for path in members()]
    request = hashlib.sha256(json.dumps([targets, extra, sys.version]).encode())
    for path in members():
        with open(os.path.join(path, "pyproject.toml"), "rb") as stream:
            request.update(stream.read())
    stamp = os.path.join(VENV, f".installed-{request.hexdigest()[:16]}")
    if not os.path.exists(stamp):
        editable = [arg for target in targets for arg in ("-e", target)]
        run(python_in(VENV), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *editable, *extra)
        open(stamp, "w").close()
    return python_in(VENV)


def install_test_programs() -> None:
    """apt-get the programs the live tests run, when this is a root shell with apt; else those tests skip,
    except in CI (`CI` set), where they must run."""
    missing = [package for program, package in TEST_PROGRAMS.items() if shutil.which(program) is None]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        if os.environ.get("CI"):
            sys.exit(f"dev.py: CI needs {', '.join(missing)} for the live tests: run as root with apt-get")
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    if subprocess.run(command, env=env).returncode:
        subprocess.run(["apt-get", "update", "-q"], env=env)
        run(*command, env=env)


def install_peers() -> str | None:
    """Parsl in a venv of its own, so its pins never touch parlay's environment. None if it cannot install."""
    if not os.path.exists(python_in(PEERS_VENV)):
        venv.create(PEERS_VENV, with_pip=True)
    result = subprocess.run(
        [python_in(PEERS_VENV), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PEERS]
    )
    return python_in(PEERS_VENV) if result.returncode == 0 else None


def main(argv: list[str]) -> None:
    command = argv[0] if argv else "help"
    if command == "demo":
        python = install([])
        run(python, os.path.join("examples", "demo.py"), *argv[1:])
    elif command == "test":
        python = install(TEST_TOOLS, tests=True)
        install_test_programs()
        run(python, "-m", "ruff", "check", ".")
        run(python, "-m", "pytest", *argv[1:])
    elif command == "readmes":
        python = python_in(VENV) if os.path.exists(python_in(VENV)) else install([])
        readmes = [os.path.join(path, "README.md") for path in members()]
        run(python, "-m", "parlay.backend_docs", *[path for path in readmes if os.path.isfile(path)])
        run(python, "-m", "parlay.parsl_names", os.path.join(ROOT, "docs", "parsl.md"))
    elif command == "bench":
        python = install([])
        peer = install_peers()
        env = dict(os.environ)
        if peer:
            env["PARLAY_PEER_PYTHON"] = peer
        for script in sorted(glob.glob(os.path.join(ROOT, "benchmarks", "bench_*.py"))):
            options = argv[1:] if script.endswith("bench_htex.py") else []
            run(python, script, *options, env=env)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
