"""Checks of the roles, playbooks and inventories that need no deployment."""

from __future__ import annotations

import configparser
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.helpers import ROOT, VENV_BIN, run

ROLES = ["rabbitmq", "mariadb", "stratus_common", "stratus_control", "stratus_compute",
         "stratus_resources"]  # fmt: skip
MULTINODE = ROOT / "inventories" / "multinode"


@pytest.mark.parametrize("role", ROLES)
def test_role_defaults_are_prefixed_and_documented(role: str) -> None:
    """Every variable of defaults/main.yml starts with the role's name and has a comment
    in its paragraph (the lines since the last blank line)."""
    path = ROOT / "roles" / role / "defaults" / "main.yml"
    names = list(yaml.safe_load(path.read_text()) or {})
    assert names, f"{path} defines no variables"
    assert [n for n in names if not n.startswith(f"{role}_")] == []
    paragraph: list[str] = []
    undocumented = []
    for line in path.read_text().splitlines():
        if not line.strip():
            paragraph = []
            continue
        paragraph.append(line)
        key = re.match(r"^([a-z0-9_]+):", line)
        if key and not any(p.lstrip().startswith("#") for p in paragraph):
            undocumented.append(key.group(1))
    assert undocumented == []


@pytest.mark.parametrize("role", ROLES)
def test_role_layout(role: str) -> None:
    for part in ("defaults/main.yml", "tasks/main.yml", "meta/main.yml"):
        assert (ROOT / "roles" / role / part).is_file(), f"roles/{role}/{part} is missing"


@pytest.mark.parametrize("inventory", ["aio", "multinode"])
@pytest.mark.parametrize("playbook", ["site.yml", "destroy.yml"])
def test_playbooks_parse(inventory: str, playbook: str) -> None:
    run(
        [
            str(VENV_BIN / "ansible-playbook"),
            "-i",
            f"inventories/{inventory}",
            "--syntax-check",
            f"playbooks/{playbook}",
        ]
    )


def _play_hosts(inventory: str, playbook: str) -> dict[str, list[str]]:
    out = run(
        [
            str(VENV_BIN / "ansible-playbook"),
            "-i",
            f"inventories/{inventory}",
            "--list-hosts",
            f"playbooks/{playbook}",
        ]
    ).output
    plays: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        match = re.match(r"\s*play #\d+ \((.*?)\): (.*?)\s+TAGS", line)
        if match:
            current = f"{match.group(1)}: {match.group(2)}"
            plays[current] = []
        elif current and line.startswith("      ") and line.strip():
            plays[current].append(line.strip())
    return plays


@pytest.mark.parametrize("inventory", ["aio", "multinode"])
def test_no_play_connects_to_servers(inventory: str) -> None:
    """Hosts of the servers group are resources: only the resources play (on the Ansible
    controller) reads them, and no play targets them."""
    servers = set(yaml.safe_load((ROOT / "inventories" / inventory / "hosts.yml").read_text())
                  ["all"]["children"]["servers"]["hosts"])  # fmt: skip
    for playbook in ("site.yml", "destroy.yml"):
        for play, hosts in _play_hosts(inventory, playbook).items():
            assert not servers & set(hosts), f"{playbook} play {play} targets {hosts}"
    resources = _play_hosts(inventory, "resources.yml")
    assert list(resources.values()) == [["localhost"]]


def test_multinode_declares_servers_groups_and_flavors() -> None:
    out = run(
        [str(VENV_BIN / "ansible-inventory"), "-i", str(MULTINODE), "--list", "--export"]
    ).output
    data = yaml.safe_load(out)
    hostvars = data["_meta"]["hostvars"]
    servers = data["servers"]["hosts"]
    assert len(servers) >= 3
    assert data["compute"]["hosts"] == ["compute1", "compute2"]
    assert data["control"]["hosts"] == ["controller1"]
    assert data["mariadb"]["hosts"] == ["controller1"]
    group_vars = yaml.safe_load((MULTINODE / "group_vars" / "all.yml").read_text())
    flavors = {f["name"] for f in group_vars["stratus_flavors"]}
    groups = {g["name"]: g["policy"] for g in group_vars["stratus_server_groups"]}
    assert "anti-affinity" in groups.values()
    for name in servers:
        assert hostvars[name]["server_flavor"] in flavors
        assert hostvars[name]["server_image"] in {i["name"] for i in group_vars["stratus_images"]}
        if "server_group" in hostvars[name]:
            assert hostvars[name]["server_group"] in groups
    anti = [n for n in servers if groups.get(hostvars[n].get("server_group")) == "anti-affinity"]
    assert len(anti) >= 2


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The multinode example's stratus.conf, init scripts and units, rendered locally
    from a copy of the inventory (``<render>/inventory``). The passwords are given;
    the metadata secret is not, so it is generated into the copy's credentials/."""
    out = tmp_path_factory.mktemp("render")
    inventory = out / "inventory"
    shutil.copytree(MULTINODE, inventory, ignore=shutil.ignore_patterns("credentials"))
    run(
        [
            str(VENV_BIN / "ansible-playbook"),
            "-i",
            str(inventory),
            "tests/deploy/playbooks/render.yml",
            "-e",
            f"render_dir={out}",
            "-e",
            "stratus_common_rabbitmq_password=rabbit-secret",
            "-e",
            "stratus_common_database_password=db-secret",
        ]
    )
    assert not (MULTINODE / "credentials").exists(), "rendering must not generate secrets"
    assert sorted(p.name for p in (inventory / "credentials").iterdir()) == ["metadata-secret"]
    return out


def _conf(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return parser


def test_compute_config_has_no_database(rendered: Path) -> None:
    for host in ("compute1", "compute2"):
        conf = _conf(rendered / host / "stratus.conf")
        assert not conf.has_section("database")
        text = (rendered / host / "stratus.conf").read_text()
        assert "db-secret" not in text and "mysql" not in text and "sqlite" not in text
        assert conf["DEFAULT"]["transport_url"] == (
            "rabbit://stratus:rabbit-secret@192.0.2.10:5672/stratus"
        )
        assert conf["DEFAULT"]["host"] == host
        assert conf.has_section("libvirt") and not conf.has_section("api")
    assert _conf(rendered / "compute2" / "stratus.conf")["libvirt"]["virt_type"] == "kvm"
    assert _conf(rendered / "compute1" / "stratus.conf")["libvirt"]["virt_type"] == "auto"


def test_controller_config(rendered: Path) -> None:
    conf = _conf(rendered / "controller1" / "stratus.conf")
    assert conf["database"]["connection"] == (
        "mysql+pymysql://stratus:db-secret@192.0.2.10/stratus?charset=utf8mb4"
    )
    assert conf["api"]["public_url"] == "http://192.0.2.10:8774"
    assert not conf.has_section("compute") and not conf.has_section("libvirt")
    # stratus_common_config_overrides from the inventory
    assert conf["filter_scheduler"]["ram_weight_multiplier"] == "-1.0"


def test_metadata_service_and_proxies_share_the_secret(rendered: Path) -> None:
    """The controller runs stratus-metadata on its management address, port 8775; as
    the network host, its agent's proxies reach that address and sign with the same
    secret: the one generated into the inventory's credentials/ (0600, in a 0700
    directory). Compute hosts (no DHCP, no proxy) never get the secret."""
    secret_file = rendered / "inventory" / "credentials" / "metadata-secret"
    secret = secret_file.read_text().strip()
    assert len(secret) >= 32 and secret.isalnum()
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret_file.parent.stat().st_mode) == 0o700
    controller = _conf(rendered / "controller1" / "stratus.conf")
    metadata = {k: v for k, v in controller["metadata"].items() if k not in controller.defaults()}
    assert metadata == {
        "bind_host": "192.0.2.10",
        "bind_port": "8775",
        "shared_secret": secret,
        "metadata_url": "http://192.0.2.10:8775",
    }
    for host in ("compute1", "compute2"):
        conf = _conf(rendered / host / "stratus.conf")
        assert not conf.has_section("metadata")
        assert secret not in (rendered / host / "stratus.conf").read_text()
    unit = (rendered / "controller1" / "stratus-metadata.service").read_text()
    assert "User=stratus\n" in unit and "UMask=0027\n" in unit
    assert (
        "ExecStart=/opt/stratus/bin/stratus-metadata --config-file /etc/stratus/stratus.conf\n"
        in unit
    )
    init = (rendered / "controller1" / "stratus-metadata.init").read_text()
    assert "DAEMON=/opt/stratus/bin/stratus-metadata\n" in init and "RUN_AS=stratus\n" in init
    role = ROOT / "roles" / "stratus_control" / "defaults" / "main.yml"
    assert "stratus-metadata" in yaml.safe_load(role.read_text())["stratus_control_service_names"]
    assert 'stratus-metadata = "stratus.cmd.metadata:main"' in (ROOT / "pyproject.toml").read_text()


def test_init_scripts_are_valid_shell(rendered: Path) -> None:
    scripts = sorted(rendered.glob("*/*.init"))
    assert scripts
    for script in scripts:
        subprocess.run(["sh", "-n", str(script)], check=True)
        text = script.read_text()
        assert "### BEGIN INIT INFO" in text and "start-stop-daemon" in text
    compute = (rendered / "compute1" / "stratus-compute.init").read_text()
    # Every service runs as stratus with umask 0027 (start-stop-daemon's --chuid
    # also sets the groups that stratus_compute puts the user in).
    for text in (compute, (rendered / "controller1" / "stratus-api.init").read_text()):
        assert "RUN_AS=stratus" in text and "UMASK=0027" in text
        assert '--chuid "$RUN_AS" --umask "$UMASK"' in text


def test_compute_runs_unprivileged_with_a_privsep_helper(rendered: Path) -> None:
    unit = (rendered / "compute1" / "stratus-compute.service").read_text()
    assert "User=stratus\n" in unit and "UMask=0027\n" in unit
    assert "SupplementaryGroups=libvirt kvm\n" in unit
    helper = _conf(rendered / "compute1" / "stratus.conf")["stratus_sys_admin"]["helper_command"]
    assert helper == "sudo /opt/stratus/bin/privsep-helper --config-file /etc/stratus/stratus.conf"
    # The controller is the network host: its network agent starts the same helper.
    controller = _conf(rendered / "controller1" / "stratus.conf")
    assert controller["stratus_sys_admin"]["helper_command"] == helper
    assert controller["network"]["dhcp_agent"] == "true"
    assert _conf(rendered / "compute1" / "stratus.conf")["network"]["dhcp_agent"] == "false"
    sudoers = rendered / "compute1" / "sudoers"
    rule = [line for line in sudoers.read_text().splitlines() if not line.startswith("#")]
    assert rule == [
        "stratus ALL=(root) NOPASSWD: /opt/stratus/bin/privsep-helper ^--config-file "
        "/etc/stratus/stratus[.]conf --privsep_context stratus[.]privsep[.]sys_admin_pctxt "
        "--privsep_sock_path /tmp/tmp[a-z0-9_]+/privsep[.]sock$"
    ]
    if shutil.which("visudo"):
        subprocess.run(["visudo", "-cf", str(sudoers)], check=True, capture_output=True)


def test_broker_binds_amqp_to_the_management_address_and_erlang_to_loopback(
    rendered: Path,
) -> None:
    conf = (rendered / "controller1" / "rabbitmq.conf").read_text()
    assert "listeners.tcp.default = 192.0.2.10:5672\n" in conf
    assert "listeners.tcp.loopback = 127.0.0.1:5672\n" in conf
    env = (rendered / "controller1" / "rabbitmq-env.conf").read_text()
    assert "NODENAME=rabbit@localhost\n" in env
    assert "export ERL_EPMD_ADDRESS=127.0.0.1\n" in env
    assert "-kernel inet_dist_use_interface {127,0,0,1}" in env


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_units_are_valid(rendered: Path) -> None:
    for unit in sorted(rendered.glob("controller1/*.service")):
        result = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
        )
        problems = [
            line
            for line in result.stderr.splitlines()
            if re.search(r"Unknown (key|section)|Invalid|Failed to parse", line)
        ]
        assert problems == [], f"{unit.name}: {problems}"


def _tasks(path: Path) -> list[dict]:
    """The tasks of a task file, with those inside blocks."""
    found = []
    for task in yaml.safe_load(path.read_text()) or []:
        found.append(task)
        found.extend(task.get("block", []))
    return found


def test_stratus_manage_is_linked_into_the_path_and_destroyed() -> None:
    """The control role links the venv's stratus-manage into /usr/local/bin (as
    Debian's packages put nova-manage on the PATH), and destroy removes the link."""
    role = ROOT / "roles" / "stratus_control"
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text())
    assert defaults["stratus_control_manage_link"] == "/usr/local/bin/stratus-manage"
    links = [
        t["ansible.builtin.file"]
        for t in _tasks(role / "tasks" / "main.yml")
        if t.get("ansible.builtin.file", {}).get("state") == "link"
    ]
    assert [(link["src"], link["dest"]) for link in links] == [
        ("{{ stratus_common_prefix }}/bin/stratus-manage", "{{ stratus_control_manage_link }}")
    ]
    removed = [
        t["ansible.builtin.file"]["path"]
        for t in _tasks(role / "tasks" / "destroy.yml")
        if t.get("ansible.builtin.file", {}).get("state") == "absent"
    ]
    assert "{{ stratus_control_manage_link }}" in removed
    # The link's target is the console script that pyproject.toml declares.
    assert 'stratus-manage = "stratus.cmd.manage:main"' in (ROOT / "pyproject.toml").read_text()
