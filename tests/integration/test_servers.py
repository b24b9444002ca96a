"""Servers end to end with real parts at every hop: stratus-api, -scheduler, -conductor
and two stratus-compute processes over a real RabbitMQ, on SQLite and on MariaDB,
with real libvirtd and QEMU (TCG) guests booting the tiny test image."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stratus.db.models import Allocation, ComputeNode
from tests.support.cloud import Cloud
from tests.support.db import session_for

pytestmark = pytest.mark.slow

COMPUTES = ("compute1", "compute2")
FLAVOR_ID = "small-server"


def virsh(*args: str) -> str:
    return subprocess.run(
        ["virsh", "-c", "qemu:///system", *args], capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def cloud(
    db_backend: str, request: pytest.FixtureRequest, rabbitmq, tiny_images: Path, libvirtd: None
) -> Iterator[Cloud]:
    from tests.conftest import database_url

    cloud = Cloud(
        rabbitmq.transport_url,
        database_url(db_backend, request, "stratus_servers"),
        extra_conf={
            "scheduler": {"max_attempts": 2},
            # Lets the reschedule test steer a build onto the failing host.
            "filter_scheduler": {"build_failure_weight_multiplier": 0},
        },
    )
    cloud.start()
    for host in COMPUTES:
        cloud.add_compute(host, extra={"compute": {"shutdown_timeout": 3}})
    cloud.openstack(
        "flavor",
        "create",
        "--id",
        FLAVOR_ID,
        "--ram",
        "128",
        "--disk",
        "1",
        "--vcpus",
        "1",
        "small-server",
    )
    cloud.openstack(
        "image",
        "create",
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--public",
        "--file",
        str(tiny_images / "tiny.qcow2"),
        "tiny",
    )
    yield cloud
    cloud.stop()
    # Only this cloud's guests (its workdir is in their domain XML): the libvirtd is
    # shared, and other clouds name their compute hosts the same.
    for uuid in virsh("list", "--all", "--uuid").split():
        if any(f"{cloud.workdir}/{host}/" in virsh("dumpxml", uuid) for host in COMPUTES):
            virsh("destroy", uuid)
            virsh("undefine", uuid, "--managed-save", "--nvram")


def show(cloud: Cloud, name: str) -> dict:
    return cloud.openstack_json("server", "show", name)


def wait_status(
    cloud: Cloud,
    server_id: str,
    status: str,
    timeout: float = 120,
    terminal: set[str] | None = None,
) -> dict:
    """Poll the API until the server is ``status`` with no task running; a status in
    ``terminal`` other than ``status`` fails at once."""
    deadline = time.monotonic() + timeout
    with cloud.client(microversion="2.100") as admin:
        while True:
            server = admin.get(f"/compute/v2.1/servers/{server_id}").json()["server"]
            if server["status"] == status and not server["OS-EXT-STS:task_state"]:
                return server
            if server["status"] in (terminal or set()) or time.monotonic() > deadline:
                raise AssertionError(
                    f"{server_id} is {server['status']}, not {status}: {server.get('fault')}"
                )
            time.sleep(0.3)


def boot(
    cloud: Cloud,
    name: str,
    *,
    wait: str | None = "ACTIVE",
    hints: dict | None = None,
    zone: str | None = None,
    count: int = 1,
    image: str = "tiny",
    **extra,
) -> list[str]:
    """Create servers over HTTP (polling faster than the CLI's 5 s --wait)."""
    with cloud.client(microversion="2.100") as admin:
        image_id = admin.get("/image/v2/images", params={"name": image}).json()["images"][0]["id"]
        body = {
            "server": {
                "name": name,
                "imageRef": image_id,
                "flavorRef": FLAVOR_ID,
                "networks": "none",
                "min_count": count,
                "max_count": count,
                **({"availability_zone": zone} if zone else {}),
                **extra,
            }
        }
        if hints:
            body["os:scheduler_hints"] = hints
        response = admin.post("/compute/v2.1/servers", json=body)
        assert response.status_code == 202, response.text
        ids = [
            s["id"]
            for s in admin.get("/compute/v2.1/servers", params={"name": f"^{name}"}).json()[
                "servers"
            ]
        ]
    if wait:
        for server_id in ids:
            wait_status(cloud, server_id, wait, terminal={"ERROR", wait})
    return ids


def build_events(cloud: Cloud, server_id: str) -> list[dict]:
    """The compute build events of the server's create action, one per attempt."""
    with cloud.client(microversion="2.100") as admin:
        base = f"/compute/v2.1/servers/{server_id}/os-instance-actions"
        create = [a for a in admin.get(base).json()["instanceActions"] if a["action"] == "create"][
            0
        ]
        events = admin.get(f"{base}/{create['request_id']}").json()["instanceAction"]["events"]
    return [e for e in events if e["event"] == "compute__do_build_and_run_instance"]


def remove(cloud: Cloud, *ids: str) -> None:
    with cloud.client() as admin:
        for server_id in ids:
            admin.delete(f"/compute/v2.1/servers/{server_id}")
        deadline = time.monotonic() + 120
        for server_id in ids:
            while admin.get(f"/compute/v2.1/servers/{server_id}").status_code != 404:
                assert time.monotonic() < deadline, f"{server_id} was not deleted"
                time.sleep(0.3)


def wait_console(cloud: Cloud, name: str, text: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while True:
        log = cloud.openstack("console", "log", "show", name).stdout
        if text in log:
            return log
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not in the console of {name}:\n{log[-2000:]}")
        time.sleep(1)


def leftovers(cloud: Cloud) -> dict:
    """Allocations, usage, domains and instance directories still present."""
    with session_for(cloud.db_url) as session:
        allocations = session.query(Allocation).count()
        used = [(n.vcpus_used, n.memory_mb_used, n.running_vms) for n in session.query(ComputeNode)]
    instance_dirs = [
        p.name for host in COMPUTES for p in (cloud.workdir / host / "instances").glob("*-*-*-*-*")
    ]
    domains = [
        u
        for u in virsh("list", "--all", "--uuid").split()
        if any(f"{cloud.workdir}/{h}/" in virsh("dumpxml", u) for h in COMPUTES)
    ]
    return {
        "allocations": allocations,
        "used": sorted(set(used)),
        "dirs": instance_dirs,
        "domains": domains,
    }


CLEAN = {"allocations": 0, "used": [(0, 0, 0)], "dirs": [], "domains": []}


def test_compute_runs_without_database_credentials(cloud: Cloud) -> None:
    for host in COMPUTES:
        config = cloud.compute_confs[host].read_text()
        assert "[database]" not in config and "connection" not in config
        assert cloud.services[f"compute-{host}"].running


def test_server_lifecycle_through_the_cli(cloud: Cloud) -> None:
    created = cloud.openstack_json(
        "server",
        "create",
        "--flavor",
        "small-server",
        "--image",
        "tiny",
        "--nic",
        "none",
        "--wait",
        "vm1",
        timeout=300,
    )
    assert created["status"] == "ACTIVE"
    listed = cloud.openstack_json("server", "list")
    assert [(s["Name"], s["Status"]) for s in listed] == [("vm1", "ACTIVE")]
    server = show(cloud, "vm1")
    assert server["OS-EXT-SRV-ATTR:host"] in COMPUTES
    assert server["addresses"] == {}
    uuid = server["id"]
    # The hypervisor's name for the guest is the one the API shows.
    assert virsh("domname", uuid) == server["OS-EXT-SRV-ATTR:instance_name"] == f"instance-{uuid}"
    wait_console(cloud, "vm1", f"STRATUS-GUEST-READY {uuid}")
    base = cloud.workdir / server["OS-EXT-SRV-ATTR:host"] / "instances"
    assert {p.name for p in (base / uuid).iterdir()} >= {
        "disk",
        "disk.info",
        "libvirt.xml",
        "console.log",
    }
    assert len([p for p in (base / "_base").iterdir() if p.is_file()]) == 1

    steps = [
        (("reboot", "--hard"), "ACTIVE", "running"),
        (("stop",), "SHUTOFF", "shut off"),
        (("start",), "ACTIVE", "running"),
        (("pause",), "PAUSED", "paused"),
        (("unpause",), "ACTIVE", "running"),
        (("suspend",), "SUSPENDED", "shut off"),
        (("resume",), "ACTIVE", "running"),
    ]
    for args, status, domstate in steps:
        cloud.openstack("server", *args, "vm1")
        wait_status(cloud, uuid, status)
        assert virsh("domstate", uuid) == domstate, (args, virsh("domstate", uuid))
    wait_console(cloud, "vm1", "STRATUS-GUEST-READY")

    events = cloud.openstack_json("server", "event", "list", "vm1")
    assert [e["Action"] for e in events][-1] == "create"
    assert {"reboot", "stop", "start", "pause", "unpause", "suspend", "resume"} <= {
        e["Action"] for e in events
    }
    create = next(e for e in events if e["Action"] == "create")
    detail = cloud.openstack_json("server", "event", "show", "vm1", create["Request ID"])
    assert {e["event"] for e in detail["events"]} >= {"compute__do_build_and_run_instance"}
    assert all(e["result"] == "Success" for e in detail["events"])

    with cloud.client(microversion="2.87") as admin:
        node = admin.get("/compute/v2.1/os-hypervisors/detail").json()["hypervisors"]
    assert sum(h["vcpus_used"] for h in node) == 1
    assert sum(h["memory_mb_used"] for h in node) == 128

    cloud.openstack("server", "delete", "--wait", "vm1", timeout=120)
    assert cloud.openstack_json("server", "list") == []
    with cloud.client(microversion="2.87") as admin:
        nodes = admin.get("/compute/v2.1/os-hypervisors/detail").json()["hypervisors"]
    assert [(h["vcpus_used"], h["memory_mb_used"], h["running_vms"]) for h in nodes] == [
        (0, 0, 0),
        (0, 0, 0),
    ]
    services = cloud.openstack_json("compute", "service", "list")
    assert {s["State"] for s in services} == {"up"}
    assert leftovers(cloud) == CLEAN


def test_anti_affinity_pair_lands_on_two_computes(cloud: Cloud) -> None:
    """The seeds' multi-instance case: min_count=max_count=2 in an anti-affinity group."""
    group = cloud.openstack_json("server", "group", "create", "--policy", "anti-affinity", "pair")
    ids = boot(cloud, "pair", count=2, hints={"group": group["id"]})
    servers = [show(cloud, server_id) for server_id in ids]
    assert len(servers) == 2 and {s["status"] for s in servers} == {"ACTIVE"}
    assert {s["OS-EXT-SRV-ATTR:host"] for s in servers} == set(COMPUTES)
    members = cloud.openstack_json("server", "group", "show", "pair")["members"]
    assert sorted(members) == sorted(ids)
    remove(cloud, *ids)
    assert leftovers(cloud) == CLEAN


def test_failed_spawn_is_rescheduled_then_errors_without_leaks(cloud: Cloud) -> None:
    """compute2 is restarted with the test-only fault setting that fails every spawn."""
    cloud.services["compute-compute2"].stop()
    cloud.compute_conf(
        "compute2", extra={"compute": {"fault_inject_spawn": True, "shutdown_timeout": 3}}
    )
    cloud.restart_compute("compute2")
    try:
        # Forced onto the failing host there is no alternate: ERROR with a fault.
        refused = cloud.openstack(
            "server",
            "create",
            "--flavor",
            "small-server",
            "--image",
            "tiny",
            "--nic",
            "none",
            "--availability-zone",
            "nova:compute2",
            "--wait",
            "forced",
            check=False,
            timeout=300,
        )
        assert refused.returncode != 0 and "Error creating server" in refused.stderr
        failed = show(cloud, "forced")
        assert failed["status"] == "ERROR"
        assert "failed on 1 host(s)" in failed["fault"]["message"]
        assert "fault_inject_spawn" in failed["fault"]["message"]
        remove(cloud, failed["id"])
        # With compute1 busier, the scheduler prefers compute2 (RAM spreads); the build
        # fails there and is rescheduled to the alternate, compute1, where it runs.
        (filler,) = boot(cloud, "filler", zone="nova:compute1")
        (resched,) = boot(cloud, "resched")
        assert show(cloud, resched)["OS-EXT-SRV-ATTR:host"] == "compute1"
        assert [e["result"] for e in build_events(cloud, resched)] == ["Error", "Success"]
        ids = [filler, resched]
        remove(cloud, *ids)
        assert leftovers(cloud) == CLEAN
    finally:
        cloud.services["compute-compute2"].stop()
        cloud.compute_conf("compute2", extra={"compute": {"shutdown_timeout": 3}})
        cloud.restart_compute("compute2")


def test_killed_compute_goes_down_and_restart_reconciles(cloud: Cloud) -> None:
    (survivor,) = boot(cloud, "survivor", zone="nova:compute1")
    cloud.services["compute-compute1"].kill()
    deadline = time.monotonic() + 20
    while True:
        states = {
            s["Host"]: s["State"]
            for s in cloud.openstack_json(
                "compute", "service", "list", "--service", "stratus-compute"
            )
        }
        if states["compute1"] == "down":
            break
        assert time.monotonic() < deadline, states
        time.sleep(1)
    (avoider,) = boot(cloud, "avoids-down")
    assert show(cloud, avoider)["OS-EXT-SRV-ATTR:host"] == "compute2"
    # host_status (admins, 2.16+): per server in show, one lookup for a whole list.
    with cloud.client(microversion="2.100") as admin:
        assert (
            admin.get(f"/compute/v2.1/servers/{survivor}").json()["server"]["host_status"] == "DOWN"
        )
        listed = admin.get("/compute/v2.1/servers/detail").json()["servers"]
        assert {s["id"]: s["host_status"] for s in listed if s["id"] in (survivor, avoider)} == {
            survivor: "DOWN",
            avoider: "UP",
        }
    # While compute1 is down its guest dies; the restart notices and reconciles.
    virsh("destroy", survivor)
    cloud.restart_compute("compute1")
    server = wait_status(cloud, survivor, "SHUTOFF", timeout=60)
    assert server["OS-EXT-STS:power_state"] == 4
    remove(cloud, survivor, avoider)
    assert leftovers(cloud) == CLEAN


def test_delete_during_build_leaves_nothing(cloud: Cloud) -> None:
    for _ in range(2):
        (doomed,) = boot(cloud, "doomed", wait=None)
        remove(cloud, doomed)
        deadline = time.monotonic() + 30
        while leftovers(cloud) != CLEAN:
            assert time.monotonic() < deadline, leftovers(cloud)
            time.sleep(1)


def test_quotas_for_instances_cores_and_ram(cloud: Cloud) -> None:
    """Each of the instances, cores and RAM quotas turns away a create that would pass
    it (403 naming it, nothing created); ``max_count`` gets as many as still fit."""
    project = cloud.openstack_json("project", "show", "admin")["id"]
    unlimited = ["--instances", "-1", "--cores", "-1", "--ram", "-1"]
    try:
        for option, value, resource in (
            ("--instances", "1", "instances"),
            ("--cores", "1", "cores"),
            ("--ram", "200", "ram"),
        ):
            cloud.openstack("quota", "set", *unlimited, option, value, "admin")
            with cloud.client(microversion="2.100") as admin:
                image = admin.get("/image/v2/images", params={"name": "tiny"}).json()["images"]
                body = {
                    "name": "over",
                    "imageRef": image[0]["id"],
                    "flavorRef": FLAVOR_ID,
                    "networks": "none",
                    "min_count": 2,
                }
                response = admin.post("/compute/v2.1/servers", json={"server": body})
                assert response.status_code == 403, response.text
                message = response.json()["forbidden"]["message"]
                assert f"Quota exceeded for {resource}" in message
                assert (
                    admin.get("/compute/v2.1/servers", params={"name": "^over"}).json()["servers"]
                    == []
                )
        cloud.openstack("quota", "set", *unlimited, "--cores", "2", "admin")
        fitting = boot(cloud, "fits", wait=None, max_count=3)
        assert len(fitting) == 2
        remove(cloud, *fitting)
    finally:
        with cloud.client() as admin:
            admin.delete(f"/compute/v2.1/os-quota-sets/{project}")
    deadline = time.monotonic() + 30
    while leftovers(cloud) != CLEAN:
        assert time.monotonic() < deadline, leftovers(cloud)
        time.sleep(1)


def test_bad_requests_are_clean_4xx(cloud: Cloud) -> None:
    with cloud.client(microversion="2.100") as admin:
        image = admin.get("/image/v2/images", params={"name": "tiny"}).json()["images"][0]
        flavor = admin.get("/compute/v2.1/flavors").json()["flavors"][0]
        base = {"name": "x", "imageRef": image["id"], "flavorRef": flavor["id"]}
        cases = [
            ({"server": base}, 400, "networks"),
            ({"server": {**base, "networks": "none", "flavorRef": "nope"}}, 400, "nope"),
            ({"server": {**base, "networks": "none", "imageRef": "nope"}}, 400, "nope"),
            ({"server": {**base, "networks": "none", "min_count": 0}}, 400, "min_count"),
            ({"server": {**base, "networks": "none", "name": ""}}, 400, "server.name"),
            ({"server": {**base, "networks": "none", "availability_zone": "mars"}}, 400, "mars"),
            ({"server": {**base, "networks": "none", "key_name": "ghost"}}, 400, "ghost"),
        ]
        for body, status, text in cases:
            response = admin.post("/compute/v2.1/servers", content=json.dumps(body))
            assert response.status_code == status, (body, response.text)
            assert text in response.json()["badRequest"]["message"]
        assert admin.get("/compute/v2.1/servers").json()["servers"] == []
        missing = admin.post("/compute/v2.1/servers/nope/action", json={"os-stop": None})
        assert missing.status_code == 404


def test_ami_style_image_boots_its_kernel_and_ramdisk(cloud: Cloud, tiny_images: Path) -> None:
    kernel = cloud.openstack_json(
        "image",
        "create",
        "--disk-format",
        "aki",
        "--container-format",
        "aki",
        "--file",
        str(tiny_images / "tiny.vmlinuz"),
        "tiny-kernel",
    )
    ramdisk = cloud.openstack_json(
        "image",
        "create",
        "--disk-format",
        "ari",
        "--container-format",
        "ari",
        "--file",
        str(tiny_images / "tiny.initrd"),
        "tiny-ramdisk",
    )
    cloud.openstack(
        "image",
        "create",
        "--disk-format",
        "ami",
        "--container-format",
        "ami",
        "--file",
        str(tiny_images / "tiny-ami.img"),
        "--property",
        f"kernel_id={kernel['id']}",
        "--property",
        f"ramdisk_id={ramdisk['id']}",
        "tiny-ami",
    )
    (server_id,) = boot(cloud, "ami1", image="tiny-ami")
    server = show(cloud, server_id)
    wait_console(cloud, "ami1", f"STRATUS-GUEST-READY {server['id']}")
    assert virsh("domstate", server["id"]) == "running"
    with cloud.client(microversion="2.100") as admin:
        body = admin.get(f"/compute/v2.1/servers/{server['id']}").json()["server"]
    assert body["OS-EXT-SRV-ATTR:kernel_id"] == kernel["id"]
    assert body["OS-EXT-SRV-ATTR:ramdisk_id"] == ramdisk["id"]
    remove(cloud, server_id)
    assert leftovers(cloud) == CLEAN


def test_server_api_surface(cloud: Cloud, tmp_path: Path) -> None:
    """Key pairs, metadata, rename, lock, list filters and state conflicts."""
    cloud.openstack("keypair", "create", "--private-key", str(tmp_path / "k1"), "k1")
    assert [k["Name"] for k in cloud.openstack_json("keypair", "list")] == ["k1"]
    assert cloud.openstack_json("keypair", "show", "k1")["type"] == "ssh"
    boot(cloud, "api1", key_name="k1", metadata={"role": "web"})
    assert show(cloud, "api1")["key_name"] == "k1"
    cloud.openstack(
        "server",
        "set",
        "--property",
        "tier=1",
        "--name",
        "api2",
        "--description",
        "renamed",
        "api1",
    )
    server = show(cloud, "api2")
    assert server["properties"] == {"role": "web", "tier": "1"}
    assert server["description"] == "renamed"
    cloud.openstack("server", "unset", "--property", "role", "api2")
    assert show(cloud, "api2")["properties"] == {"tier": "1"}
    uuid = server["id"]
    with cloud.client(microversion="2.100") as admin:
        listing = admin.get("/compute/v2.1/servers", params={"name": "^api"}).json()
        assert [s["id"] for s in listing["servers"]] == [uuid]
        assert admin.get("/compute/v2.1/servers", params={"name": "^zzz"}).json()["servers"] == []
        assert [
            s["id"]
            for s in admin.get("/compute/v2.1/servers/detail", params={"status": "ACTIVE"}).json()[
                "servers"
            ]
        ] == [uuid]
        assert (
            admin.get("/compute/v2.1/servers/detail", params={"status": "SHUTOFF"}).json()[
                "servers"
            ]
            == []
        )
        # Repeated, as Nova takes it: servers in any of the statuses.
        either = [("status", "SHUTOFF"), ("status", "active"), ("status", "NOSUCH")]
        assert [
            s["id"] for s in admin.get("/compute/v2.1/servers", params=either).json()["servers"]
        ] == [uuid]
        assert [
            s["id"]
            for s in admin.get(
                "/compute/v2.1/servers/detail", params={"host": server["OS-EXT-SRV-ATTR:host"]}
            ).json()["servers"]
        ] == [uuid]
        assert admin.get("/compute/v2.1/servers", params={"limit": 0}).json()["servers"] == []
        conflict = admin.post(f"/compute/v2.1/servers/{uuid}/action", json={"os-start": None})
        assert conflict.status_code == 409
        assert "vm_state active" in conflict.json()["conflictingRequest"]["message"]
        assert (
            admin.post(
                f"/compute/v2.1/servers/{uuid}/action", json={"os-getConsoleOutput": {"length": 2}}
            )
            .json()["output"]
            .count("\n")
            <= 2
        )
    cloud.openstack("server", "lock", "api2")
    assert show(cloud, "api2")["locked"] is True
    cloud.openstack("server", "unlock", "api2")
    remove(cloud, uuid)
    cloud.openstack("keypair", "delete", "k1")
    assert leftovers(cloud) == CLEAN


# --- Nova's shapes: access IPs, security groups, PUT bodies, diagnostics, reset ------

API = "/compute/v2.1"
# What PUT /servers/{id} answers with below 2.75 (Nova's update view), by microversion.
UPDATE_KEYS = {
    "id",
    "name",
    "status",
    "tenant_id",
    "user_id",
    "metadata",
    "hostId",
    "image",
    "flavor",
    "created",
    "updated",
    "addresses",
    "accessIPv4",
    "accessIPv6",
    "links",
    "OS-DCF:diskConfig",
    "progress",
}


def _member(cloud: Cloud) -> str:
    """A token of a member (not an admin) of the admin project, which sees its servers."""
    with cloud.client() as admin:
        roles = {r["name"]: r["id"] for r in admin.get("/identity/v3/roles").json()["roles"]}
        project = admin.get("/identity/v3/projects", params={"name": "admin"}).json()["projects"][
            0
        ]["id"]
        user = admin.post(
            "/identity/v3/users",
            json={"user": {"name": "servershape-m", "password": "servershape-pw"}},
        ).json()["user"]["id"]
        admin.put(f"/identity/v3/projects/{project}/users/{user}/roles/{roles['member']}")
    return cloud.token("servershape-m", "servershape-pw", "admin")


def test_server_shapes_match_nova(cloud: Cloud) -> None:
    with cloud.client() as admin:  # the groups a server names must exist (400 otherwise)
        web = admin.post(
            "/networking/v2.0/security-groups", json={"security_group": {"name": "web"}}
        )
        assert web.status_code == 201, web.text
    (uuid,) = boot(
        cloud,
        "shape1",
        accessIPv4="192.0.2.10",
        accessIPv6="2001:DB8::10",
        security_groups=[{"name": "default"}, {"name": "web"}],
    )
    groups = [{"name": "default"}, {"name": "web"}]
    with cloud.client(microversion="2.100") as admin:
        shown = admin.get(f"{API}/servers/{uuid}").json()["server"]
        assert (shown["accessIPv4"], shown["accessIPv6"]) == ("192.0.2.10", "2001:db8::10")
        assert shown["security_groups"] == groups
        detail = admin.get(f"{API}/servers/detail", params={"name": "^shape1$"}).json()
        assert detail["servers"][0]["security_groups"] == groups
        assert detail["servers"][0]["accessIPv4"] == "192.0.2.10"
        # A server created without them: empty strings, and the default group, in the
        # create response and in GET alike.
        created = admin.post(
            f"{API}/servers",
            json={
                "server": {
                    "name": "shape2",
                    "imageRef": shown["image"]["id"],
                    "flavorRef": FLAVOR_ID,
                    "networks": "none",
                }
            },
        ).json()["server"]
        bare = admin.get(f"{API}/servers/{created['id']}").json()["server"]
        assert created["security_groups"] == bare["security_groups"] == [{"name": "default"}]
        assert (bare["accessIPv4"], bare["accessIPv6"]) == ("", "")
    remove(cloud, created["id"])
    # The CLI reads them back.
    cli = show(cloud, "shape1")
    assert (cli["accessIPv4"], cli["accessIPv6"]) == ("192.0.2.10", "2001:db8::10")

    def put(version: str, body: dict) -> httpx.Response:
        with cloud.client(microversion=version) as client:
            return client.put(f"{API}/servers/{uuid}", json={"server": body})

    old = put("2.1", {"accessIPv4": "198.51.100.7"})
    assert old.status_code == 200, old.text
    assert set(old.json()["server"]) == UPDATE_KEYS
    assert old.json()["server"]["accessIPv4"] == "198.51.100.7"
    assert old.json()["server"]["flavor"]["id"] == FLAVOR_ID
    v247 = put("2.47", {"accessIPv6": "2001:db8::7"}).json()["server"]
    assert set(v247) == UPDATE_KEYS | {"locked", "description", "tags"}
    assert v247["flavor"]["original_name"] == "small-server" and "id" not in v247["flavor"]
    assert v247["accessIPv6"] == "2001:db8::7"
    v271 = put("2.71", {"name": "shape1"}).json()["server"]
    assert v271["server_groups"] == []
    assert "trusted_image_certificates" in v271 and "locked_reason" not in v271
    v273 = put("2.73", {"name": "shape1"}).json()["server"]
    assert set(v273) == UPDATE_KEYS | {
        "locked",
        "description",
        "tags",
        "trusted_image_certificates",
        "server_groups",
        "locked_reason",
    }
    for version in ("2.75", "2.100"):
        with cloud.client(microversion=version) as admin:
            full = put(version, {"name": "shape1"}).json()["server"]
            got = admin.get(f"{API}/servers/{uuid}").json()["server"]
        assert set(full) == set(got), set(full) ^ set(got)
        assert full["security_groups"] == groups
    # Host names: a label from 2.90, an FQDN from 2.94; refused below 2.90.
    assert put("2.90", {"hostname": "shape-one"}).json()["server"]["OS-EXT-SRV-ATTR:hostname"] == (
        "shape-one"
    )
    for version, hostname, text in (
        ("2.89", "shape-one", "2.90"),
        ("2.90", "shape.example.com", "2.94"),
        ("2.94", "-bad-", "hostname"),
        ("2.94", "x" * 256, "hostname"),
    ):
        refused = put(version, {"hostname": hostname})
        assert refused.status_code == 400, (version, hostname, refused.text)
        assert text in refused.json()["badRequest"]["message"]
    fqdn = put("2.94", {"hostname": "shape1.example.com"}).json()["server"]
    assert fqdn["OS-EXT-SRV-ATTR:hostname"] == "shape1.example.com"
    # Bad addresses are a 400 naming the field, and change nothing.
    for field, value in (("accessIPv4", "192.0.2"), ("accessIPv6", "192.0.2.1"), ("accessIPv4", 5)):
        refused = put("2.1", {field: value})
        assert refused.status_code == 400
        assert f"server.{field}" in refused.json()["badRequest"]["message"]
    with cloud.client(microversion="2.1") as admin:
        kept = admin.get(f"{API}/servers/{uuid}").json()["server"]
    assert (kept["accessIPv4"], kept["accessIPv6"]) == ("198.51.100.7", "2001:db8::7")

    # Diagnostics (admin), read from libvirt on the server's host.
    with cloud.client(microversion="2.48") as admin:
        response = admin.get(f"{API}/servers/{uuid}/diagnostics")
    assert response.status_code == 200, response.text
    diag = response.json()
    assert set(diag) == {
        "state",
        "driver",
        "hypervisor",
        "hypervisor_os",
        "uptime",
        "config_drive",
        "num_cpus",
        "num_nics",
        "num_disks",
        "memory_details",
        "cpu_details",
        "nic_details",
        "disk_details",
    }
    assert (diag["state"], diag["driver"], diag["hypervisor_os"]) == ("running", "libvirt", "linux")
    assert diag["hypervisor"] in ("qemu", "kvm")
    assert diag["num_cpus"] == len(diag["cpu_details"]) == 1
    assert diag["cpu_details"][0]["time"] > 0
    assert diag["memory_details"]["maximum"] == 128
    assert diag["num_disks"] == len(diag["disk_details"]) >= 1
    assert diag["disk_details"][0]["read_bytes"] > 0
    assert set(diag["disk_details"][0]) == {
        "read_bytes",
        "read_requests",
        "write_bytes",
        "write_requests",
        "errors_count",
    }
    assert isinstance(diag["uptime"], int) and diag["uptime"] >= 0
    with cloud.client(microversion="2.1") as admin:
        legacy = admin.get(f"{API}/servers/{uuid}/diagnostics").json()
    assert legacy["cpu0_time"] > 0 and legacy["vda_read"] > 0 and legacy["memory"] == 128 * 1024
    cli_diag = cloud.openstack_json("server", "show", "--diagnostics", "shape1")
    assert cli_diag["driver"] == "libvirt" or "cpu0_time" in cli_diag
    with cloud.client(_member(cloud), microversion="2.48") as member:
        assert member.get(f"{API}/servers/{uuid}").status_code == 200
        assert member.get(f"{API}/servers/{uuid}/diagnostics").status_code == 403
        reset = {"os-resetState": {"state": "error"}}
        assert member.post(f"{API}/servers/{uuid}/action", json=reset).status_code == 403

    # os-resetState (admin): error, then active again, through the CLI; recorded as
    # an instance action; a state other than active or error is a 400 naming it.
    cloud.openstack("server", "set", "--auto-approve", "--state", "error", "shape1")
    assert show(cloud, "shape1")["status"] == "ERROR"
    cloud.openstack("server", "set", "--auto-approve", "--state", "active", "shape1")
    assert show(cloud, "shape1")["status"] == "ACTIVE"
    with cloud.client(microversion="2.100") as admin:
        bad = admin.post(
            f"{API}/servers/{uuid}/action", json={"os-resetState": {"state": "stopped"}}
        )
        assert bad.status_code == 400
        assert "os-resetState.state" in bad.json()["badRequest"]["message"]
        actions = [
            a["action"]
            for a in admin.get(f"{API}/servers/{uuid}/os-instance-actions").json()[
                "instanceActions"
            ]
        ]
        assert actions.count("resetState") == 2
        # After the resets the server takes actions again.
        stopped = admin.post(f"{API}/servers/{uuid}/action", json={"os-stop": None})
        assert stopped.status_code == 202
    wait_status(cloud, uuid, "SHUTOFF")
    remove(cloud, uuid)
    assert leftovers(cloud) == CLEAN


def test_typed_bodies_are_clean_4xx(cloud: Cloud) -> None:
    """Wrongly typed fields of create, update and the actions: a 400 naming the field,
    never a 500, and no server row."""
    with cloud.client(microversion="2.100") as admin:
        image = admin.get("/image/v2/images", params={"name": "tiny"}).json()["images"][0]
        base = {"name": "typed", "imageRef": image["id"], "flavorRef": FLAVOR_ID}
        creates = [
            ({**base, "networks": "nope"}, "server.networks"),
            ({**base, "networks": 5}, "server.networks"),
            ({**base, "networks": {"uuid": "x"}}, "server.networks"),
            ({**base, "networks": "none", "accessIPv4": "300.1.1.1"}, "server.accessIPv4"),
            ({**base, "networks": "none", "accessIPv6": "2001:db8::g"}, "server.accessIPv6"),
            ({**base, "networks": "none", "security_groups": "web"}, "server.security_groups"),
            ({**base, "networks": "none", "security_groups": [{"id": 1}]}, "security_groups"),
            ({**base, "networks": "none", "metadata": {"a": 1}}, "server.metadata"),
            ({**base, "networks": "none", "tags": [5]}, "server.tags"),
            ({**base, "networks": "none", "tags": ["a/b"]}, "server.tags"),
            (
                {**base, "networks": "none", "block_device_mapping_v2": [{"source_type": "x"}]},
                "server.block_device_mapping_v2",
            ),
            (
                {
                    **base,
                    "networks": "none",
                    "block_device_mapping_v2": [{"source_type": "image", "volume_size": "big"}],
                },
                "volume_size",
            ),
            ({**base, "networks": "none", "OS-DCF:diskConfig": "SOME"}, "OS-DCF:diskConfig"),
            ({**base, "networks": "none", "min_count": "x"}, "server.min_count"),
            ({**base, "networks": "none", "return_reservation_id": "x"}, "return_reservation_id"),
            ({**base, "networks": "none", "name": 5}, "server.name"),
            ({**base, "networks": "none", "hostname": "-bad"}, "hostname"),
        ]
        for body, field in creates:
            response = admin.post(f"{API}/servers", json={"server": body})
            assert response.status_code == 400, (body, response.text)
            assert field in response.json()["badRequest"]["message"], (body, response.text)
        assert admin.get(f"{API}/servers", params={"name": "^typed"}).json()["servers"] == []
        actions = [
            ({"lock": {"locked_reason": 5}}, "lock.locked_reason"),
            ({"lock": {"locked_reason": ["x"]}}, "lock.locked_reason"),
            ({"lock": {"other": "x"}}, "lock.other"),
            ({"reboot": {"type": 5}}, "reboot.type"),
            ({"reboot": None}, "reboot"),
            ({"os-stop": {"force": True}}, "os-stop.force"),
            ({"os-start": "now"}, "os-start"),
            ({"os-getConsoleOutput": {"length": "many"}}, "os-getConsoleOutput.length"),
            ({"os-resetState": {"state": 1}}, "os-resetState.state"),
            ({"os-resetState": None}, "os-resetState"),
            ({"no-such-action": {}}, "no-such-action"),
        ]
        for body, field in actions:
            response = admin.post(f"{API}/servers/any-id/action", json=body)
            assert response.status_code == 400, (body, response.text)
            assert field in response.json()["badRequest"]["message"], (body, response.text)
        updates = [({"name": 5}, "server.name"), ({"description": 5}, "server.description")]
        for body, field in updates:
            response = admin.put(f"{API}/servers/any-id", json={"server": body})
            assert response.status_code == 400, (body, response.text)
            assert field in response.json()["badRequest"]["message"]


def test_compute_version_documents(cloud: Cloud) -> None:
    """Every version /compute/ lists answers its own document at its self link, the
    legacy v2.0 first (as Nova lists it)."""
    with httpx.Client(base_url=cloud.url, timeout=30) as anonymous:
        listed = anonymous.get("/compute/").json()["versions"]
        assert [v["id"] for v in listed] == ["v2.0", "v2.1"]
        for version in listed:
            (self_link,) = [link for link in version["links"] if link["rel"] == "self"]
            response = anonymous.get(self_link["href"])
            assert response.status_code == 200, self_link
            document = response.json()["version"]
            assert [link for link in document["links"] if link["rel"] == "self"] == [self_link]
            assert document["id"] == version["id"]
            assert document["media-types"][0]["base"] == "application/json"
        legacy = anonymous.get("/compute/v2").json()["version"]
        assert (legacy["version"], legacy["min_version"]) == ("", "")
        assert legacy["media-types"][0]["type"].endswith("version=2")


def test_services_answer_to_nova_binary_names(cloud: Cloud) -> None:
    with cloud.client(microversion="2.1") as admin:

        def listed(binary: str) -> list[dict]:
            return admin.get(f"{API}/os-services", params={"binary": binary}).json()["services"]

        for nova, count in (("nova-compute", 2), ("nova-scheduler", 1), ("nova-conductor", 1)):
            found = listed(nova)
            assert len(found) == count, found
            assert {s["binary"] for s in found} == {nova}
            ours = listed(nova.replace("nova-", "stratus-"))
            assert {s["binary"] for s in ours} == {nova.replace("nova-", "stratus-")}
            assert sorted(s["host"] for s in ours) == sorted(s["host"] for s in found)
        assert {s["host"] for s in listed("nova-compute")} == set(COMPUTES)
        assert {s["binary"] for s in admin.get(f"{API}/os-services").json()["services"]} >= {
            "stratus-compute",
            "stratus-scheduler",
            "stratus-conductor",
        }
        assert listed("nova-api") == []
        # The legacy actions take Nova's names too, and answer with the name given.
        ref = {"host": "compute1", "binary": "nova-compute"}
        disabled = admin.put(f"{API}/os-services/disable", json=ref)
        assert disabled.status_code == 200, disabled.text
        assert disabled.json()["service"] == {**ref, "status": "disabled"}
        assert [s["status"] for s in listed("nova-compute") if s["host"] == "compute1"] == [
            "disabled"
        ]
        enabled = admin.put(f"{API}/os-services/enable", json=ref)
        assert enabled.json()["service"] == {**ref, "status": "enabled"}
    cli = cloud.openstack_json("compute", "service", "list", "--service", "nova-compute")
    assert sorted(s["Host"] for s in cli) == sorted(COMPUTES)
    assert {s["Binary"] for s in cli} == {"nova-compute"}


def test_keypairs_are_generated_below_2_92(cloud: Cloud) -> None:
    from cryptography.hazmat.primitives import serialization

    with cloud.client(microversion="2.2") as client:
        response = client.post(f"{API}/os-keypairs", json={"keypair": {"name": "servershape-gen"}})
        assert response.status_code == 201, response.text
        generated = response.json()["keypair"]
        assert set(generated) == {
            "name",
            "public_key",
            "fingerprint",
            "user_id",
            "type",
            "private_key",
        }
        private = serialization.load_pem_private_key(generated["private_key"].encode(), None)
        derived = private.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        assert generated["public_key"].split()[:2] == derived.decode().split()
        kept = client.get(f"{API}/os-keypairs/servershape-gen").json()["keypair"]
        assert "private_key" not in kept
        assert (kept["public_key"], kept["fingerprint"]) == (
            generated["public_key"],
            generated["fingerprint"],
        )
        assert client.delete(f"{API}/os-keypairs/servershape-gen").status_code == 204
        # An x509 key pair is a self-signed certificate and its key.
        response = client.post(
            f"{API}/os-keypairs", json={"keypair": {"name": "servershape-cert", "type": "x509"}}
        )
        assert response.status_code == 201, response.text
        cert = response.json()["keypair"]
        assert cert["public_key"].startswith("-----BEGIN CERTIFICATE-----")
        assert "PRIVATE KEY" in cert["private_key"] and cert["type"] == "x509"
        shown = client.get(f"{API}/os-keypairs/servershape-cert").json()["keypair"]
        assert (shown["type"], shown["fingerprint"]) == ("x509", cert["fingerprint"])
        assert client.delete(f"{API}/os-keypairs/servershape-cert").status_code == 204
    with cloud.client(microversion="2.92") as client:
        refused = client.post(f"{API}/os-keypairs", json={"keypair": {"name": "servershape-x"}})
        assert refused.status_code == 400
        assert "keypair.public_key" in refused.json()["badRequest"]["message"]
        assert client.get(f"{API}/os-keypairs/servershape-x").status_code == 404
