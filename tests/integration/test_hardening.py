"""No 500 for malformed input, against a real ``stratus-api`` process (SQLite):
the one JSON body rule (nesting depth, NaN/Infinity, Content-Type) on every API,
integers beyond the database's range in image queries, type holes in identity
bodies, the OpenStack error shape and request id of an unhandled exception, and
the request-body models that ``/openapi.json`` describes."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from stratus.api import app as api_app
from tests.support.cloud import ControlPlane

DEEP_ARRAY = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000
JSON = {"Content-Type": "application/json"}
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(workdir=str(tmp_path_factory.mktemp("hardening")))
    plane.start()
    yield plane
    plane.stop()


@pytest.fixture(scope="module")
def admin(cloud: ControlPlane) -> Iterator[httpx.Client]:
    with cloud.client() as client:
        yield client


@pytest.fixture(scope="module")
def image_id(admin: httpx.Client) -> str:
    response = admin.post("/image/v2/images", json={"name": "hardening-target"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _fault(response: httpx.Response, status: int, kind: str) -> str:
    """The message of an OpenStack-shaped error, after checking its shape."""
    assert response.status_code == status, response.text
    assert response.headers["x-openstack-request-id"].startswith("req-")
    body = response.json()
    assert list(body) == [kind], body
    assert body[kind]["code"] == status
    return body[kind]["message"]


def _json_endpoints(image_id: str) -> list[tuple[str, str, dict[str, str], str]]:
    """(method, path, headers, error kind) of JSON endpoints of each API."""
    return [
        ("POST", "/compute/v2.1/flavors", JSON, "badRequest"),
        ("POST", "/compute/v2.1/os-keypairs", JSON, "badRequest"),
        ("PUT", "/compute/v2.1/os-quota-sets/p", JSON, "badRequest"),
        ("POST", "/image/v2/images", JSON, "badRequest"),
        ("PATCH", f"/image/v2/images/{image_id}", PATCH, "badRequest"),
        ("POST", f"/image/v2/images/{image_id}/members", JSON, "badRequest"),
        ("POST", "/identity/v3/users", JSON, "error"),
        ("POST", "/identity/v3/projects", JSON, "error"),
        ("POST", "/identity/v3/auth/tokens", JSON, "error"),
    ]


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
def test_deeply_nested_json_is_400(admin: httpx.Client, image_id: str, body: str) -> None:
    for method, path, headers, kind in _json_endpoints(image_id):
        response = admin.request(method, path, content=body, headers=headers)
        message = _fault(response, 400, kind)
        assert "nested" in message, (method, path, message)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_400(admin: httpx.Client, image_id: str, number: str) -> None:
    for method, path, headers, kind in _json_endpoints(image_id):
        body = f"[{number}]" if method == "PATCH" else f'{{"x": {number}}}'
        response = admin.request(method, path, content=body, headers=headers)
        message = _fault(response, 400, kind)
        assert "JSON number" in message or "range" in message, (method, path, message)


def test_unpaired_surrogates_are_400(admin: httpx.Client, image_id: str) -> None:
    """A \\ud835 escape without its other half is no character; a key pair named by
    one (the fuzzer found a 500 through the x509 generator) and every other body is a
    400, while a well-formed pair is a character like any other."""
    for method, path, headers, kind in _json_endpoints(image_id):
        body = '["\\ud835x"]' if method == "PATCH" else '{"x": "\\ud835x"}'
        response = admin.request(method, path, content=body, headers=headers)
        assert "surrogate" in _fault(response, 400, kind), (method, path)
    # The fuzzer's case: an admin's x509 key pair for a user id longer, in UTF-8, than
    # a certificate's common name.
    user = "\\ud835\\udd4b" * 40
    paired = admin.post(
        "/compute/v2.1/os-keypairs",
        content=f'{{"keypair": {{"name": "hardening-x509", "type": "x509", "user_id": "{user}"}}}}',
        headers={"Content-Type": "application/json", "OpenStack-API-Version": "compute 2.10"},
    )
    assert paired.status_code == 201, paired.text
    assert paired.json()["keypair"]["user_id"] == "\U0001d54b" * 40
    gone = admin.delete(
        "/compute/v2.1/os-keypairs/hardening-x509",
        params={"user_id": "\U0001d54b" * 40},
        headers={"OpenStack-API-Version": "compute 2.10"},
    )
    assert gone.status_code == 204, gone.text


def test_content_type_is_checked(admin: httpx.Client, image_id: str) -> None:
    body = '{"flavor": {"name": "ct", "ram": 64, "vcpus": 1, "disk": 1}}'
    for media in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        headers = {"Content-Type": media}
        response = admin.post("/compute/v2.1/flavors", content=body, headers=headers)
        assert media in _fault(response, 415, "badMediaType")
        response = admin.post("/image/v2/images", content="{}", headers=headers)
        _fault(response, 415, "badMediaType")
        response = admin.post(
            "/identity/v3/projects", content='{"project": {"name": "x"}}', headers=headers
        )
        assert "Content-Type" in _fault(response, 400, "error")
    # Image data is octet-stream, JSON patches their own type: each endpoint its own.
    response = admin.put(f"/image/v2/images/{image_id}/file", content=b"{}", headers=JSON)
    _fault(response, 415, "badMediaType")
    response = admin.patch(f"/image/v2/images/{image_id}", content="[]", headers=JSON)
    _fault(response, 415, "badMediaType")
    # JSON with a charset, and a body with no Content-Type, are JSON.
    response = admin.post(
        "/image/v2/images",
        content='{"name": "charset"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201, response.text
    assert admin.delete(f"/image/v2/images/{response.json()['id']}").status_code == 204


def test_oversized_json_body_is_413(admin: httpx.Client) -> None:
    body = '{"name": "' + "x" * (16 * 1024 * 1024) + '"}'
    response = admin.post("/image/v2/images", content=body, headers=JSON)
    assert "larger than" in _fault(response, 413, "overLimit")
    response = admin.post("/identity/v3/projects", content=body, headers=JSON)
    _fault(response, 413, "error")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("size_min", "9223372036854775808"),
        ("size_max", "99999999999999999999999999"),
        ("size_min", "-1"),
        ("min_ram", "2147483648"),
        ("min_disk", "9223372036854775808"),
    ],
)
def test_image_query_integers_beyond_the_database(
    admin: httpx.Client, name: str, value: str
) -> None:
    response = admin.get("/image/v2/images", params={name: value})
    assert name in _fault(response, 400, "badRequest")


def test_image_integers_at_the_edges(admin: httpx.Client) -> None:
    params = {"size_max": str(2**63 - 1), "min_ram": str(2**31 - 1), "limit": "9" * 30}
    response = admin.get("/image/v2/images", params=params)
    assert response.status_code == 200, response.text
    for name in ("min_ram", "min_disk"):
        response = admin.post("/image/v2/images", json={"name": "big", name: 2**63})
        assert name in _fault(response, 400, "badRequest")


def test_identity_type_holes(admin: httpx.Client) -> None:
    cases = [
        ({"user": {"name": "hardening-empty-pw", "password": ""}}, "password"),
        ({"user": {"name": "hardening-pw-type", "password": 12345}}, "password"),
        ({"user": {"name": "hardening-enabled", "enabled": "yes"}}, "enabled"),
        ({"user": {"name": ["list"]}}, "name"),
    ]
    for body, field in cases:
        response = admin.post("/identity/v3/users", json=body)
        assert field in _fault(response, 400, "error"), body
    listed = admin.get("/identity/v3/users").json()["users"]
    assert not [u for u in listed if u["name"].startswith("hardening-")]


def test_openapi_describes_image_bodies(cloud: ControlPlane) -> None:
    spec = httpx.get(f"{cloud.url}/openapi.json").json()
    paths = spec["paths"]
    create = paths["/image/v2/images"]["post"]["requestBody"]["content"]["application/json"]
    assert create["schema"]["properties"]["min_ram"]["maximum"] == 2**31 - 1
    patch = paths["/image/v2/images/{image_id}"]["patch"]["requestBody"]["content"]
    item = patch[PATCH["Content-Type"]]["schema"]["items"]
    assert item["properties"]["op"]["enum"] == ["add", "remove", "replace"]
    upload = paths["/image/v2/images/{image_id}/file"]["put"]["requestBody"]["content"]
    assert "application/octet-stream" in upload
    members = paths["/image/v2/images/{image_id}/members"]["post"]["requestBody"]
    assert members["content"]["application/json"]["schema"]["$ref"].endswith("/MemberCreate")
    update = spec["components"]["schemas"]["MemberUpdate"]["properties"]["status"]
    assert update["enum"] == ["pending", "accepted", "rejected"]


# --- unhandled exceptions ---------------------------------------------------------------


class Boom(Exception):
    pass


@pytest.fixture(scope="module")
def raising_app() -> FastAPI:
    """The real application, plus test-only routes that raise an exception nothing
    handles (no route of the product raises on purpose); served in-process."""
    app = api_app.create_app()

    def boom() -> None:
        raise Boom("kaboom")

    for path in ("/compute/v2.1/boom", "/image/v2/boom", "/identity/v3/boom"):
        app.add_api_route(path, boom, methods=["GET", "POST"])
    return app


@pytest.mark.parametrize(
    ("path", "kind", "compute"),
    [
        ("/compute/v2.1/boom", "computeFault", True),
        ("/image/v2/boom", "internalServerError", False),
        ("/identity/v3/boom", "error", False),
    ],
)
def test_unhandled_exception_is_openstack_shaped(
    raising_app: FastAPI, caplog: pytest.LogCaptureFixture, path: str, kind: str, compute: bool
) -> None:
    client = TestClient(raising_app, raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="stratus.api.middleware"):
        response = client.post(path, json={"a": 1})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == [kind] and body[kind]["code"] == 500
    assert "kaboom" not in body[kind]["message"]
    request_id = response.headers["x-openstack-request-id"]
    assert request_id.startswith("req-")
    assert ("x-compute-request-id" in response.headers) is compute
    records = [r for r in caplog.records if request_id in r.getMessage()]
    assert records and records[0].exc_info is not None
    assert records[0].exc_info[0] is Boom
