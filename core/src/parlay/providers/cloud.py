"""`CloudProvider`: the base of providers whose blocks are cloud instances or pods, on hosts that share
nothing with the submitting host.

It adds to `ExecutionProvider` what such blocks need so that nothing is left running or billed by surprise:

- `tags(job_name)`: the labels every created thing carries (the run, the provider and the block), valid for
  every cloud;
- `record` / `forget`: each created resource beyond the job itself (a secret, a network interface, a
  security group) is journaled the moment the API returns it, and its deletion too;
- `sweep(run_id)` finds by the recorded ids and by the tags what a run left and deletes it, a line per
  resource: `release()` calls it at the end of the run and `parlay cleanup` after a crash, so a plugin
  implements it once;
- `startup_script`: the block's script, with `secret_environment` (the executor's keys) exported in it, for
  providers that hand the script to the instance through user-data, metadata or custom data that only the
  instance reads. Providers with a secret store of their own (a container orchestrator's) use `job_script`
  and the store.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from parlay.options import amount, declare, option
from parlay.providers.base import ExecutionProvider

#: The tag keys every created resource carries: the run, the provider (by its label, so that one provider's
#: sweep spares another's resources in the same run) and, for a block's own resources, the block.
RUN_TAG, PROVIDER_TAG, BLOCK_TAG = "parlay-run", "parlay-provider", "parlay-block"


def tag_value(text: str) -> str:
    """`text` as a value every cloud accepts in a label or tag: lower case letters, digits, `-` and `_`,
    at most 63 characters (the strictest clouds' rules)."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63].strip("-_") or "none"


@declare
class CloudProvider(ExecutionProvider):
    """A provider of cloud instances or pods. Subclasses implement `_submit`, `_status`, `_cancel` and
    `sweep`, tag what they create with `tags`, and `record` every resource that is not the job itself."""

    shares_filesystem = False

    status_polling_interval: float = option(10, "seconds between status polls", amount("seconds"))
    api_timeout: float = option(30, "seconds an API call may take before it counts as failed", amount("seconds"))

    def tags(self, job_name: str | None = None) -> dict[str, str]:
        """The run's and the provider's tags, and the block's when `job_name` is given."""
        tags = {RUN_TAG: tag_value(self.run_id or "none"), PROVIDER_TAG: tag_value(self.label)}
        if job_name is not None:
            tags[BLOCK_TAG] = tag_value(job_name)
        return tags

    def record(self, resource: str, resource_id: str, **details: Any) -> None:
        """Journal a resource the run created (not the job itself, which `submit` journals), at once."""
        entry = {"event": "created", "job_id": f"{resource}/{resource_id}", "resource": resource}
        self._journal({**entry, "resource_id": resource_id, "options": self.cleanup_options(), **details})

    def forget(self, resource: str, resource_id: str) -> None:
        """Journal that a recorded resource was deleted, so `parlay cleanup` does not look for it."""
        self._journal({"event": "deleted", "job_id": f"{resource}/{resource_id}", "resource": resource})

    def startup_script(self, command: str, tasks_per_node: int, job_name: str) -> str:
        """The script each instance of a block runs, for its one node, with `secret_environment` exported after
        its first line: for user-data, metadata or custom data, which only the instance reads. Never written to
        the run directory (`write_script(..., nodes=1)` writes it without the secrets, for the user to read)."""
        first, _, rest = self.job_script(command, tasks_per_node, job_name, nodes=1).partition("\n")
        exports = [f"export {name}={shlex.quote(value)}" for name, value in sorted(self.secret_environment.items())]
        return "\n".join([first, *exports, rest])
