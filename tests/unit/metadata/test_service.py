"""The metadata service app on a real SQLite database: signed requests get their
instance's trees, forged or unsigned ones are refused; answers are kept for
[metadata] cache_expiration seconds. (The test signs as the network's metadata
proxy does.)"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from stratus.conf import CONF
from stratus.db import session as db_session
from stratus.db.models import Base, Instance, InstanceMetadata
from stratus.db.session import transaction
from stratus.metadata import service

SECRET = "s3cret"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBpwWJKV6bOkgbfbCZ2vvBv8yhnM0X/vnz4bTHp8ZgRy k@x"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    CONF.set_override("connection", f"sqlite:///{tmp_path}/metadata.db", "database")
    CONF.set_override("shared_secret", SECRET, "metadata")
    db_session.reset()
    Base.metadata.create_all(db_session.get_engine())
    try:
        yield TestClient(service.create_app())
    finally:
        db_session.reset()
        CONF.clear_override("connection", "database")
        CONF.clear_override("shared_secret", "metadata")


def _instance(project: str = "p1", **values: object) -> str:
    with transaction() as session:
        instance = Instance(
            project_id=project,
            user_id="u1",
            display_name="vm",
            hostname="vm",
            flavor={"name": "tiny"},
            vcpus=1,
            memory_mb=64,
            root_gb=1,
            vm_state="active",
            key_name="k",
            key_data=KEY,
            request_spec={"user_data": base64.b64encode(b"#!/bin/sh\n").decode()},
            network_info=[],
            metadata_items=[InstanceMetadata(key="role", value="web")],
            **values,
        )
        session.add(instance)
        session.flush()
        return instance.uuid


def _headers(uuid: str, project: str | None = "p1", secret: str = SECRET) -> dict[str, str]:
    headers = {"X-Instance-ID": uuid, "X-Instance-ID-Signature": service.sign(uuid, secret)}
    if project:
        headers["X-Tenant-ID"] = project
    return headers


def test_signed_requests_get_both_trees(client: TestClient) -> None:
    uuid = _instance()
    get = lambda path: client.get(path, headers=_headers(uuid))  # noqa: E731
    md = get("/openstack/latest/meta_data.json")
    assert md.status_code == 200 and md.headers["content-type"] == "application/json"
    body = md.json()
    assert (body["uuid"], body["hostname"], body["meta"]) == (uuid, "vm.novalocal", {"role": "web"})
    assert body["public_keys"] == {"k": KEY}
    assert json.loads(get("/openstack/2015-10-15/network_data.json").text)["links"] == []
    assert get("/openstack/latest/user_data").content == b"#!/bin/sh\n"
    assert get("/openstack").text.split("\n")[-1] == "latest"
    assert get("/").text.split("\n")[0] == "1.0"
    assert get("/latest/meta-data/public-keys/0/openssh-key").text == KEY
    assert get("/2009-04-04/meta-data/instance-id").text == "i-" + uuid.replace("-", "")[:8]
    assert get("/latest/user-data").text == "#!/bin/sh\n"
    for missing in ("/openstack/1999-01-01/meta_data.json", "/latest/meta-data/x", "/nope"):
        assert get(missing).status_code == 404, missing


def test_unsigned_forged_and_foreign_requests_are_refused(client: TestClient) -> None:
    mine, other = _instance(), _instance(project="p2")
    assert client.get("/openstack/latest/meta_data.json").status_code == 400
    assert client.get("/", headers={"X-Instance-ID": mine}).status_code == 400
    # Asking for another instance with one's own signature, or a made-up one.
    forged = {**_headers(mine), "X-Instance-ID": other}
    assert client.get("/openstack/latest/meta_data.json", headers=forged).status_code == 403
    wrong = _headers(other, "p2", secret="guess")
    assert client.get("/openstack/latest/meta_data.json", headers=wrong).status_code == 403
    # A correctly signed id of another project's instance is not found.
    assert client.get("/", headers=_headers(other, "p1")).status_code == 404
    assert client.get("/", headers=_headers("no-such-instance")).status_code == 404
    assert client.get("/", headers=_headers(other, "p2")).status_code == 200


def test_no_secret_refuses_everything(client: TestClient) -> None:
    uuid = _instance()
    CONF.set_override("shared_secret", "", "metadata")
    assert client.get("/", headers=_headers(uuid, secret="")).status_code == 403


def _set_role(uuid: str, value: str) -> None:
    with transaction() as session:
        session.query(InstanceMetadata).filter(
            InstanceMetadata.instance_id == Instance.id, Instance.uuid == uuid
        ).update({"value": value}, synchronize_session=False)


@pytest.mark.parametrize("expiration", [15, 0])
def test_answers_are_kept_for_cache_expiration_seconds(client: TestClient, expiration: int) -> None:
    CONF.set_override("cache_expiration", expiration, "metadata")
    try:
        app = TestClient(service.create_app())
        uuid = _instance()
        path = "/openstack/latest/meta_data.json"
        assert app.get(path, headers=_headers(uuid)).json()["meta"] == {"role": "web"}
        _set_role(uuid, "db")
        kept = app.get(path, headers=_headers(uuid)).json()["meta"]
        assert kept == ({"role": "web"} if expiration else {"role": "db"})
        # Another instance is never answered from the first one's entry.
        other = _instance()
        assert app.get(path, headers=_headers(other)).json()["uuid"] == other
    finally:
        CONF.clear_override("cache_expiration", "metadata")
