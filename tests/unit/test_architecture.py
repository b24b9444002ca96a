"""Layering rules of the package, checked over its source.

* The domain layers (``stratus/db``, ``stratus/scheduler``, ``stratus/compute``,
  ``stratus/conductor``) never import from the HTTP layer ``stratus/api``.
* Nothing outside ``stratus/rpc/`` makes an RPC call by method name: callers use
  the named methods of the ``*rpcapi.py`` clients.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "stratus"
DOMAIN = ("db", "scheduler", "compute", "conductor", "network")


def _sources(*parts: str) -> list[Path]:
    return sorted((PACKAGE.joinpath(*parts)).rglob("*.py"))


def _imported_modules(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def api_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    return [
        name
        for name in _imported_modules(tree)
        if name == "stratus.api" or name.startswith("stratus.api.")
    ]


def calls_by_method_name(path: Path) -> list[int]:
    """Lines of ``x.call(ctxt, "name", ...)`` / ``x.cast(...)`` (a string argument)."""
    tree = ast.parse(path.read_text(), str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("call", "cast")
        and any(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
    ]


@pytest.mark.parametrize("layer", DOMAIN)
def test_domain_layers_do_not_import_the_http_layer(layer: str) -> None:
    offenders = {
        str(path.relative_to(PACKAGE.parent)): names
        for path in _sources(layer)
        if (names := api_imports(path))
    }
    assert offenders == {}


def test_rpc_calls_are_made_only_by_the_rpcapi_clients() -> None:
    offenders = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in _sources()
        if "rpc" not in path.relative_to(PACKAGE).parts[:1]
        and (lines := calls_by_method_name(path))
    }
    assert offenders == {}


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """Both checks find what they look for."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from stratus.api.errors import Conflict\n"
        "import stratus.api\n"
        "client.prepare(server=h).cast(ctxt, 'terminate_instance', instance_uuid=u)\n"
        "ok = subprocess.call(['true'])\n"
    )
    assert sorted(api_imports(bad)) == [
        "stratus.api",
        "stratus.api.errors",
        "stratus.api.errors.Conflict",
    ]
    assert calls_by_method_name(bad) == [3]
