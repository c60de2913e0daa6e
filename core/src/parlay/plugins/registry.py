"""Entry-point discovery and loading of backends.

Discovery reads installed distributions' metadata and imports nothing; a backend is imported only when
it is used, so one broken plugin never breaks the others.
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from typing import Any

import attrs

from parlay.errors import BackendNotFound, InvalidPlugin, PluginConflict, PluginImportError
from parlay.plugins.catalogue import distribution_for

#: kind -> entry-point group
GROUPS = {
    "executors": "parlay.executors",
    "providers": "parlay.providers",
    "launchers": "parlay.launchers",
    "staging": "parlay.staging",
    "hooks": "parlay.hooks",
}
#: kind -> the word used in distribution names (`parlay-provider-<name>`)
SINGULAR = {"executors": "executor", "providers": "provider", "launchers": "launcher", "staging": "staging"}
#: kind -> the base class every backend of that kind subclasses
BASES = {
    "executors": "parlay.executors.base:ParlayExecutor",
    "providers": "parlay.providers.base:ExecutionProvider",
    "launchers": "parlay.launchers.base:Launcher",
    "staging": "parlay.staging.base:Staging",
}


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
    """Installed backends of `kind` (all kinds when None), without importing any of them. Two distributions
    declaring one name are both listed (`clashes` reports them); one distribution found twice on sys.path
    once."""
    global _scan
    if _scan is None or refresh:
        scan: dict[str, list[Backend]] = {k: [] for k in GROUPS}
        for k, group in GROUPS.items():
            seen = set()
            for ep in entry_points(group=group):
                dist = ep.dist
                backend = Backend(ep.name, k, ep.value, dist.name if dist else "?", dist.version if dist else "?")
                if (backend.name, backend.distribution) not in seen:
                    seen.add((backend.name, backend.distribution))
                    scan[k].append(backend)
        _scan = scan
    if kind is None:
        return [b for backends in _scan.values() for b in backends]
    _check_kind(kind)
    return list(_scan[kind])


def clashes(kind: str | None = None) -> list[list[Backend]]:
    """Groups of backends of one kind that different distributions declare under the same entry-point
    name, or (for classes) the same class name: using that name is an error naming them all."""
    groups: dict[tuple[str, str], list[Backend]] = {}
    for backend in available(kind):
        keys = {backend.name} if backend.kind == "hooks" else {backend.name, backend.class_name}
        for key in keys:
            groups.setdefault((backend.kind, key), []).append(backend)
    found: list[list[Backend]] = []
    for group in groups.values():
        if len({b.distribution for b in group}) > 1 and group not in found:
            found.append(group)
    return found


def find(kind: str, name: str) -> Backend:
    """The backend of `kind` whose entry-point name or class name is `name`."""
    backends = available(kind)
    matches = [b for b in backends if name in (b.name, b.class_name)]
    if len({b.distribution for b in matches}) > 1:
        raise PluginConflict(
            f"{len(matches)} installed distributions declare the {SINGULAR.get(kind, kind)} {name!r}: "
            f"{'; '.join(b.describe() for b in matches)}. Uninstall all but one of them."
        )
    if matches:
        return matches[0]
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


def resolve_attribute(kind: str, class_name: str) -> Any:
    """A backend class by its class name, for `parlay.executors.X`, `parlay.providers.X`, ..."""
    return load_backend(find(kind, class_name))


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
    package = distribution_for(kind, name)
    if package:
        text += f" It is parlay's own: pip install {package}"
    return text


def _check_kind(kind: str) -> None:
    if kind not in GROUPS:
        raise ValueError(f"unknown plugin kind {kind!r}; kinds are {', '.join(GROUPS)}")
