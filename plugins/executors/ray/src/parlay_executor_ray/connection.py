"""This process's connection to Ray, shared by the RayExecutors that use it.

`ray.init` is process-global: one process joins one Ray cluster at a time. The first executor that needs
Ray calls `ray.init`; executors started while that connection is open share it if they ask for the same
cluster; the last one to stop calls `ray.shutdown` (which stops a local cluster that `ray.init` started, and
only disconnects from an existing one). A connection this process had before any executor started belongs
to whoever opened it: executors use it and never close it.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
from typing import Any

from parlay.errors import ConfigurationError

logger = logging.getLogger(__name__)

#: Ray Client's server sometimes fails to start the session of a new connection (seen on a loaded machine,
#: "Initialization failure from server"): such a connection is tried again.
_CLIENT_ATTEMPTS = 3

_lock = threading.Lock()
#: The executors (by id) that use the connection parlay opened, and what it was opened with.
_users: set[int] = set()
_opened_with: dict[str, Any] | None = None


def connect(user: object, init_kwargs: dict[str, Any], label: str) -> bool:
    """Connect this process to Ray with `ray.init(**init_kwargs)`, or share the connection parlay opened with the
    same arguments. Returns False, doing nothing, if the process has a connection that parlay did not open."""
    import ray

    global _opened_with
    with _lock:
        if ray.is_initialized():
            if _opened_with is None:
                return False
            if init_kwargs != _opened_with:
                raise ConfigurationError(
                    f"RayExecutor {label!r}: this process is already connected to Ray with {_shown(_opened_with)} "
                    f"for another executor; one process joins one Ray cluster, so give every RayExecutor of a "
                    f"process the same address and local-cluster options"
                )
            _users.add(id(user))
            return True
        logger.info("RayExecutor %s: ray.init(%s)", label, _shown(init_kwargs))
        _init(init_kwargs)
        _opened_with = dict(init_kwargs)
        _users.add(id(user))
        return True


def _init(init_kwargs: dict[str, Any]) -> None:
    import ray

    attempts = _CLIENT_ATTEMPTS if str(init_kwargs.get("address", "")).startswith("ray://") else 1
    for attempt in range(1, attempts + 1):
        try:
            ray.init(**{key: copy.copy(value) for key, value in init_kwargs.items()})  # Ray adds to what it is given
            return
        except BaseException as exc:
            with contextlib.suppress(Exception):
                ray.shutdown()  # a connection that failed half-way (Ray Client's) would stay half-open
            if attempt == attempts or not isinstance(exc, ConnectionAbortedError):
                raise
            logger.warning("Ray Client could not open a session (%s); trying again", exc)


def disconnect(user: object) -> None:
    """`user` no longer needs Ray; the last user of the connection parlay opened closes it."""
    import ray

    global _opened_with
    with _lock:
        if id(user) not in _users:
            return
        _users.discard(id(user))
        if not _users:
            _opened_with = None
            ray.shutdown()


def _shown(init_kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in init_kwargs.items() if key != "_system_config")
