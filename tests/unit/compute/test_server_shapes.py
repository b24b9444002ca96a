"""The pure rules behind the servers' Nova shapes: request models, host names,
diagnostics forms, the reset rule, generated key pairs, Nova's binary names, and the
request bodies /openapi.json describes. The compute API parts run on a real SQLite
database with a recording RPC client (no compute host runs in a unit test)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from pydantic import ValidationError

from stratus import exception
from stratus.api.app import create_app
from stratus.api.compute import schemas, services, views
from stratus.api.microversion import APIVersion
from stratus.compute import api as compute
from stratus.compute import states
from stratus.compute.virt.fake import FakeDriver
from tests.unit.compute.test_compute_api import ADMIN, api, make_instance, reload  # noqa: F401


class _Ctx:
    def __init__(self, version: str) -> None:
        self.api_version = APIVersion.parse(version)


@pytest.mark.parametrize(
    ("version", "hostname", "problem"),
    [
        ("2.89", "web1", "from microversion 2.90"),
        ("2.90", "web1", None),
        ("2.90", "web.example.com", "from microversion 2.94"),
        ("2.90", "x" * 64, "2 to 63"),
        ("2.94", "web.example.com", None),
        ("2.94", "x" * 255, None),
        ("2.94", "x" * 256, "2 to 255"),
        ("2.94", "-web", "starting and ending"),
        ("2.94", "web_1.example", None),
        ("2.100", "w", "2 to 255"),
    ],
)
def test_hostnames_per_microversion(version: str, hostname: str, problem: str | None) -> None:
    found = schemas.hostname_error(hostname, APIVersion.parse(version))
    assert (found is None) if problem is None else (problem in found), found


def test_create_fields_are_typed() -> None:
    base = {"name": "s", "flavorRef": "1", "imageRef": "i"}
    ok = schemas.ServerCreate.model_validate(
        {**base, "networks": "auto", "accessIPv6": "2001:DB8:0::1", "accessIPv4": "192.0.2.1"}
    )
    assert (ok.accessIPv4, ok.accessIPv6) == ("192.0.2.1", "2001:db8::1")
    assert schemas.ServerCreate.model_validate({**base, "networks": [{"uuid": "n"}]}).networks
    for bad in (
        {"networks": "any"},
        {"networks": 1},
        {"networks": [{"bogus": 1}]},
        {"accessIPv4": "2001:db8::1"},
        {"accessIPv6": "192.0.2.1"},
        {"accessIPv4": 7},
        {"security_groups": [{"name": ""}]},
        {"OS-DCF:diskConfig": "auto"},
    ):
        with pytest.raises(ValidationError) as caught:
            schemas.ServerCreate.model_validate({**base, **bad})
        assert caught.value.errors()[0]["loc"][0] == next(iter(bad)), bad


@pytest.mark.parametrize(
    ("name", "payload", "valid"),
    [
        ("lock", {"locked_reason": "maintenance"}, True),
        ("lock", {"locked_reason": 5}, False),
        ("lock", {"locked_reason": "x" * 256}, False),
        ("reboot", {"type": "HARD"}, True),
        ("reboot", {"type": "cold"}, False),
        ("os-resetState", {"state": "error"}, True),
        ("os-resetState", {"state": "deleted"}, False),
        ("os-stop", {}, True),
        ("os-stop", {"now": True}, False),
        ("os-getConsoleOutput", {"length": "10"}, True),
        ("os-getConsoleOutput", {"length": "ten"}, False),
    ],
)
def test_action_bodies(name: str, payload: Any, valid: bool) -> None:
    model = schemas.ACTION_BODIES[name]
    if valid:
        model.model_validate(payload)
    else:
        with pytest.raises(ValidationError):
            model.model_validate(payload)


def test_openapi_describes_the_request_bodies() -> None:
    spec = TestClient(create_app()).get("/openapi.json").json()
    paths = spec["paths"]

    def body(path: str, method: str) -> dict:
        return paths[path][method]["requestBody"]["content"]["application/json"]["schema"]

    create = body("/compute/v2.1/servers", "post")["properties"]["server"]
    assert "accessIPv4" in create["properties"] and "flavorRef" in create["required"]
    networks = create["properties"]["networks"]["anyOf"]
    assert {"enum": ["auto", "none"], "type": "string"} in networks
    update = body("/compute/v2.1/servers/{server_id}", "put")["properties"]["server"]
    assert update["additionalProperties"] is False and "hostname" in update["properties"]
    actions = body("/compute/v2.1/servers/{server_id}/action", "post")["oneOf"]
    by_name = {next(iter(a["properties"])): a for a in actions}
    assert set(by_name) == set(schemas.ACTION_BODIES)
    lock = by_name["lock"]["properties"]["lock"]["properties"]["locked_reason"]
    assert {"type": "string", "maxLength": 255} in lock["anyOf"]
    assert "$ref" not in str(create) + str(actions)
    assert "keypair" in body("/compute/v2.1/os-keypairs", "post")["properties"]


def test_diagnostics_forms() -> None:
    driver = FakeDriver("servershape-host")
    instance = {"uuid": "6b1b4a3e-0000-4000-8000-000000000001", "vcpus": 2, "memory_mb": 64}
    driver.spawn(instance, {}, {})
    standard = driver.get_diagnostics(instance)
    assert standard["state"] == "running" and standard["num_cpus"] == 2
    shown = views.diagnostics_view(_Ctx("2.48"), standard)
    assert "name" not in shown["disk_details"][0]
    assert shown["memory_details"] == {"maximum": 64, "used": 64}
    legacy = views.diagnostics_view(_Ctx("2.47"), standard)
    assert legacy == {
        "cpu0_time": 0,
        "cpu1_time": 0,
        "memory": 64 * 1024,
        "vda_read": 0,
        "vda_read_req": 0,
        "vda_write": 0,
        "vda_write_req": 0,
        "vda_errors": 0,
    }


def test_reset_state_uses_the_state_machine(api: compute.API) -> None:  # noqa: F811
    instance = make_instance(states.ACTIVE, task_state=states.REBOOTING)
    api.reset_state(ADMIN, instance, "error")
    after = reload(instance.uuid)
    assert (after.vm_state, after.task_state) == (states.ERROR, None)
    assert states.reset("active") == {"vm_state": states.ACTIVE, "task_state": None}
    with pytest.raises(KeyError):
        states.reset("stopped")


def test_diagnostics_ask_the_host_and_add_the_uptime(api: compute.API) -> None:  # noqa: F811
    import datetime as dt

    launched = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=90)
    building = make_instance(states.BUILDING)
    with pytest.raises(exception.Conflict, match="no guest on a host"):
        api.get_diagnostics(ADMIN, building)
    instance = make_instance(host="c1", launched_at=launched)
    api.compute_rpcapi.answer = {"uptime": None, "state": "running"}
    diagnostics = api.get_diagnostics(ADMIN, instance)
    assert 89 <= diagnostics["uptime"] <= 120
    assert api.compute_rpcapi.calls[-1] == (
        "get_diagnostics",
        ("c1",),
        {"instance_uuid": instance.uuid},
    )


def test_generated_ssh_keys_are_a_pair() -> None:
    public, private = compute.generate_ssh_key()
    key = serialization.load_pem_private_key(private.encode(), None)
    assert private.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert key.key_size == 2048
    derived = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    assert public.startswith(derived.decode() + " ")
    assert compute.fingerprint(public).count(":") == 15


def test_nova_binary_names() -> None:
    assert services.stratus_binary("nova-compute") == "stratus-compute"
    assert services.stratus_binary("nova-scheduler") == "stratus-scheduler"
    assert services.stratus_binary("nova-conductor") == "stratus-conductor"
    assert services.stratus_binary("stratus-compute") == "stratus-compute"
    assert services.stratus_binary("nova-api") == "nova-api"
    assert services.stratus_binary(None) is None


def test_diagnostics_of_a_guest_the_host_lacks_are_a_conflict(api: compute.API) -> None:  # noqa: F811
    """The compute manager answers None when its hypervisor has no such guest."""
    from stratus.compute.manager import ComputeManager

    manager = ComputeManager(FakeDriver("servershape-host"), conductor=object(), host="c1")
    assert manager.get_diagnostics({}, "6b1b4a3e-0000-4000-8000-000000000002") is None
    instance = make_instance(host="c1")
    api.compute_rpcapi.answer = None
    with pytest.raises(exception.Conflict, match="has no guest for it"):
        api.get_diagnostics(ADMIN, instance)


def test_generated_x509_keys_are_a_certificate_and_its_key() -> None:
    from cryptography import x509

    cert_pem, private = compute.generate_x509_key("u1")
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    key = serialization.load_pem_private_key(private.encode(), None)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert cert.subject.rfc4514_string() == "CN=u1"
    printed = compute.fingerprint(cert_pem, "x509")
    assert printed.count(":") == 19 and printed == printed.lower()
    with pytest.raises(exception.Invalid, match="not a PEM x509 certificate"):
        compute.fingerprint("ssh-rsa AAAA", "x509")
    # A user id longer than X.509's 64-character common name (the fuzzer's find: a 500).
    long_id = "\U0001d54b" * 40 + "u" * 200
    long_pem, _ = compute.generate_x509_key(long_id)
    subject = x509.load_pem_x509_certificate(long_pem.encode()).subject
    (common_name,) = subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    assert common_name.value == "\U0001d54b" * 16


def test_keypairs_of_both_types_are_generated(api: compute.API) -> None:  # noqa: F811
    keypairs = compute.KeypairAPI()
    ssh, ssh_private = keypairs.generate(ADMIN, "u1", "gen-ssh", "ssh")
    cert, cert_private = keypairs.generate(ADMIN, "u1", "gen-x509", "x509")
    assert ssh.public_key.startswith("ssh-rsa ") and "RSA PRIVATE KEY" in ssh_private
    assert cert.public_key.startswith("-----BEGIN CERTIFICATE-----")
    assert (cert.type, cert.fingerprint.count(":")) == ("x509", 19)
    assert [k.name for k in keypairs.get_all("u1")] == ["gen-ssh", "gen-x509"]
    assert "RSA PRIVATE KEY" in cert_private


@pytest.mark.parametrize(
    "public_key",
    [
        "\x11\u00d9\u00a8\t\U000a3b21g\u00e5",  # an unknown key type (the fuzzer's find: a 500)
        "ssh-foo AAAAB3NzaC1yc2E=",
        "ssh-rsa",
        "ssh-rsa not-base64!",
    ],
)
def test_an_unparsable_ssh_key_is_invalid(public_key: str) -> None:
    with pytest.raises(exception.Invalid, match="not a valid OpenSSH"):
        compute.fingerprint(public_key)
