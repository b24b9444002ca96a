"""The documentation of the options agrees with the argument spec.

The options every module shares are documented once, in doc_fragments/stratus.py,
and specified once, in module_utils (``connection_argument_spec`` and
``wait_argument_spec``); each module documents and specifies its own. The two
cannot be one (modules run where neither the fragment nor YAML parsing of their
documentation is wanted), so these tests read both sides, the documentation merged
with Ansible's own fragment loader, and fail when either changes alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.plugin_docs import read_docstring
from ansible.plugins.loader import fragment_loader
from ansible.utils.plugin_docs import get_docstring

from tests.unit.modules.conftest import REPO, load

from ansible.module_utils.stratus_config import connection_argument_spec  # isort: skip
from ansible.module_utils.stratus_module import (  # isort: skip
    StratusModule,
    common_argument_spec,
    wait_argument_spec,
)

fragment_loader.add_directory(str(REPO / "doc_fragments"))
FRAGMENT = fragment_loader.get("stratus")
MODULES = sorted((REPO / "library").glob("stratus_*.py"))
#: The modules that wait for their changes; the others document wait as not used.
WAITING = {"stratus_flavor", "stratus_image", "stratus_server"}


def specified(spec: dict[str, Any]) -> dict[str, Any]:
    """An argument spec as documentation states it."""
    shown = {}
    for name, option in spec.items():
        entry: dict[str, Any] = {"type": option.get("type", "str")}
        for key in ("default", "choices", "elements"):
            if option.get(key) is not None:
                entry[key] = option[key]
        if option.get("required"):
            entry["required"] = True
        if option.get("aliases"):
            entry["aliases"] = sorted(option["aliases"])
        if option.get("options"):
            entry["suboptions"] = specified(option["options"])
        shown[name] = entry
    return shown


def documented(docs: dict[str, Any]) -> dict[str, Any]:
    """Documented options less their prose."""
    shown = {}
    for name, option in docs.items():
        entry = {k: option[k] for k in option if k not in ("description", "suboptions")}
        if "aliases" in entry:
            entry["aliases"] = sorted(entry["aliases"])
        if option.get("suboptions"):
            entry["suboptions"] = documented(option["suboptions"])
        shown[name] = entry
    return shown


def fragment_options(part: str) -> dict[str, Any]:
    return documented(yaml.safe_load(getattr(FRAGMENT, part))["options"])


def module_class(path: Path) -> type[StratusModule]:
    module = load(path.stem)
    (cls,) = [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, StratusModule)
        and v.__module__ == module.__name__  # not a base class it imports
    ]
    return cls


def test_the_connection_options_are_documented_as_specified() -> None:
    assert fragment_options("DOCUMENTATION") == specified(connection_argument_spec())


@pytest.mark.parametrize("part", ["WAIT", "NO_WAIT"])
def test_wait_and_timeout_are_documented_as_specified(part: str) -> None:
    assert fragment_options(part) == specified(wait_argument_spec())


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_modules_take_the_shared_documentation_from_the_fragment(path: Path) -> None:
    own = read_docstring(str(path))["doc"]
    wait_part = "stratus.wait" if path.stem in WAITING else "stratus.no_wait"
    assert own["extends_documentation_fragment"][:2] == ["stratus", wait_part]
    assert not set(common_argument_spec()) & set(own["options"])


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_every_option_of_a_module_is_documented_as_specified(path: Path) -> None:
    merged = get_docstring(str(path), fragment_loader)[0]
    spec = dict(common_argument_spec(), **module_class(path).argument_spec)
    assert documented(merged["options"]) == specified(spec)
