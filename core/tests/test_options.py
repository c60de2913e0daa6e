"""Backend options declared with `parlay.options`, and the docs `parlay.backend_docs` generates from them."""

import inspect

import pytest

from parlay.backend_docs import describe, options_table, render_readme
from parlay.errors import BadLauncher, ConfigurationError
from parlay.launchers.base import Launcher
from parlay.launchers.builtin import SingleNodeLauncher, WrappedLauncher
from parlay.options import REQUIRED, count, declare, flag, name, one_of, option, optional, state


@declare
class Machine:
    """A machine to run on."""

    host: str = option(REQUIRED, "where it runs", name, positional=True)
    cores: int | None = option(None, "cores it has", optional(count(1)))
    shared: bool = option(False, "whether others use it too", flag)
    jobs: list = state(factory=list)


@declare(defaults={"cores": 8}, help={"shared": "always shared"}, internal=("shared",))
class Cluster(Machine):
    """Several machines."""

    size: int = option(1, "machines in the cluster", one_of(1, 2, 4))


@declare
class BigCluster(Cluster):
    nodes: int = option(2, "nodes of each machine", count(1))


def test_options_are_checked_when_built_and_when_assigned():
    with pytest.raises(ConfigurationError, match=r"^Machine\.host='a b': expected a name without spaces$"):
        Machine("a b")
    machine = Machine("node1", cores=4)
    with pytest.raises(ConfigurationError, match=r"^Machine\.cores=0: expected an integer >= 1, or None$"):
        machine.cores = 0
    with pytest.raises(ConfigurationError, match=r"Machine\.cores=True"):
        machine.cores = True
    assert machine.cores == 4, "a refused value is not kept"
    with pytest.raises(ConfigurationError, match=r"^Cluster\.size=True: expected one of 1, 2, 4$"):
        Cluster("node1", size=True)


def test_launchers_raise_bad_launcher():
    with pytest.raises(BadLauncher, match=r"^SingleNodeLauncher\.fail_on_any='yes': expected True or False$"):
        SingleNodeLauncher(fail_on_any="yes")
    assert isinstance(SingleNodeLauncher(), Launcher)


def test_subclasses_redeclare_defaults_meanings_and_internal_options():
    assert Cluster("n").cores == BigCluster("n").cores == 8, "a redeclared default is inherited further down"
    assert list(inspect.signature(BigCluster).parameters) == ["host", "cores", "size", "nodes"]
    cluster = Cluster("n")
    assert cluster.shared is False, "an internal option keeps its default, as an attribute"
    with pytest.raises(TypeError):
        Cluster("n", shared=True)
    with pytest.raises(ConfigurationError, match=r"Cluster\.shared=1"):
        cluster.shared = 1
    assert "shared" not in options_table(Cluster) and "always shared" not in options_table(Cluster)


def test_mandatory_positional_options_come_first():
    assert list(inspect.signature(WrappedLauncher).parameters) == ["prepend", "debug"]
    assert WrappedLauncher("nice -n 5", True)("worker", 1, 1) == "set -x\nnice -n 5 worker"


def test_runtime_state_is_no_option():
    machine = Machine("n")
    assert machine.jobs == [] and machine.jobs is not Machine("n").jobs
    assert "jobs" not in inspect.signature(Machine).parameters
    assert "jobs" not in repr(machine) and "jobs" not in options_table(Machine)


def test_declarations_that_cannot_be_documented_are_refused():
    with pytest.raises(TypeError, match=r"Bare\.size is an option without a meaning"):

        @declare
        class Bare:
            size: int = 1

    with pytest.raises(TypeError, match=r"declare\(defaults=\.\.\.\) of Typo: no option named coars"):

        @declare(defaults={"coars": 2})
        class Typo(Machine):
            pass


def test_options_table_and_description():
    assert options_table(Cluster) == (
        "| option | default | meaning |\n"
        "|---|---|---|\n"
        "| `host` | `required` | where it runs |\n"
        "| `size` | `1` | machines in the cluster |\n"
        "| `cores` | `8` | cores it has |\n"
        "\n`host` may also be given by position, in this order; the others only by name.\n"
    )
    text = describe(BigCluster)
    assert text.startswith(f"BigCluster ({__name__})\n")
    assert "  nodes = 2\n      nodes of each machine\n" in text
    assert text.index("nodes = 2") < text.index("size = 1") < text.index("cores = 8"), "own options first"


def test_description_of_a_class_without_declarations():
    class Engine:
        """Runs tasks somewhere.

        In more detail."""

        def __init__(self, label: str = "engine", *, workers: int = 4):
            pass

    text = describe(Engine)
    assert "  Runs tasks somewhere.\n" in text and "In more detail." in text
    assert "  label = 'engine'\n" in text and "  workers = 4\n" in text
    assert "label may also be given by position" in text

    class Farm(Machine):
        """A subclass that writes its own constructor: described from it, not from its parent's options."""

        def __init__(self, host: str, barns: int = 2):
            super().__init__(host)

    text = describe(Farm)
    assert "  host = required\n" in text and "  barns = 2\n" in text and "cores" not in text


def test_readme_tables_are_rendered_between_their_markers():
    stale = "Intro.\n\n<!-- options: SingleNodeLauncher -->\nold table\n<!-- /options -->\n\nMore prose.\n"
    fresh = render_readme(stale)
    assert fresh.startswith("Intro.\n\n<!-- options: SingleNodeLauncher -->\n| option | default | meaning |\n")
    assert "| `fail_on_any` | `False` |" in fresh and "old table" not in fresh
    assert fresh.endswith("<!-- /options -->\n\nMore prose.\n")
    assert render_readme(fresh) == fresh
