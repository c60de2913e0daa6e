"""Every public Parsl name in `parlay.parsl_names` resolves under `parlay.` to the object the table names, in
both import forms; a name parlay does not provide raises an ImportError saying what to use instead."""

import importlib
import pathlib
import subprocess
import sys

import pytest

import parlay
from parlay.parsl_names import ABSENT, NAMES, TABLE, NotInParlay, render_page


def split(parsl):
    module, _, name = ("parlay" + parsl[len("parsl") :]).rpartition(".")
    return module, name


def target(row):
    module, _, attribute = row.target.partition(":")
    return getattr(importlib.import_module(module), attribute)


@pytest.mark.parametrize("row", [r for r in NAMES if r.status != ABSENT], ids=lambda r: r.parsl)
def test_a_name_parlay_has_resolves_in_both_import_forms(row):
    module, name = split(row.parsl)
    expected = target(row)
    namespace = {}
    exec(f"from {module} import {name} as found", namespace)  # the form users write
    assert namespace["found"] is expected
    assert getattr(importlib.import_module(module), name) is expected


@pytest.mark.parametrize("row", [r for r in NAMES if r.status == ABSENT], ids=lambda r: r.parsl)
def test_a_name_parlay_lacks_says_what_to_use_instead(row):
    module, name = split(row.parsl)
    with pytest.raises(NotInParlay) as info:
        exec(f"from {module} import {name}", {})
    assert f"parlay does not provide {name}" in str(info.value) and row.note in str(info.value)
    with pytest.raises(ImportError, match=f"parlay does not provide {name}"):
        getattr(importlib.import_module(module), name)


def test_the_table_has_one_row_per_name_and_says_how_each_differs():
    assert len(TABLE) == len(NAMES)
    for row in NAMES:
        assert row.status == "identical" or row.note, f"{row.parsl}: say how it differs or what to use instead"


def test_import_parlay_loads_no_table_and_no_backend():
    code = "import sys, parlay; print(sorted(m for m in sys.modules if m.startswith('parlay')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['parlay']"


def test_unknown_names_are_still_attribute_errors():
    with pytest.raises(AttributeError):
        parlay.no_such_name
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("parlay.no_such_module")


def test_the_coming_from_parsl_page_lists_the_table():
    page = pathlib.Path(__file__).parent.parent / "docs" / "parsl.md"
    text = page.read_text()
    assert render_page(text) == text, "regenerate the table with `python3 dev.py readmes`"
