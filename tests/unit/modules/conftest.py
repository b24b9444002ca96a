"""Unit tests of the Stratus modules' decision logic.

The modules import their shared code as ``ansible.module_utils.stratus_*``;
here the repository's ``module_utils`` directory joins that package's path (as it
does on Ansible's side when a module is built), and module files are loaded
from ``library/``.

Two stand-ins for ``StratusConnection``. ``FakeAPI`` fakes the HTTP layer: it
answers from a table of canned responses, recording each request so tests can
check what a module would send. ``InProcessAPI`` (fixture ``stratus_api``) sends
the requests to the real Stratus API application in this process, on SQLite; the
Networking modules are tested against it. Everything above the connection
(argument parsing, decisions, diffs, check mode, results) is the real code, run
in-process through ``AnsibleModule``.
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


class RecordingAPI:
    """What both stand-ins for ``StratusConnection`` share: the requests they saw."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, Any, Any]] = []

    def writes(self) -> list[tuple[str, str, Any]]:
        """The requests that would change something (anything but GET)."""
        return [(m, p, b) for m, _, p, b, _ in self.calls if m != "GET"]


class FakeAPI(RecordingAPI):
    """A stand-in for ``StratusConnection``: ``routes`` maps ``(method, path)`` (path
    without the query) to an answer; an unknown GET answers 404 like the API, an
    unknown write succeeds with an empty body."""

    def __init__(self, routes: dict[tuple[str, str], Answer] | None = None) -> None:
        super().__init__()
        self.routes = dict(routes or {})

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
            if isinstance(v, type)
            and issubclass(v, StratusModule)
            and v.__module__ == module.__name__  # not a base class it imports
        ]
        arguments = dict(args, _ansible_check_mode=check_mode, _ansible_diff=True)
        with patch_module_args(arguments), pytest.raises(SystemExit):
            classes[0].execute(connection=api)
        return json.loads(capsys.readouterr().out)

    return _run


#: Where each service's paths start on the Stratus API (the catalog's URLs).
SERVICE_PREFIX = {
    "network": "/networking/v2.0",
    "compute": "/compute/v2.1",
    "image": "/image/v2",
    "identity": "/identity/v3",
}


class InProcessAPI(RecordingAPI):
    """A stand-in for ``StratusConnection`` that sends each request to the real
    Stratus API application in this process (FastAPI's ``TestClient``), on a
    SQLite database of its own: the modules' requests meet the real routes,
    validation, policy, service layer and error bodies. Only the token check is
    replaced (every request is the admin of project ``PROJECT``), since a token
    needs Identity's keys and a bootstrap that this tier does without."""

    PROJECT = "p-modules"

    def __init__(self, client: Any) -> None:
        super().__init__()
        self.client = client

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
        from ansible.module_utils.stratus_http import api_error_message

        self.calls.append((method, service, path, body, query))
        response = self.client.request(
            method, SERVICE_PREFIX[service] + path, params=query, json=body
        )
        if response.status_code >= 400:
            message = api_error_message(response.content)
            doing = what or f"{method} {path}"
            raise StratusAPIError(
                f"{doing} failed (HTTP {response.status_code}): {message}",
                response.status_code,
                message,
            )
        return response.json() if response.content else None


@pytest.fixture(scope="module")
def stratus_api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``InProcessAPI`` over a fresh SQLite database, shared by a test module."""
    from fastapi.testclient import TestClient

    from stratus.api.app import create_app
    from stratus.api.context import RequestContext, get_context
    from stratus.conf import CONF
    from stratus.db import session as db_session
    from stratus.db.models import Base

    path = tmp_path_factory.mktemp("modules-api") / "stratus.db"
    CONF([], project="stratus", default_config_files=[])  # oslo.policy reads it
    CONF.set_override("connection", f"sqlite:///{path}", "database")
    CONF.set_override("vni_ranges", ["100:199"], "network")
    CONF.set_override("physical_network_mappings", ["physnet1:eth1"], "network")
    db_session.reset()
    Base.metadata.create_all(db_session.get_engine())
    app = create_app()
    admin = RequestContext(
        user_id="u-admin",
        user_name="admin",
        project_id=InProcessAPI.PROJECT,
        project_name="modules",
        domain_id="default",
        roles=["admin", "member", "reader"],
        token=None,  # type: ignore[arg-type]
    )
    app.dependency_overrides[get_context] = lambda: admin
    try:
        with TestClient(app) as client:
            yield InProcessAPI(client)
    finally:
        db_session.reset()
        for name in ("vni_ranges", "physical_network_mappings"):
            CONF.clear_override(name, "network")
        CONF.clear_override("connection", "database")
        CONF.clear()
