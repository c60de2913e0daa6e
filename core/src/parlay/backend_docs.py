"""Docs of a backend class's options, generated from its declarations (`parlay.options`): a Markdown
table for plugin READMEs, and plain text for `parlay plugins --describe NAME`. A class whose constructor
attrs did not write (staging backends, third parties' own `__init__`) is described from its signature.

A README holds a generated table between marker comments::

    <!-- options: ClassName -->
    ...
    <!-- /options -->

`python -m parlay.backend_docs README.md...` rewrites the tables of the READMEs it is given (`python3 dev.py
readmes` runs it over every plugin's README).
"""

from __future__ import annotations

import inspect
import re
import sys
import textwrap

import attrs

from parlay.options import HELP, options_of

#: A README's generated table: the marker naming the class, the table, the end marker.
MARKED = re.compile(r"(<!-- options: (\S+) -->\n).*?(<!-- /options -->)", re.DOTALL)
KINDS = ("providers", "launchers", "executors", "staging")


@attrs.frozen
class Row:
    """One option as the docs show it."""

    name: str
    default: str
    help: str


def rows(cls: type) -> list[Row]:
    """The options of `cls`: those it takes by position, in order, then those it declares itself, then its
    parents' (nearest first)."""
    if not declared(cls):
        parameters = inspect.signature(cls).parameters.values()
        variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        return [Row(p.name, _shown(p.default), "") for p in parameters if p.kind not in variadic]
    order = positional(cls)
    fields = sorted(
        options_of(cls),
        key=lambda f: (0, order.index(f.name), 0) if f.name in order else (1, *_declared_by(cls, f.name)),
    )
    return [Row(f.name, _shown(f.default), f.metadata.get(HELP, "")) for f in fields]


def declared(cls: type) -> bool:
    """Whether `cls` takes the options it declares (`parlay.options`): the constructor it uses is the one attrs
    wrote, not an `__init__` of its own or of an undeclared parent."""
    owner = next(c for c in cls.__mro__ if "__init__" in vars(c))
    return "__attrs_attrs__" in vars(owner)


def positional(cls: type) -> list[str]:
    """The options `cls` also takes by position, in order."""
    parameters = inspect.signature(cls).parameters.values()
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def options_table(cls: type) -> str:
    """A Markdown table of `cls`'s options (option, default, meaning), and which may be given by position."""
    lines = ["| option | default | meaning |", "|---|---|---|"]
    lines += [f"| `{row.name}` | `{_cell(row.default)}` | {_cell(row.help)} |" for row in rows(cls)]
    return "\n".join(lines) + "\n" + _positional_note(cls, "`{}`")


def describe(cls: type) -> str:
    """A plain-text description of backend class `cls`: what it is, then each option, its default and meaning."""
    summary = textwrap.indent(_plain(inspect.getdoc(cls) or ""), "  ")
    lines = [f"{cls.__name__} ({cls.__module__})", *summary.splitlines(), "", "Options:"]
    for row in rows(cls):
        lines.append(f"  {row.name} = {row.default}")
        lines += textwrap.wrap(_plain(row.help), 100, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return "\n".join(lines) + "\n\n" + textwrap.fill(_positional_note(cls, "{}").strip(), 100) + "\n"


def render_readme(text: str) -> str:
    """`text` with each marked options table generated afresh from its class."""
    return MARKED.sub(lambda m: m.group(1) + options_table(backend_class(m.group(2))) + m.group(3), text)


def backend_class(class_name: str) -> type:
    """The installed backend class called `class_name`, of whatever kind."""
    from parlay.errors import BackendNotFound
    from parlay.plugins import registry

    for kind in KINDS:
        try:
            return registry.load(kind, class_name)
        except BackendNotFound:
            continue
    raise BackendNotFound(f"no installed backend class is called {class_name!r}")


def _declared_by(cls: type, name: str) -> tuple[int, int]:
    """Where the option `name` is declared: how far up `cls`'s MRO (0: by `cls` itself), and its place there."""
    for depth, owner in enumerate(cls.__mro__):
        declared = list(inspect.get_annotations(owner))
        if name in declared:
            return depth, declared.index(name)
    return len(cls.__mro__), 0


def _shown(default: object) -> str:
    if default is attrs.NOTHING or default is inspect.Parameter.empty:
        return "required"
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        made = default.factory()  # type: ignore[attr-defined]
        return repr(made) if type(made).__module__ == "builtins" else f"{type(made).__name__}()"
    return repr(default)


def _positional_note(cls: type, quote: str) -> str:
    names = [quote.format(name) for name in positional(cls)]
    if not names:
        return "\nEvery option is given by name.\n"
    if len(names) == len(rows(cls)):
        return "\nEvery option may also be given by position, in this order.\n"
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"\n{listed} may also be given by position, in this order; the others only by name.\n"


def _cell(text: str) -> str:
    return text.replace("|", r"\|")


def _plain(markdown: str) -> str:
    return markdown.replace("`", "")


def main(paths: list[str]) -> int:
    """Rewrite the options tables of the README files `paths`; print those that changed."""
    for path in paths:
        with open(path) as stream:
            text = stream.read()
        fresh = render_readme(text)
        if fresh != text:
            with open(path, "w") as stream:
                stream.write(fresh)
            print(f"rewrote the options of {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
