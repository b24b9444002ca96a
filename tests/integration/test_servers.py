"""Servers end to end with real parts at every hop: stratus-api, -scheduler, -conductor
and two stratus-compute processes over a real RabbitMQ, on SQLite and on MariaDB,
with real libvirtd and QEMU (TCG) guests booting the tiny test image."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

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
    for host in COMPUTES:
        for uuid in virsh("list", "--all", "--uuid").split():
            if host in virsh("dumpxml", uuid):
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
