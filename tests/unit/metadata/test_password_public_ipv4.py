"""The metadata service's ``password`` document and EC2 ``public-ipv4``, on a real
SQLite database (signed as the network's metadata proxy signs): the guest posts its
password once (a second post is a 409, an oversized one a 400), reads it back, and it
is never answered from the cache; ``public-ipv4`` is the instance's first floating
address, "" without one (and on a config drive, which has no database to ask)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from stratus.conf import CONF
from stratus.db import instances as db_instances
from stratus.db.models import FloatingIP, Network, Port
from stratus.db.session import transaction
from stratus.metadata import base, password
from tests.unit.metadata.test_service import _headers, _instance, client  # noqa: F401

PATH = "/openstack/latest/password"
CIPHERTEXT = "A" * 340 + "=="  # the base64 of an RSA-2048 ciphertext is 344 characters


@pytest.fixture
def cached(client: TestClient) -> TestClient:  # noqa: F811
    """The service with answers kept a minute, so that a cached answer would show."""
    CONF.set_override("cache_expiration", 60, "metadata")
    try:
        yield TestClient(client.app)
    finally:
        CONF.clear_override("cache_expiration", "metadata")


def test_the_guest_posts_its_password_once(cached: TestClient) -> None:
    uuid = _instance()
    headers = _headers(uuid)
    assert cached.get(PATH, headers=headers).text == ""  # none yet, and not kept
    assert cached.post(PATH, headers=headers, content=CIPHERTEXT).status_code == 200
    assert cached.get(PATH, headers=headers).text == CIPHERTEXT
    second = cached.post(PATH, headers=headers, content="other")
    assert second.status_code == 409
    assert cached.get("/openstack/2013-04-04/password", headers=headers).text == CIPHERTEXT
    # Cleared behind the service's back (as os-server-password DELETE does): seen at once.
    password.clear(uuid)
    assert cached.get(PATH, headers=headers).text == ""
    assert password.get(uuid) == ""
    # The server's metadata never shows it.
    assert "password" not in json.dumps(
        cached.get("/openstack/latest/meta_data.json", headers=headers).json()
    )


def test_bad_posts_are_refused_and_store_nothing(cached: TestClient) -> None:
    uuid = _instance()
    headers = _headers(uuid)
    too_large = cached.post(PATH, headers=headers, content="x" * (password.MAX_SIZE + 1))
    assert too_large.status_code == 400 and "too large" in too_large.text
    assert cached.post(PATH, headers=headers, content=b"\xff\xfe").status_code == 400
    assert cached.post("/openstack/latest/meta_data.json", headers=headers).status_code == 405
    # Versions before 2013-04-04 have no password document.
    assert cached.post("/openstack/2012-08-10/password", headers=headers).status_code == 405
    assert cached.get("/openstack/2012-08-10/password", headers=headers).status_code == 404
    # Unsigned or forged posts never reach the database.
    assert cached.post(PATH, content="x").status_code == 400
    forged = {**headers, "X-Instance-ID": _instance()}
    assert cached.post(PATH, headers=forged, content="x").status_code == 403
    assert password.get(uuid) == "" and password.get(forged["X-Instance-ID"]) == ""
    # The largest allowed post is taken.
    assert cached.post(PATH, headers=headers, content="y" * password.MAX_SIZE).status_code == 200


def test_versions_list_password_from_2013_04_04(cached: TestClient) -> None:
    headers = _headers(_instance())
    for version, listed in (("2012-08-10", False), ("2013-04-04", True), ("latest", True)):
        names = cached.get(f"/openstack/{version}", headers=headers).text.split("\n")
        assert ("password" in names) is listed, version
    # A config drive holds no password document.
    files = base.config_drive_files({"uuid": "u", "password": "secret"})
    assert not [p for p in files if p.endswith("/password")]


def _floating(instance_uuid: str, address: str) -> dict:
    """A port of the instance on a tenant network with ``address`` associated to it."""
    with transaction() as session:
        external = Network(project_id="admin", mtu=1500, network_type="flat", external=True)
        tenant = Network(project_id="p1", mtu=1450, network_type="vxlan")
        session.add_all([external, tenant])
        session.flush()
        fip_port = Port(project_id="admin", network_id=external.id, mac_address="fa:16:3e:0:0:1")
        port = Port(
            project_id="p1",
            network_id=tenant.id,
            mac_address="fa:16:3e:0:0:2",
            device_id=instance_uuid,
        )
        session.add_all([fip_port, port])
        session.flush()
        session.add(
            FloatingIP(
                project_id="p1",
                floating_network_id=external.id,
                floating_port_id=fip_port.id,
                floating_ip_address=address,
                fixed_port_id=port.id,
                fixed_ip_address="10.0.0.5",
            )
        )
        return {
            "port_id": port.id,
            "network_id": tenant.id,
            "network_name": "t",
            "mac_address": port.mac_address,
            "fixed_ips": [{"ip_address": "10.0.0.5"}],
        }


def _set_vifs(instance_uuid: str, vifs: list[dict]) -> None:
    with transaction() as session:
        db_instances.get(session, instance_uuid).network_info = vifs


def test_public_ipv4_is_the_first_floating_address(client: TestClient) -> None:  # noqa: F811
    ask = "/latest/meta-data/public-ipv4"
    bare = _instance()
    vif = {"port_id": "p", "network_id": "n", "mac_address": "m"}
    _set_vifs(bare, [{**vif, "fixed_ips": [{"ip_address": "10.0.0.9"}]}])
    got = client.get(ask, headers=_headers(bare))
    assert (got.status_code, got.text) == (200, "")
    assert client.get("/latest/meta-data/local-ipv4", headers=_headers(bare)).text == "10.0.0.9"
    uuid = _instance()
    vif = _floating(uuid, "203.0.113.7")
    _set_vifs(uuid, [vif])
    assert client.get(ask, headers=_headers(uuid)).text == "203.0.113.7"
    assert client.get("/latest/meta-data/local-ipv4", headers=_headers(uuid)).text == "10.0.0.5"
    # A config drive is built without the database: no floating address on it.
    drive = base.config_drive_files({"uuid": uuid, "network_info": [vif]})
    assert json.loads(drive["ec2/latest/meta-data.json"])["public-ipv4"] == ""
