"""Entry-point discovery and loading of backends.

Discovery reads installed distributions' metadata and imports nothing; a backend is imported only when
it is used, so one broken plugin never breaks the others.
"""

from __future__ import annotations

import difflib
import importlib
import re
from importlib.metadata import entry_points
from typing import Any

import attrs

from parlay.errors import BackendNotFound, InvalidPlugin, PluginImportError

#: kind -> entry-point group
GROUPS = {
    "executors": "parlay.executors",
    "providers": "parlay.providers",
    "launchers": "parlay.launchers",
    "staging": "parlay.staging",
    "hooks": "parlay.hooks",
}
#: kind -> the word used in distribution names (`parlay-provider-slurm`)
SINGULAR = {"executors": "executor", "providers": "provider", "launchers": "launcher", "staging": "staging"}
#: kind -> the base class every backend of that kind subclasses
BASES = {
    "executors": "parlay.executors.base:ParlayExecutor",
    "providers": "parlay.providers.base:ExecutionProvider",
    "launchers": "parlay.launchers.base:Launcher",
    "staging": "parlay.staging.base:Staging",
}
#: parlay's own backends whose entry-point name cannot be derived from the class name
FIRST_PARTY = {
    "HighThroughputExecutor": "htex",
    "ProcessExecutor": "processes",
    "ThreadPoolExecutor": "threads",
    "PBSProProvider": "pbs",
    "TorqueProvider": "pbs",
    "GridEngineProvider": "sge",
    "CondorProvider": "condor",
    "GoogleCloudProvider": "gcp",
    "AWSProvider": "aws",
    "SrunMPILauncher": "srun",
    "MpiExecLauncher": "mpiexec",
    "MpiRunLauncher": "mpiexec",
    "GnuParallelLauncher": "gnu-parallel",
    "SingleNodeLauncher": "single-node",
}
_SUFFIXES = {"executors": "Executor", "providers": "Provider", "launchers": "Launcher", "staging": "Staging"}


@attrs.frozen
class Backend:
    """One installed backend, as its entry point declares it (nothing imported)."""

    name: str
    kind: str
    value: str
    distribution: str
    version: str

    @property
    def class_name(self) -> str:
        return self.value.rpartition(":")[2].rpartition(".")[2]

    def describe(self) -> str:
        kind = SINGULAR.get(self.kind, self.kind)
        return f"{kind} {self.name!r} ({self.value}, from {self.distribution} {self.version})"


_scan: dict[str, list[Backend]] | None = None


def available(kind: str | None = None, refresh: bool = False) -> list[Backend]:
    """Installed backends of `kind` (all kinds when None), without importing any of them."""
    global _scan
    if _scan is None or refresh:
        scan: dict[str, list[Backend]] = {k: [] for k in GROUPS}
        for k, group in GROUPS.items():
            seen = set()
            for ep in entry_points(group=group):
                if ep.name in seen:  # the same distribution found twice on sys.path
                    continue
                seen.add(ep.name)
                dist = ep.dist
                scan[k].append(Backend(ep.name, k, ep.value, dist.name if dist else "?", dist.version if dist else "?"))
        _scan = scan
    if kind is None:
        return [b for backends in _scan.values() for b in backends]
    _check_kind(kind)
    return list(_scan[kind])


def find(kind: str, name: str) -> Backend:
    """The backend of `kind` whose entry-point name or class name is `name`."""
    backends = available(kind)
    for backend in backends:
        if name in (backend.name, backend.class_name):
            return backend
    raise BackendNotFound(_not_found_message(kind, name, backends))


def load(kind: str, name: str) -> Any:
    """Import and check the backend of `kind` called `name` (entry-point name or class name)."""
    return load_backend(find(kind, name))


def load_backend(backend: Backend) -> Any:
    """Import one backend; errors name it, its distribution and what went wrong."""
    module_name, _, attribute = backend.value.partition(":")
    try:
        obj = importlib.import_module(module_name)
        for part in filter(None, attribute.split(".")):
            obj = getattr(obj, part)
    except ModuleNotFoundError as exc:
        top = module_name.split(".")[0]
        if exc.name and exc.name.split(".")[0] != top:
            reason = f"it needs the module {exc.name!r}, which is not installed (reinstall {backend.distribution})"
        else:
            reason = str(exc)
        raise PluginImportError(f"{backend.describe()} failed to import: {reason}") from exc
    except Exception as exc:
        raise PluginImportError(f"{backend.describe()} failed to import: {type(exc).__name__}: {exc}") from exc
    _validate(backend, obj)
    return obj


def package_for(kind: str, name: str) -> str | None:
    """The distribution that would provide parlay's own backend `name` (an entry-point or class name),
    or None when the name does not look like one of kind `kind`."""
    if name in FIRST_PARTY:
        name = FIRST_PARTY[name]
    elif name.endswith(_SUFFIXES[kind]) and name != _SUFFIXES[kind]:
        stem = name[: -len(_SUFFIXES[kind])]
        name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", stem).lower()
    elif not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        return None
    return f"parlay-{SINGULAR[kind]}-{name}"


def resolve_attribute(kind: str, class_name: str) -> Any:
    """A backend class by its class name, for `parlay.executors.X`, `parlay.providers.X`, ..."""
    backends = available(kind)
    for backend in backends:
        if backend.class_name == class_name:
            return load_backend(backend)
    raise BackendNotFound(_not_found_message(kind, class_name, backends))


def _validate(backend: Backend, obj: Any) -> None:
    if backend.kind == "hooks":
        return  # checked when registered: pluggy's check_pending names stray hooks
    module_name, _, class_name = BASES[backend.kind].partition(":")
    base = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise InvalidPlugin(
            f"{backend.describe()} is not a {SINGULAR[backend.kind]} class: {obj!r} must be a subclass of "
            f"{module_name}.{class_name}"
        )


def _not_found_message(kind: str, name: str, backends: list[Backend]) -> str:
    installed = sorted({b.name for b in backends} | {b.class_name for b in backends})
    close = difflib.get_close_matches(name, installed, n=3)
    text = f"no {SINGULAR.get(kind, kind)} named {name!r} is installed."
    text += f" Installed {kind}: {', '.join(installed) if installed else 'none'}."
    if close:
        text += f" Did you mean {' or '.join(map(repr, close))}?"
    package = package_for(kind, name) if kind in SINGULAR else None
    if package:
        text += f" If it is parlay's own, install it with: pip install {package}"
    return text


def _check_kind(kind: str) -> None:
    if kind not in GROUPS:
        raise ValueError(f"unknown plugin kind {kind!r}; kinds are {', '.join(GROUPS)}")
