"""The all-in-one deployment, end to end, on this host.

`make test-deploy` runs this as root on a Debian 12 host: it removes any Stratus
deployment on the host (playbooks/destroy.yml), runs `make aio` from that fresh
state, checks the cloud, the idempotence and timing of a second run, declarative
server changes (with --check first), the security of the files it wrote, and
finally destroys everything again. The tests run in file order and share the
deployment.
"""

from __future__ import annotations

import configparser
import hashlib
import hmac
import importlib.metadata
import json
import os
import shutil
import stat
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from stratus.db import migration
from tests.deploy.helpers import (
    AIO,
    changed,
    failed,
    openstack,
    playbook,
    recap,
    run,
    servers,
    wait_for,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("STRATUS_DEPLOY_TESTS") != "1",
        reason="deploys on this host: run through `make test-deploy` (STRATUS_DEPLOY_TESTS=1)",
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="deploying needs root"),
]

# Goals from the deployment's issue: a fresh `make aio` in under 10 minutes
# (package installs included) and a run with nothing to do in under a minute.
FRESH_LIMIT = float(os.environ.get("STRATUS_AIO_FRESH_LIMIT", 600))
# A run with nothing to change: about 63 s on the 2-core build machine since the
# all-in-one also declares an external network, a router and a floating IP.
RERUN_LIMIT = float(os.environ.get("STRATUS_AIO_RERUN_LIMIT", 90))

SERVICES = [
    "stratus-api",
    "stratus-scheduler",
    "stratus-conductor",
    "stratus-compute",
    "stratus-network-agent",
    "stratus-metadata",
]
STRATUS_PATHS = [Path("/opt/stratus"), Path("/etc/stratus"), Path("/var/lib/stratus")]
INSTANCES = "/var/lib/stratus/instances"
DECLARED = "demo-1"
# The default network of inventories/aio (stratus_networks) and its subnet.
NETWORK = "private"
SUBNET_CIDR = "10.0.0.0/24"
# The external network of inventories/aio and its stand-in uplink's namespace.
EXTERNAL_CIDR = "203.0.113.0/24"
EXTERNAL_NAMESPACE = "stratus-external"
EXTRA = "demo-2"
TIMINGS: dict[str, float] = {}
# stratus-manage on the controller's PATH (roles/stratus_control), as nova-manage is.
MANAGE_LINK = Path("/usr/local/bin/stratus-manage")
OPERATOR_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# stratus-metadata on the controller's management address (loopback in the aio), and
# the shared secret the deployment generated for it and the metadata proxies.
METADATA_URL = "http://127.0.0.1:8775"
METADATA_SECRET = AIO / "credentials" / "metadata-secret"


def systemd() -> bool:
    return Path("/run/systemd/system").is_dir()


def pids() -> dict[str, int | None]:
    """Main pid of each Stratus service (None when it is not running)."""
    out: dict[str, int | None] = {}
    for name in SERVICES:
        if systemd():
            value = subprocess.run(
                ["systemctl", "show", "-p", "MainPID", "--value", name],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            out[name] = int(value) if value.isdigit() and value != "0" else None
        else:
            path = Path(f"/run/stratus/{name}.pid")
            pid = int(path.read_text()) if path.exists() else None
            out[name] = pid if pid and Path(f"/proc/{pid}").exists() else None
    return out


def our_domains() -> list[str]:
    """libvirt domains that belong to this deployment (by their instances path)."""
    if not shutil.which("virsh"):
        return []
    listing = subprocess.run(
        ["virsh", "-c", "qemu:///system", "list", "--all", "--uuid"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    mine = []
    for dom in listing:
        xml = subprocess.run(
            ["virsh", "-c", "qemu:///system", "dumpxml", dom],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        if f"instances_path='{INSTANCES}'" in xml or f'instances_path="{INSTANCES}"' in xml:
            mine.append(dom)
    return mine


FRESH_CHECK: dict[str, object] = {}


@pytest.fixture(scope="module")
def deployment():
    """`make aio` from a host where nothing of Stratus is installed (after a
    `make aio-check` there, whose result test_check_mode_on_a_fresh_host reads)."""
    run(["scripts/aio", "destroy"])
    assert not [p for p in STRATUS_PATHS if p.exists()]
    check = run(["scripts/aio", "check"], check=False)
    FRESH_CHECK.update(result=check, left=[p for p in STRATUS_PATHS if p.exists()])
    result = run(["make", "aio"], timeout=3600)
    TIMINGS["fresh make aio"] = result.seconds
    yield result
    if any(p.exists() for p in STRATUS_PATHS):
        run(["scripts/aio", "destroy"])
    print("\ntimings: " + ", ".join(f"{k} {v:.0f} s" for k, v in TIMINGS.items()))


@pytest.fixture
def extra_server(tmp_path: Path) -> Path:
    """An inventory file that declares one more server (the committed one stays as is)."""
    path = tmp_path / "extra.yml"
    path.write_text(
        "all:\n  children:\n    servers:\n      hosts:\n"
        f"        {EXTRA}:\n          server_flavor: m1.tiny\n          server_image: tiny\n"
    )
    return path


def test_check_mode_on_a_fresh_host(deployment) -> None:
    """`make aio-check` before anything is deployed: no failure, nothing written, and
    the resources it would create are listed."""
    check = FRESH_CHECK["result"]
    assert check.returncode == 0, check.tail()
    assert FRESH_CHECK["left"] == []
    assert "Everything declared would be created" in check.output
    assert f"servers: {DECLARED}" in check.output


def test_fresh_make_aio(deployment) -> None:
    assert failed(deployment.output) == 0
    assert deployment.seconds < FRESH_LIMIT, f"fresh make aio took {deployment.seconds:.0f} s"
    listing = deployment.output.split("openstack --os-cloud stratus-admin server list", 1)[-1]
    assert DECLARED in listing and "ACTIVE" in listing
    assert "export OS_CLOUD=stratus-admin" in deployment.output


def test_services_and_catalog(deployment) -> None:
    services = openstack("compute", "service", "list", "-f", "json")
    up = {s["Binary"] for s in services if s["State"] == "up" and s["Status"] == "enabled"}
    assert {"stratus-scheduler", "stratus-conductor", "stratus-compute"} <= up
    endpoints = {e["Service Type"]: e["URL"] for e in openstack("endpoint", "list", "-f", "json")}
    assert endpoints == {
        "identity": "http://127.0.0.1:8774/identity/v3",
        "compute": "http://127.0.0.1:8774/compute/v2.1",
        "image": "http://127.0.0.1:8774/image",
        "network": "http://127.0.0.1:8774/networking",
    }
    assert "m1.tiny" in {f["Name"] for f in openstack("flavor", "list", "-f", "json")}
    assert "tiny" in {i["Name"] for i in openstack("image", "list", "-f", "json")}
    for name in SERVICES:
        assert pids()[name], f"{name} is not running"
        assert Path(f"/var/log/stratus/{name}.log").stat().st_size > 0


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    """`stratus-manage ARGS` as an operator runs it: found on the standard PATH, run as
    the services' user (README.md)."""
    return subprocess.run(
        ["runuser", "-u", "stratus", "--", "stratus-manage", *args],
        env={"PATH": OPERATOR_PATH, "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_stratus_manage_is_on_the_path(deployment) -> None:
    assert MANAGE_LINK.is_symlink()
    assert MANAGE_LINK.resolve() == Path("/opt/stratus/bin/stratus-manage").resolve()
    version = manage("--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == importlib.metadata.version("stratus")
    schema = manage("db", "version")
    assert schema.returncode == 0, schema.stderr
    assert schema.stdout.strip() == migration.head()
    listing = manage("service", "list")
    assert listing.returncode == 0, listing.stderr
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in listing.stdout.splitlines()
        if line.startswith("|")
    ]
    assert rows[0] == ["Binary", "Host", "Zone", "Status", "State", "Updated_At"]
    states = {(r[0], r[1]): (r[3], r[4]) for r in rows[1:]}
    for binary in (
        "stratus-scheduler",
        "stratus-conductor",
        "stratus-compute",
        "stratus-network-agent",
    ):
        assert states[binary, "aio"] == ("enabled", "up"), listing.stdout


def test_declared_server_is_active_and_booted(deployment) -> None:
    server = openstack("server", "show", DECLARED, "-f", "json")
    assert server["status"] == "ACTIVE"
    assert server["OS-EXT-SRV-ATTR:host"] == "aio"
    metadata = server.get("properties", server.get("metadata"))
    assert metadata in ({"purpose": "demo"}, "purpose='demo'"), server
    marker = f"STRATUS-GUEST-READY {server['id']}"
    wait_for(
        lambda: marker in openstack("console", "log", "show", DECLARED),
        timeout=120,
        what="the guest's ready marker on its console",
    )


def netns_list() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def stratus_links() -> list[str]:
    """Bridges and VXLAN devices of Stratus networks in the root namespace."""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
    return [n for n in names if n.startswith(("brq", "vxlan-"))]


def ns_ping(namespace: str, address: str, count: int = 3) -> bool:
    return (
        subprocess.run(
            ["ip", "netns", "exec", namespace, "busybox", "ping", "-c", str(count), "-W", "2",
             address],
            capture_output=True,
            timeout=30,
        ).returncode
        == 0
    )  # fmt: skip


def ns_echo(namespace: str, address: str, timeout: float) -> str:
    """What the guest's TCP echo service (port 7) sends back, from inside ``namespace``."""
    return subprocess.run(
        [
            "ip", "netns", "exec", namespace, "python3", "-c",
            "import socket, sys; s = socket.create_connection((sys.argv[1], 7), "
            "timeout=float(sys.argv[2])); s.sendall(b'stratus-echo\\n'); "
            "print(s.recv(64).decode().strip())",
            address, str(timeout),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()  # fmt: skip


def test_declared_server_has_its_dhcp_address_on_the_default_network(deployment) -> None:
    """The aio's default network: the declared server has an address on it, the guest
    leased that very address by DHCP from the network's namespace, and the namespace
    reaches the guest (ping and the guest's TCP echo on port 7) once the security
    group allows it. No address of the network is in the host's root namespace."""
    import ipaddress

    network = openstack("network", "show", NETWORK, "-f", "json")
    assert network["provider:network_type"] == "vxlan"
    server = openstack("server", "show", DECLARED, "-f", "json")
    addresses = server["addresses"]
    assert list(addresses) == [NETWORK], addresses
    subnet = ipaddress.ip_network(SUBNET_CIDR)
    (address,) = [a for a in addresses[NETWORK] if ipaddress.ip_address(a) in subnet]
    wait_for(
        lambda: (
            f"STRATUS-GUEST-IP eth0 {address}/24" in openstack("console", "log", "show", DECLARED)
        ),
        timeout=120,
        what="the guest's DHCP lease on its console",
    )
    namespace = f"qdhcp-{network['id']}"
    assert namespace in netns_list()
    # The server is in its project's default security group, which lets in only its
    # own members: the DHCP namespace is not one, so it reaches the guest only once
    # rules allow ping and the echo port (nftables on the host enforces them).
    assert not ns_ping(namespace, address, count=1)
    assert ns_echo(namespace, address, timeout=3) != "stratus-echo"
    (group,) = [
        g["ID"]
        for g in openstack("security", "group", "list", "--project", server["project_id"],
                           "-f", "json")
        if g["Name"] == "default"
    ]  # fmt: skip
    openstack("security", "group", "rule", "create", "--protocol", "icmp", group, "-f", "json")
    openstack("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "7",
              group, "-f", "json")  # fmt: skip
    wait_for(lambda: ns_ping(namespace, address, count=1), timeout=10, what="ping allowed")
    assert ns_echo(namespace, address, timeout=10) == "stratus-echo"
    root = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True).stdout
    assert not [
        line
        for line in root.splitlines()
        if " inet " in line
        and ipaddress.ip_interface(line.split()[3]).ip in ipaddress.ip_network(SUBNET_CIDR)
    ], root


def test_declared_server_is_reached_through_its_floating_ip(deployment) -> None:
    """The aio's external network: `demo-1` declares server_floating_ip, so the role
    gave it a floating IP from `public` through `router1`, shown among its addresses.
    The external network's stand-in uplink (a veth into the namespace
    stratus-external, the external subnet's gateway, and nothing else) reaches the
    guest's echo port through the floating IP, since the security group allows it
    (the test above added the rules); neither the floating nor the tenant network
    has an address or a route in the host's root namespace."""
    import ipaddress

    fips = openstack("floating", "ip", "list", "--long", "-f", "json")
    server = openstack("server", "show", DECLARED, "-f", "json")
    (fip,) = [f for f in fips if f["Fixed IP Address"] in server["addresses"][NETWORK]]
    floating = fip["Floating IP Address"]
    assert ipaddress.ip_address(floating) in ipaddress.ip_network(EXTERNAL_CIDR), fip
    assert floating in server["addresses"][NETWORK]
    assert EXTERNAL_NAMESPACE in netns_list()
    wait_for(lambda: ns_ping(EXTERNAL_NAMESPACE, floating, count=1), timeout=30,
             what="ping through the floating IP")  # fmt: skip
    assert ns_echo(EXTERNAL_NAMESPACE, floating, timeout=10) == "stratus-echo"
    root = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True).stdout
    routes = subprocess.run(["ip", "route", "show"], capture_output=True, text=True).stdout
    external = ipaddress.ip_network(EXTERNAL_CIDR)
    assert not [
        line
        for line in root.splitlines()
        if " inet " in line and ipaddress.ip_interface(line.split()[3]).ip in external
    ], root
    assert "203.0.113." not in routes, routes


def as_nobody(*args: str) -> subprocess.CompletedProcess[str]:
    """A command run by a user with no business with Stratus."""
    return subprocess.run(
        ["runuser", "-u", "nobody", "--", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_database_files_are_private(deployment) -> None:
    """The SQLite database holds bcrypt password hashes: its directory is 0750 and the
    database with its -wal and -shm 0640, all the stratus user's."""
    state = Path("/var/lib/stratus")
    st = state.stat()
    assert (state.owner(), stat.S_IMODE(st.st_mode)) == ("stratus", 0o750)
    # QEMU passes through it to the instances by its group (kvm), not as "other".
    assert state.group() == "kvm"
    files = [p for p in state.glob("stratus.sqlite*") if p.exists()]
    assert Path("/var/lib/stratus/stratus.sqlite") in files
    for path in files:
        st = path.stat()
        assert (path.owner(), path.group()) == ("stratus", "stratus"), path
        assert stat.S_IMODE(st.st_mode) == 0o640, (path, oct(st.st_mode))
    assert as_nobody("ls", str(state)).returncode != 0
    assert as_nobody("cat", "/var/lib/stratus/stratus.sqlite").returncode != 0


def test_instance_files_are_private(deployment) -> None:
    """Instance directories are 0711 (QEMU passes through, nobody lists them) and no
    instance file is world-readable; the guest still boots (the test above)."""
    server_id = openstack("server", "show", DECLARED, "-f", "json")["id"]
    instances = Path(INSTANCES)
    inst_dir = instances / server_id
    for path in (instances, instances / "_base", inst_dir):
        st = path.stat()
        assert (path.owner(), stat.S_IMODE(st.st_mode)) == ("stratus", 0o711), path
    names = {p.name for p in inst_dir.iterdir()}
    assert {"console.log", "disk", "disk.info", "libvirt.xml"} <= names
    for path in inst_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o004 == 0, (path, oct(path.stat().st_mode))
    assert as_nobody("ls", str(instances)).returncode != 0
    assert as_nobody("cat", str(inst_dir / "console.log")).returncode != 0


def test_compute_runs_as_stratus_in_the_libvirt_and_kvm_groups(deployment) -> None:
    pid = pids()["stratus-compute"]
    assert pid
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    uids = set(status["Uid"].split())
    groups = {int(g) for g in status["Groups"].split()}
    stratus_uid = subprocess.run(["id", "-u", "stratus"], capture_output=True, text=True)
    assert uids == {stratus_uid.stdout.strip()}, status["Uid"]
    for group in ("libvirt", "kvm"):
        gid = int(subprocess.run(["getent", "group", group], capture_output=True,
                                 text=True).stdout.split(":")[2])  # fmt: skip
        assert gid in groups, (group, status["Groups"])
    for name in SERVICES:
        owner = Path(f"/proc/{pids()[name]}").owner()
        assert owner == "stratus", (name, owner)


def test_compute_reads_a_root_only_console_log_through_privsep(deployment) -> None:
    """A console log that only root may read (as virtlogd leaves one after a rotation)
    is read by stratus-compute's privsep daemon: started through sudo, by the one
    command line the sudoers rule allows."""
    server_id = openstack("server", "show", DECLARED, "-f", "json")["id"]
    log = Path(INSTANCES) / server_id / "console.log"
    os.chown(log, 0, 0)
    log.chmod(0o600)
    marker = f"STRATUS-GUEST-READY {server_id}"
    assert marker in openstack("console", "log", "show", DECLARED)
    helper = subprocess.run(
        ["pgrep", "-f", "-u", "root", "privsep-helper.*stratus.privsep.sys_admin_pctxt"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert helper.stdout.split(), "no privsep daemon runs"
    rule = ["sudo", "-n", "-l", "-U", "stratus", "/opt/stratus/bin/privsep-helper",
            "--config-file", "/etc/stratus/stratus.conf", "--privsep_context",
            "stratus.privsep.sys_admin_pctxt", "--privsep_sock_path",
            "/tmp/tmpabc_123/privsep.sock"]  # fmt: skip
    assert subprocess.run(rule, capture_output=True, check=False).returncode == 0
    other = [*rule[:-1], "/tmp/tmpabc_123/privsep.sock", "--config-file", "/tmp/x.conf"]
    assert subprocess.run(other, capture_output=True, check=False).returncode != 0
    shell = ["sudo", "-n", "-l", "-U", "stratus", "/bin/sh"]
    assert subprocess.run(shell, capture_output=True, check=False).returncode != 0


def test_rabbitmq_has_no_guest(deployment) -> None:
    users = subprocess.run(
        ["rabbitmqctl", "-q", "list_users"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "stratus" in users
    assert "guest" not in users


def listeners() -> list[tuple[str, int, str]]:
    """(address, port, process) of every listening TCP socket (`ss -ltnp`)."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    result = []
    for line in out.splitlines():
        fields = line.split()
        address, _, port = fields[3].rpartition(":")
        process = fields[5] if len(fields) > 5 else ""
        result.append((address.strip("[]").split("%")[0], int(port), process))
    return result


def test_broker_and_erlang_distribution_listen_on_loopback_only(deployment) -> None:
    """AMQP (5672), epmd (4369) and the node's distribution port (25672) of the
    all-in-one's broker answer on loopback only."""
    sockets = listeners()
    for port in (4369, 5672, 25672):
        addresses = {a for a, p, _ in sockets if p == port}
        assert addresses, f"nothing listens on {port}"
        assert addresses <= {"127.0.0.1", "::1"}, (port, addresses)
    # Every socket of the broker's processes (the node, epmd, their helpers).
    broker = subprocess.run(
        ["pgrep", "-u", "rabbitmq,epmd"], capture_output=True, text=True, check=False
    ).stdout.split()
    assert broker, "the broker runs under no rabbitmq or epmd process"
    erlang = [(a, p) for a, p, proc in sockets if any(f"pid={pid}," in proc for pid in broker)]
    assert {p for _, p in erlang} >= {4369, 5672, 25672}, erlang
    assert all(a in ("127.0.0.1", "::1") for a, _ in erlang), erlang


def test_files_with_secrets_are_private(deployment) -> None:
    conf = Path("/etc/stratus/stratus.conf")
    st = conf.stat()
    assert st.st_uid == 0 and conf.group() == "stratus"
    assert stat.S_IMODE(st.st_mode) & 0o137 == 0, oct(st.st_mode)  # 0640 or stricter
    text = conf.read_text()
    # The compute service's config (one file in the aio) holds RabbitMQ
    # credentials only: no database section, no database URL.
    assert "[database]" not in text and "mysql" not in text and "sqlite" not in text
    assert "transport_url = rabbit://stratus:" in text and "guest" not in text
    local_clouds = Path.home() / ".config/openstack/clouds.yaml"
    for clouds in (Path("/etc/openstack/clouds.yaml"), local_clouds):
        assert stat.S_IMODE(clouds.stat().st_mode) == 0o600, clouds
        assert "stratus-admin" in clouds.read_text()
    for secret in (AIO / "credentials").iterdir():
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
    assert stat.S_IMODE(Path("/var/lib/stratus/fernet-keys").stat().st_mode) == 0o700
    rabbit = Path("/etc/rabbitmq/rabbitmq.conf").read_text()
    assert "loopback_users.guest = true" in rabbit
    assert "listeners.tcp.default = 127.0.0.1:5672" in rabbit


def metadata_get(path: str, headers: dict[str, str]) -> tuple[int, str]:
    """GET ``path`` from stratus-metadata as a metadata proxy sends it: status, body."""
    request = urllib.request.Request(METADATA_URL + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_metadata_service_answers_signed_requests_only(deployment) -> None:
    """stratus-metadata runs on the controller's management address (loopback here),
    port 8775, with the secret generated for this deployment (0600 on the Ansible
    controller, in the 0640 stratus.conf on the host): a request signed with it, as the
    network hosts' metadata proxies sign, gets the declared server's meta_data.json; a
    bad signature, or a good one for another instance id, gets a 403."""
    server = openstack("server", "show", DECLARED, "-f", "json")
    secret = METADATA_SECRET.read_text().strip()
    assert len(secret) >= 32
    assert stat.S_IMODE(METADATA_SECRET.stat().st_mode) == 0o600
    parser = configparser.ConfigParser(interpolation=None)
    parser.read("/etc/stratus/stratus.conf")
    assert parser["metadata"]["shared_secret"] == secret
    # The network host (the aio) signs with the same secret and reaches this address.
    assert parser["metadata"]["metadata_url"] == METADATA_URL
    assert stat.S_IMODE(Path("/etc/stratus/stratus.conf").stat().st_mode) & 0o007 == 0
    assert as_nobody("cat", "/etc/stratus/stratus.conf").returncode != 0
    assert {a for a, p, _ in listeners() if p == 8775} == {"127.0.0.1"}

    def signed(instance_id: str, key: str = secret) -> dict[str, str]:
        return {
            "X-Instance-ID": instance_id,
            "X-Tenant-ID": server["project_id"],
            "X-Instance-ID-Signature": hmac.new(
                key.encode(), instance_id.encode(), hashlib.sha256
            ).hexdigest(),
        }

    status, body = metadata_get("/openstack/latest/meta_data.json", signed(server["id"]))
    assert status == 200, body
    document = json.loads(body)
    assert (document["uuid"], document["name"]) == (server["id"], DECLARED)
    status, body = metadata_get(
        "/openstack/latest/meta_data.json", signed(server["id"], key=secret + "x")
    )
    assert status == 403, body
    assert server["id"] not in body
    forged = {**signed(server["id"]), "X-Instance-ID": str(uuid.uuid4())}
    assert metadata_get("/openstack/latest/meta_data.json", forged)[0] == 403


def test_second_make_aio_changes_nothing(deployment) -> None:
    before = pids()
    result = run(["make", "aio"], timeout=1800)
    TIMINGS["second make aio"] = result.seconds
    counters = recap(result.output)
    assert {host: c["changed"] for host, c in counters.items()} == {
        "aio": 0,
        "localhost": 0,
    }
    assert failed(result.output) == 0
    assert pids() == before, "a run with nothing to change restarted services"
    assert result.seconds < RERUN_LIMIT, f"second make aio took {result.seconds:.0f} s"


def test_check_mode_on_the_deployed_host_finds_nothing_to_change(deployment) -> None:
    before = pids()
    result = run(["scripts/aio", "check"])
    assert {host: c["changed"] for host, c in recap(result.output).items()} == {
        "aio": 0,
        "localhost": 0,
    }
    assert f"{DECLARED}: aio (exists)" in result.output
    assert pids() == before


def test_check_mode_plans_a_new_server_and_changes_nothing(deployment, extra_server) -> None:
    before = servers()
    result = playbook("resources.yml", "--check", "--diff", inventories=(extra_server,))
    assert f"{EXTRA}: aio (new)" in result.output
    assert f"{DECLARED}: aio (exists)" in result.output
    assert changed(result.output) == 1
    assert servers().keys() == before.keys()


def test_adding_a_server_creates_only_it(deployment, extra_server) -> None:
    before = servers()
    result = playbook("resources.yml", inventories=(extra_server,))
    assert changed(result.output) == 1
    after = servers()
    assert after.keys() == before.keys() | {EXTRA}
    assert after[DECLARED]["ID"] == before[DECLARED]["ID"]
    assert after[EXTRA]["Status"] == "ACTIVE"
    again = playbook("resources.yml", inventories=(extra_server,))
    assert changed(again.output) == 0


def test_prune_in_check_mode_changes_nothing(deployment) -> None:
    before = servers()
    result = playbook("resources.yml", "--check", "--diff", "-e", "stratus_prune=true")
    assert f"{EXTRA}: aio (delete, not in the inventory)" in result.output
    assert changed(result.output) == 1
    assert servers().keys() == before.keys()


def test_prune_deletes_only_the_undeclared_server_of_its_project(deployment) -> None:
    project = f"deploy-other-{uuid.uuid4().hex[:6]}"
    openstack("project", "create", project, "-f", "json")
    openstack("role", "add", "--project", project, "--user", "admin", "admin")
    openstack(
        "server",
        "create",
        "--flavor",
        "m1.tiny",
        "--image",
        "tiny",
        "--nic",
        "none",
        "--wait",
        "foreign-1",
        "-f",
        "json",
        project=project,
    )
    try:
        before = servers()
        result = playbook("resources.yml", "-e", "stratus_prune=true")
        assert changed(result.output) == 1
        after = servers()
        assert after.keys() == before.keys() - {EXTRA}
        assert after[DECLARED]["ID"] == before[DECLARED]["ID"]
        foreign = openstack("server", "list", "-f", "json", project=project)
        assert [s["Name"] for s in foreign] == ["foreign-1"]
    finally:
        openstack("server", "delete", "--wait", "foreign-1", project=project, check=False)
        openstack("project", "delete", project, check=False)


def test_config_change_restarts_the_services_that_read_it(deployment) -> None:
    before = pids()
    override = '{"stratus_common_config_overrides": {"DEFAULT": {"report_interval": 7}}}'
    result = playbook("site.yml", "--tags", "control,compute", "-e", override)
    assert failed(result.output) == 0
    assert "report_interval = 7" in Path("/etc/stratus/stratus.conf").read_text()
    after = pids()
    # Every service reads stratus.conf, so every one restarted.
    assert all(after[name] and after[name] != before[name] for name in SERVICES), (before, after)
    restored = playbook("site.yml", "--tags", "control,compute")
    assert "report_interval" not in Path("/etc/stratus/stratus.conf").read_text()
    assert recap(restored.output)["aio"]["changed"] >= 1
    wait_for(
        lambda: all(
            s["State"] == "up" for s in openstack("compute", "service", "list", "-f", "json")
        ),
        timeout=120,
        what="every service up again",
    )
    assert openstack("server", "show", DECLARED, "-f", "json")["status"] == "ACTIVE"


def test_destroy_removes_stratus(deployment) -> None:
    result = run(["scripts/aio", "destroy"])
    assert failed(result.output) == 0
    assert [p for p in STRATUS_PATHS if p.exists()] == []
    assert not Path("/var/log/stratus").exists()
    assert not Path("/etc/openstack/clouds.yaml").exists()
    assert not MANAGE_LINK.is_symlink() and not MANAGE_LINK.exists()
    for name in SERVICES:
        assert not Path(f"/etc/init.d/{name}").exists()
        assert not Path(f"/etc/systemd/system/{name}.service").exists()
    assert all(pid is None for pid in pids().values())
    assert our_domains() == []
    # Nothing of the networks is left: bridges, VXLAN devices, DHCP and router
    # namespaces, the external network's stand-in uplink.
    assert stratus_links() == []
    assert not [ns for ns in netns_list() if ns.startswith(("qdhcp-", "qrouter-"))]
    assert EXTERNAL_NAMESPACE not in netns_list()
    assert not Path("/sys/class/net/stratus-ext").exists()
    users = subprocess.run(
        ["rabbitmqctl", "-q", "list_users"], capture_output=True, text=True, check=False
    ).stdout
    assert "stratus" not in users.split()
    again = run(["scripts/aio", "destroy"])
    assert failed(again.output) == 0
