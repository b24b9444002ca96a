"""The Tempest tier: OpenStack's API conformance suite against a private Stratus cloud.

    python -m tests.tempest.run                 the tests of pass.txt; any failure fails the tier
    python -m tests.tempest.run --discover      every compute, image, identity and network API
                                                test that skip.txt does not skip, to find new
                                                candidates
    python -m tests.tempest.run --no-skip-list  every such test, the skip list ignored

The cloud is the test fixtures' one (tests/support/cloud.py): stratus-api, -scheduler,
-conductor and one stratus-compute over a private RabbitMQ node, libvirt with QEMU (TCG)
guests booting the tiny test image, and the compute host's stratus-network-agent (VXLAN
endpoint 127.0.0.1 with no peer, VNIs of the run's own; nothing reaches the host's uplink).
Where the cloud has routers, the runner makes an external network (a vxlan network: no
uplink) for their gateways and floating IPs. The runner provisions what Tempest's pre-provisioned
credentials need (an admin, a member, a reader and a manager in each of two projects), two
flavors and two images, writes ``tempest.conf`` with feature flags that say what Stratus has,
runs ``tempest run --serial`` over tempest.api.compute, tempest.api.image,
tempest.api.identity and tempest.api.network, and prints passed/failed/skipped per group.
Networking's feature flags come from the cloud itself: the extensions are exactly what
``GET /networking/v2.0/extensions`` lists.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.support.cloud import Cloud
from tests.support.libvirtd import ensure_libvirtd
from tests.support.rabbitmq import RabbitMQServer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PASS_LIST = HERE / "pass.txt"
SKIP_LIST = HERE / "skip.txt"
VENV_BIN = Path(sys.executable).parent
GROUPS = ("compute", "image", "identity", "network")
ALL_TESTS = r"^tempest\.api\.(compute|image|identity|network)\."
COMPUTE_HOST = "tempest-compute"
PASSWORD = "tempest-secret"
PROJECTS = ("tempest-project-1", "tempest-project-2")
# Personas per project, in the order Tempest should find them: the members first, so
# that the "alt" credentials (any free non-admin account) are the other project's member.
PERSONAS = ("member", "reader", "manager", "admin")
# What each persona holds in Stratus: a manager is a member too, as in Keystone.
GRANTS = {
    "member": ("member",),
    "reader": ("reader",),
    "manager": ("manager", "member"),
    "admin": ("admin",),
}
FLAVORS = (("tempest-flavor-1", 128, 1), ("tempest-flavor-2", 192, 1))
IMAGES = ("tempest-image-1", "tempest-image-2")
NETWORK_API = "/networking/v2.0"
# The external network of the cloud's routers: a documentation range (RFC 5737).
PUBLIC_NETWORK = "tempest-public"
PUBLIC_CIDR = "203.0.113.0/24"


# --- the lists -------------------------------------------------------------------------


def read_list(path: Path) -> list[tuple[str, str]]:
    """(entry, reason) per line; blank lines and comment-only lines left out."""
    entries = []
    for line in path.read_text().splitlines():
        entry, _, reason = line.partition("#")
        if entry.strip():
            entries.append((entry.strip(), reason.strip()))
    return entries


def base_id(test_id: str) -> str:
    """A test id without Tempest's attributes (``[id-…,smoke]``)."""
    return test_id.split("[", 1)[0]


def pass_list_regexes(tests: list[str]) -> str:
    """An stestr include list matching exactly the tests named, whatever their attributes."""
    return "".join(f"^{re.escape(test)}(\\[.*\\])?$\n" for test in tests)


def check_lists(must_pass: list[str], skips: list[tuple[str, str]]) -> list[str]:
    """What is wrong with the two lists: a skip without its reason or with a bad regex,
    a pass-list test that is listed twice, not a test id or also skipped."""
    problems = []
    patterns = []
    for entry, reason in skips:
        if not reason:
            problems.append(f"skip.txt: {entry} has no reason after '#'")
        try:
            patterns.append(re.compile(entry))
        except re.error as exc:
            problems.append(f"skip.txt: {entry} is not a regular expression: {exc}")
    seen = set()
    for test in must_pass:
        if test in seen:
            problems.append(f"pass.txt: {test} is listed twice")
        seen.add(test)
        if not re.fullmatch(r"tempest\.api\.(compute|image|identity|network)\.[\w.]+", test):
            problems.append(
                f"pass.txt: {test} is not a compute, image, identity or network test id"
            )
        if any(pattern.search(test) for pattern in patterns):
            problems.append(f"pass.txt: {test} is also in skip.txt")
    return problems


# --- the cloud -------------------------------------------------------------------------


@contextlib.contextmanager
def private_cloud(workdir: Path) -> Iterator[Cloud]:
    """The fixtures' cloud with one libvirt compute; its guests removed afterwards."""
    subprocess.run([str(ROOT / "tests/images/build-tiny-image")], check=True)
    ensure_libvirtd()
    broker = RabbitMQServer()
    broker.start()
    # Room for the servers of Tempest's classes in each project (10 by default); VNIs
    # of this cloud's own, so that no VXLAN device is shared with another cloud.
    first = random.randrange(100_000, 16_000_000)
    vnis = range(first, first + 1000)
    conf = {
        "quota": {"instances": 40, "cores": 80},
        "network": {"vni_ranges": f"{vnis.start}:{vnis.stop - 1}"},
    }
    cloud = Cloud(broker.transport_url, workdir=str(workdir / "cloud"), extra_conf=conf)
    try:
        cloud.start()
        # The compute host is a VXLAN endpoint with no peer (127.0.0.1) and runs the
        # network agent, which plugs servers' ports into their networks' bridges and
        # removes the bridges when the networks go.
        network = {"local_ip": "127.0.0.1", "state_path": cloud.workdir / COMPUTE_HOST / "network"}
        compute = {"compute": {"shutdown_timeout": 3}, "network": network}
        cloud.add_compute(COMPUTE_HOST, extra=compute)
        cloud.add_network_agent(COMPUTE_HOST, network)
        yield cloud
    finally:
        try:
            cloud.remove_networks(vnis)
        except Exception as error:  # the run's result stands; say what was left
            print(f"teardown: {error}")
        cloud.stop()
        broker.stop()
        remove_guests(cloud.workdir)


def virsh(*args: str) -> str:
    done = subprocess.run(
        ["virsh", "-c", "qemu:///system", *args], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


def remove_guests(workdir: Path) -> None:
    """Destroy and undefine the guests whose files are under this cloud's workdir."""
    for uuid in virsh("list", "--all", "--uuid").split():
        if str(workdir) in virsh("dumpxml", uuid):
            virsh("destroy", uuid)
            virsh("undefine", uuid, "--managed-save", "--nvram")


def _ok(response: httpx.Response) -> dict[str, Any]:
    if response.is_error:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: "
            f"{response.status_code} {response.text}"
        )
    return response.json() if response.content else {}


def provision(cloud: Cloud) -> dict[str, Any]:
    """Projects, users, roles, flavors and images for Tempest; what tempest.conf needs."""
    identity = "/identity/v3"
    with cloud.client() as admin:
        roles = {r["name"]: r["id"] for r in _ok(admin.get(f"{identity}/roles"))["roles"]}
        for name in ("manager",):
            if name not in roles:
                role = _ok(admin.post(f"{identity}/roles", json={"role": {"name": name}}))
                roles[name] = role["role"]["id"]
        accounts = []
        project_ids = {}
        for project in PROJECTS:
            body = {"project": {"name": project, "domain_id": "default"}}
            project_ids[project] = _ok(admin.post(f"{identity}/projects", json=body))["project"][
                "id"
            ]
        for persona in PERSONAS:
            for number, project in enumerate(PROJECTS, start=1):
                name = f"tempest-{persona}-{number}"
                body = {"user": {"name": name, "password": PASSWORD, "domain_id": "default"}}
                user_id = _ok(admin.post(f"{identity}/users", json=body))["user"]["id"]
                for role in GRANTS[persona]:
                    _ok(
                        admin.put(
                            f"{identity}/projects/{project_ids[project]}/users/{user_id}"
                            f"/roles/{roles[role]}"
                        )
                    )
                account = {
                    "username": name,
                    "password": PASSWORD,
                    "project_name": project,
                    "user_domain_name": "Default",
                    "project_domain_name": "Default",
                    "roles": [persona],
                }
                if persona == "admin":
                    account["types"] = ["admin"]
                accounts.append(account)

    flavor_ids = []
    for name, ram, disk in FLAVORS:
        cloud.openstack(
            "flavor", "create", "--id", name, "--ram", str(ram), "--disk", str(disk), name
        )
        flavor_ids.append(name)
    image = ROOT / "tests/images/cache/tiny.qcow2"
    image_ids = []
    for name in IMAGES:
        created = cloud.openstack_json(
            "image",
            "create",
            "--disk-format",
            "qcow2",
            "--container-format",
            "bare",
            "--public",
            "--file",
            str(image),
            name,
        )
        image_ids.append(created["id"])
    return {
        "accounts": accounts,
        "flavors": flavor_ids,
        "images": image_ids,
        "network": provision_network(cloud),
    }


def provision_network(cloud: Cloud) -> dict[str, Any]:
    """What Tempest's network tests need to know: the extensions the cloud lists and,
    where it has routers, the external network they take their gateways and floating
    IPs from (made here: a vxlan network of the run's VNIs, so no uplink of the host)."""
    with cloud.client() as admin:
        listed = _ok(admin.get(f"{NETWORK_API}/extensions"))["extensions"]
        extensions = sorted(extension["alias"] for extension in listed)
        public: dict[str, Any] = {}
        if "router" in extensions:
            body = {"network": {"name": PUBLIC_NETWORK, "router:external": True}}
            public = _ok(admin.post(f"{NETWORK_API}/networks", json=body))["network"]
            subnet = {
                "network_id": public["id"],
                "name": PUBLIC_NETWORK,
                "ip_version": 4,
                "cidr": PUBLIC_CIDR,
                "enable_dhcp": False,
            }
            _ok(admin.post(f"{NETWORK_API}/subnets", json={"subnet": subnet}))
    return {"extensions": extensions, "public": public}


# --- Tempest ---------------------------------------------------------------------------


def accounts_yaml(accounts: list[dict[str, Any]]) -> str:
    """The pre-provisioned accounts file (plain YAML written by hand: no PyYAML needed)."""
    lines = []
    for account in accounts:
        lines.append(f"- username: {account['username']}")
        for key in ("password", "project_name", "user_domain_name", "project_domain_name"):
            lines.append(f"  {key}: {account[key]}")
        for key in ("roles", "types"):
            if key in account:
                lines.append(f"  {key}: [{', '.join(account[key])}]")
    return "\n".join(lines) + "\n"


def tempest_conf(cloud: Cloud, workspace: Path, provisioned: dict[str, Any]) -> str:
    """What Stratus has, said to Tempest: identity v3 only, compute v2.1 up to the latest
    microversion, image v2, networking v2.0 with the extensions it lists; no volumes,
    object storage or placement service yet; no system scope (tokens are scoped to
    projects)."""
    flavors, images = provisioned["flavors"], provisioned["images"]
    network = provisioned["network"]
    sections: dict[str, dict[str, Any]] = {
        "DEFAULT": {"log_file": workspace / "tempest.log", "debug": True},
        "oslo_concurrency": {"lock_path": workspace / "locks"},
        "auth": {
            "use_dynamic_credentials": False,
            "test_accounts_file": workspace / "accounts.yaml",
            "default_credentials_domain_name": "Default",
            "create_isolated_networks": False,
            "tempest_roles": "",
            # The classes that make their own accounts (force_tenant_isolation) do so
            # with this admin.
            "admin_username": "tempest-admin-1",
            "admin_password": PASSWORD,
            "admin_project_name": PROJECTS[0],
            "admin_domain_name": "Default",
        },
        "identity": {
            "uri_v3": f"{cloud.url}/identity/v3",
            "auth_version": "v3",
            "region": "RegionOne",
            "v3_endpoint_type": "public",
            "admin_role": "admin",
            "default_domain_id": "default",
            "user_unique_last_password_count": 0,
            "user_lockout_failure_attempts": 0,
        },
        "identity-feature-enabled": {
            "api_v2": False,
            "api_v2_admin": False,
            "api_v3": True,
            "trust": False,
            "access_rules": False,
            "security_compliance": False,
            "domain_specific_drivers": False,
            "immutable_user_source": False,
            "application_credentials": False,
            "project_tags": True,
        },
        "compute": {
            "catalog_type": "compute",
            "region": "RegionOne",
            "endpoint_type": "publicURL",
            "image_ref": images[0],
            "image_ref_alt": images[1],
            "flavor_ref": flavors[0],
            "flavor_ref_alt": flavors[1],
            "max_microversion": "latest",
            "build_timeout": 180,
            "build_interval": 1,
            "min_compute_nodes": 1,
        },
        "compute-feature-enabled": {
            "api_extensions": "all",
            "disk_config": False,
            "change_password": False,
            "console_output": True,
            "pause": True,
            "suspend": True,
            "resize": False,
            "cold_migration": False,
            "live_migration": False,
            "block_migration_for_live_migration": False,
            "shelve": False,
            "shelve_migrate": False,
            "snapshot": False,
            "rescue": False,
            "stable_rescue": False,
            "vnc_console": False,
            "spice_console": False,
            "serial_console": False,
            # This cloud runs no network agent nor stratus-metadata: no metadata service.
            "metadata_service": False,
            # The libvirt compute builds a config drive (--config-drive True).
            "config_drive": True,
            "personality": False,
            "enable_instance_password": True,
            "interface_attach": False,
            "attach_encrypted_volume": False,
            "swap_volume": False,
            "volume_multiattach": False,
            "unified_limits": False,
            "nova_policy_roles": "admin,member,reader",
        },
        "image": {
            "catalog_type": "image",
            "region": "RegionOne",
            "endpoint_type": "public",
            "build_timeout": 120,
        },
        "image-feature-enabled": {
            "api_v2": True,
            "import_image": False,
            "manage_locations": False,
            "os_glance_reserved": True,
        },
        "network": network_options(network["public"]),
        "network-feature-enabled": {
            # Exactly what GET /networking/v2.0/extensions lists.
            "api_extensions": ",".join(network["extensions"]),
            "ipv6": True,
            "ipv6_subnet_attributes": True,
            "port_admin_state_change": True,
            "port_security": "port-security" in network["extensions"],
            "floating_ips": "router" in network["extensions"],
        },
        "service_available": {
            "nova": True,
            "glance": True,
            "neutron": True,
            "cinder": False,
            "swift": False,
            "horizon": False,
            "placement": False,
        },
        "validation": {"run_validation": False},
        "enforce_scope": {
            "nova": False,
            "glance": False,
            "keystone": False,
            "neutron": False,
            "cinder": False,
            "placement": False,
        },
    }
    return "".join(
        f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()) + "\n"
        for name, values in sections.items()
    )


def network_options(public: dict[str, Any]) -> dict[str, Any]:
    """Tempest's [network]: the project networks' ranges (Tempest carves its subnets
    from them), no address of a project network reachable from where Tempest runs (no
    route from the host to any), and the external network where there is one."""
    options: dict[str, Any] = {
        "catalog_type": "network",
        "region": "RegionOne",
        "endpoint_type": "publicURL",
        "project_network_cidr": "10.100.0.0/16",
        "project_network_mask_bits": 28,
        "project_network_v6_cidr": "2001:db8::/48",
        "project_network_v6_mask_bits": 64,
        "project_networks_reachable": False,
        "build_timeout": 60,
        "build_interval": 1,
    }
    if public:
        options["public_network_id"] = public["id"]
        options["floating_network_name"] = public["name"]
    return options


def make_workspace(workspace: Path) -> None:
    """What ``tempest init`` makes, without registering the workspace in ~/.tempest."""
    import tempest

    top = Path(tempest.__file__).resolve().parent.parent
    (workspace / "etc").mkdir(parents=True, exist_ok=True)
    (workspace / ".stestr.conf").write_text(
        f"[DEFAULT]\ntest_path={top / 'tempest/test_discover'}\ntop_dir={top}\n"
    )


def run_tempest(workspace: Path, include: str | None, regex: str, exclude: Path | None) -> None:
    command = [str(VENV_BIN / "tempest"), "run", "--serial", "--config-file"]
    command.append(str(workspace / "etc/tempest.conf"))
    if include is not None:
        include_file = workspace / "include.txt"
        include_file.write_text(include)
        command += ["--include-list", str(include_file)]
    else:
        command += ["--regex", regex]
    if exclude is not None:
        command += ["--exclude-list", str(exclude)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
    with open(workspace / "tempest-run.out", "w") as out:
        subprocess.run(command, cwd=workspace, env=env, stdout=out, stderr=subprocess.STDOUT)


def results(workspace: Path) -> dict[str, str]:
    """test id (attributes left out) -> success, fail or skip, from the last stestr run;
    each failure's last exception line goes to failures.txt in the workspace. A class
    whose setUpClass failed counts as one failure named after the class."""
    import subunit
    import testtools

    stream = subprocess.run(
        [str(VENV_BIN / "stestr"), "last", "--subunit"], cwd=workspace, capture_output=True
    ).stdout
    outcome: dict[str, str] = {}
    reasons: list[str] = []

    def on_test(test: dict[str, Any]) -> None:
        name = test["id"]
        if name.startswith("setUpClass ("):
            name = name.split("(", 1)[1].rstrip(")")
        if not name.startswith("tempest."):
            return
        name = base_id(name)
        outcome[name] = test["status"]
        if test["status"] == "fail":
            details = [d.as_text() for k, d in test["details"].items() if "traceback" in k]
            lines = [line.strip() for line in "".join(details).splitlines() if line.strip()]
            reasons.append(f"{name} :: {' | '.join(lines[-2:])[:600]}")

    result = testtools.StreamToDict(on_test)
    result.startTestRun()
    subunit.ByteStreamToStreamResult(io.BytesIO(stream), non_subunit_name="stdout").run(result)
    result.stopTestRun()
    (workspace / "failures.txt").write_text("".join(f"{r}\n" for r in sorted(reasons)))
    return outcome


def group_of(test: str) -> str:
    parts = test.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "api" else "other"


def report(outcome: dict[str, str], must_pass: list[str]) -> list[str]:
    """Print counts per group; the pass-list tests that did not pass."""
    counts: dict[str, Counter[str]] = {group: Counter() for group in GROUPS}
    for test, status in outcome.items():
        status = {"success": "passed", "fail": "failed", "skip": "skipped"}.get(status, status)
        counts.setdefault(group_of(test), Counter())[status] += 1
    print(f"{'group':<10} {'passed':>7} {'failed':>7} {'skipped':>8}")
    for group, count in counts.items():
        print(f"{group:<10} {count['passed']:>7} {count['failed']:>7} {count['skipped']:>8}")
    broken = [test for test in must_pass if outcome.get(test) != "success"]
    for test in broken:
        print(f"PASS-LIST FAILURE: {test}: {outcome.get(test, 'not run')}")
    return broken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--discover", action="store_true", help="run every test that skip.txt does not skip"
    )
    mode.add_argument(
        "--no-skip-list", action="store_true", help="run every test, skip.txt ignored"
    )
    parser.add_argument("--regex", default=ALL_TESTS, help="narrow --discover/--no-skip-list")
    parser.add_argument("--workdir", help="keep the cloud and Tempest's workspace here")
    args = parser.parse_args(argv)

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="stratus-tempest-"))
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    workspace = workdir / "workspace"
    must_pass = [entry for entry, _ in read_list(PASS_LIST)]
    problems = check_lists(must_pass, read_list(SKIP_LIST))
    if problems:
        print("\n".join(problems))
        return 2
    started = time.monotonic()
    with private_cloud(workdir) as cloud:
        provisioned = provision(cloud)
        make_workspace(workspace)
        (workspace / "accounts.yaml").write_text(accounts_yaml(provisioned["accounts"]))
        (workspace / "etc/tempest.conf").write_text(tempest_conf(cloud, workspace, provisioned))
        ready = time.monotonic()
        if args.discover or args.no_skip_list:
            exclude = None if args.no_skip_list else SKIP_LIST
            run_tempest(workspace, None, args.regex, exclude)
        else:
            run_tempest(workspace, pass_list_regexes(must_pass), ALL_TESTS, None)
        done = time.monotonic()
    outcome = results(workspace)
    failed = False
    print(f"cloud and provisioning: {ready - started:.0f} s; tempest: {done - ready:.0f} s")
    if args.discover or args.no_skip_list:
        report(outcome, [])
        listed = set(must_pass)
        for test in sorted(t for t, s in outcome.items() if s == "success" and t not in listed):
            print(f"CANDIDATE: {test}")
        for test in sorted(t for t, s in outcome.items() if s == "fail"):
            print(f"FAILED: {test}")
    else:
        failed = bool(report(outcome, must_pass))
    if failed or args.workdir:
        print(f"workspace kept: {workspace} (tempest-run.out, tempest.log, failures.txt)")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
