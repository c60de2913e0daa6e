"""`docs/plugins.md` documents every hook of `parlay.plugins.hookspecs`, each on its own with its
arguments and an example implementing it, and nothing that is not a hook."""

import inspect
import os
import re

from parlay.plugins import hookspecs

GUIDE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "plugins.md")


def documented_hooks() -> dict[str, tuple[list[str], str]]:
    """Hook name -> (its arguments as the heading gives them, the section's text)."""
    with open(GUIDE) as stream:
        text = stream.read()
    sections = re.split(r"^### ", text, flags=re.MULTILINE)[1:]
    found = {}
    for section in sections:
        heading = re.match(r"`(parlay_\w+)\(([^)]*)\)`", section)
        if heading:
            arguments = [a.strip() for a in heading.group(2).split(",") if a.strip()]
            found[heading.group(1)] = (arguments, section)
    return found


def specified_hooks() -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(function).parameters)
        for name, function in vars(hookspecs).items()
        if name.startswith("parlay_") and callable(function)
    }


def test_every_hook_is_documented_with_its_arguments():
    documented = documented_hooks()
    specified = specified_hooks()
    assert sorted(documented) == sorted(specified), "docs/plugins.md and hookspecs.py list different hooks"
    for name, arguments in specified.items():
        assert documented[name][0] == arguments, f"{name}: documented as {documented[name][0]}, specified {arguments}"


def test_every_hook_has_an_example():
    for name, (_, section) in documented_hooks().items():
        assert re.search(rf"```python\n.*?def {name}\(", section, re.DOTALL), f"{name} has no example in the guide"
