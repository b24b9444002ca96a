"""Unit tests of the Stratus modules' decision logic.

The modules import their shared code as ``ansible.module_utils.stratus_*``;
here the repository's ``module_utils`` directory joins that package's path (as it
does on Ansible's side when a module is built), and module files are loaded
from ``library/``.

At this tier only, the HTTP layer is faked: ``FakeAPI`` stands in for
``StratusConnection`` and answers from a table of canned responses, recording
each request so tests can check what a module would send. Everything above
it (argument parsing, decisions, diffs, check mode, results) is the real code,
run in-process through ``AnsibleModule``.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ansible.module_utils
import pytest
from ansible.module_utils.testing import patch_module_args

REPO = Path(__file__).resolve().parents[3]
if str(REPO / "module_utils") not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(str(REPO / "module_utils"))

from ansible.module_utils.stratus_errors import StratusAPIError  # noqa: E402
from ansible.module_utils.stratus_module import StratusModule  # noqa: E402

#: Password credentials as a module's ``auth`` option (or clouds.yaml) gives them.
AUTH = {
    "auth_url": "http://127.0.0.1:5000/identity/v3",
    "username": "admin",
    "password": "secret",
    "project_name": "admin",
}


def load(name: str) -> Any:
    """The module file ``library/<name>.py`` as a Python module."""
    key = f"stratus_library_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, REPO / "library" / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


Answer = Any  # a JSON body, an exception to raise, or a callable(body, query) -> either


class FakeAPI:
    """A stand-in for ``StratusConnection``: ``routes`` maps ``(method, path)`` (path
    without the query) to an answer; an unknown GET answers 404 like the API, an
    unknown write succeeds with an empty body."""

    def __init__(self, routes: dict[tuple[str, str], Answer] | None = None) -> None:
        self.routes = dict(routes or {})
        self.calls: list[tuple[str, str, str, Any, Any]] = []

    def request(
        self,
        method: str,
        service: str,
        path: str,
        body: Any = None,
        *,
        what: str | None = None,
        query: Any = None,
        microversion: str | None = None,
        data: Any = None,
        content_type: str | None = None,
        extra_headers: Any = None,
    ) -> Any:
        self.calls.append((method, service, path, body, query))
        if (method, path) not in self.routes and method != "GET":
            return None  # writes nobody scripted succeed with an empty answer
        answer = self.routes.get((method, path))
        if answer is None:
            doing = what or f"{method} {path}"
            raise StratusAPIError(
                f"{doing} failed (HTTP 404 Not Found): not found", 404, "not found"
            )
        if callable(answer):
            answer = answer(body, query)
        if isinstance(answer, Exception):
            raise answer
        return copy.deepcopy(answer)

    def writes(self) -> list[tuple[str, str, Any]]:
        """The requests that would change something (anything but GET)."""
        return [(m, p, b) for m, _, p, b, _ in self.calls if m != "GET"]


def api_error(status: int, message: str) -> Callable[[Any, Any], StratusAPIError]:
    def answer(body: Any, query: Any) -> StratusAPIError:
        return StratusAPIError(f"failed (HTTP {status}): {message}", status, message)

    return answer


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., dict[str, Any]]:
    """``run(name, args, api, check_mode=False)``: the module's JSON result."""

    def _run(
        name: str, args: dict[str, Any], api: FakeAPI, check_mode: bool = False
    ) -> dict[str, Any]:
        module = load(name)
        classes = [
            v
            for v in vars(module).values()
            if isinstance(v, type) and issubclass(v, StratusModule) and v is not StratusModule
        ]
        arguments = dict(args, _ansible_check_mode=check_mode, _ansible_diff=True)
        with patch_module_args(arguments), pytest.raises(SystemExit):
            classes[0].execute(connection=api)
        return json.loads(capsys.readouterr().out)

    return _run
