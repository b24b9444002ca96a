"""A real Stratus control plane for tests: config file, schema, keys, bootstrap,
and ``stratus-api`` as a process on a free port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, entry_point_command

ADMIN_PASSWORD = "admin-secret"
VENV_BIN = Path(sys.executable).parent


class ControlPlane:
    """``stratus-api`` on ``db_url``, bootstrapped with an admin user and the catalog."""

    def __init__(
        self,
        db_url: str | None = None,
        workdir: str | None = None,
        extra_conf: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="stratus-cloud-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        # QEMU runs as its own user and must reach the instance files below.
        self.workdir.chmod(0o755)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_url = db_url or f"sqlite:///{self.workdir}/stratus.sqlite"
        self.conf_path = self.workdir / "stratus.conf"
        self.sections: dict[str, dict[str, Any]] = {
            "DEFAULT": {"state_path": self.workdir, "log_dir": self.workdir / "log"},
            "database": {"connection": self.db_url},
            "api": {"bind_host": "127.0.0.1", "bind_port": self.port, "public_url": self.url},
            # The cheapest bcrypt cost keeps the many logins of the tests fast.
            "identity": {"password_hash_rounds": 4},
        }
        for section, values in (extra_conf or {}).items():
            self.sections.setdefault(section, {}).update(values)
        self.api: ServiceProcess | None = None

    def write_conf(self) -> None:
        lines = []
        for section, values in self.sections.items():
            lines.append(f"[{section}]")
            lines += [f"{key} = {value}" for key, value in values.items()]
        self.conf_path.write_text("\n".join(lines) + "\n")

    def manage(self, *args: str) -> str:
        command = [
            *entry_point_command("stratus-manage"),
            "--config-file",
            str(self.conf_path),
            *args,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"stratus-manage {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def start(self) -> ControlPlane:
        self.write_conf()
        self.manage("db", "sync")
        self.manage("fernet", "setup")
        self.manage(
            "bootstrap", "--bootstrap-password", ADMIN_PASSWORD, "--bootstrap-public-url", self.url
        )
        self.api = ServiceProcess.entry_point(
            "stratus-api", ["--config-file", str(self.conf_path)], log_dir=self.workdir / "log"
        )
        self.api.start()
        self.api.wait_for(self._healthy, timeout=60, description="stratus-api /healthcheck")
        return self

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthcheck", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.api is not None:
            self.api.stop()

    # --- clients --------------------------------------------------------------------

    def os_env(
        self, user: str = "admin", password: str = ADMIN_PASSWORD, project: str = "admin"
    ) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update(
            OS_AUTH_URL=f"{self.url}/identity/v3",
            OS_USERNAME=user,
            OS_PASSWORD=password,
            OS_PROJECT_NAME=project,
            OS_USER_DOMAIN_NAME="Default",
            OS_PROJECT_DOMAIN_NAME="Default",
            OS_IDENTITY_API_VERSION="3",
            OS_INTERFACE="public",
        )
        return env

    def openstack(
        self,
        *args: str,
        user: str = "admin",
        password: str = ADMIN_PASSWORD,
        project: str = "admin",
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real ``openstack`` CLI; ``check`` raises with its stderr on failure."""
        done = subprocess.run(
            [str(VENV_BIN / "openstack"), *args],
            capture_output=True,
            text=True,
            env=self.os_env(user, password, project),
            timeout=timeout,
        )
        if check and done.returncode:
            raise AssertionError(
                f"openstack {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stderr}\n{done.stdout}"
            )
        return done

    def openstack_json(self, *args: str, **kwargs: Any) -> Any:
        return json.loads(self.openstack(*args, "-f", "json", **kwargs).stdout)

    def token(
        self, user: str = "admin", password: str = ADMIN_PASSWORD, project: str = "admin"
    ) -> str:
        response = httpx.post(
            f"{self.url}/identity/v3/auth/tokens",
            json={
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {
                            "user": {
                                "name": user,
                                "domain": {"name": "Default"},
                                "password": password,
                            }
                        },
                    },
                    "scope": {"project": {"name": project, "domain": {"name": "Default"}}},
                }
            },
        )
        response.raise_for_status()
        return response.headers["X-Subject-Token"]

    def client(self, token: str | None = None, microversion: str | None = None) -> httpx.Client:
        headers = {"X-Auth-Token": token or self.token()}
        if microversion:
            headers["OpenStack-API-Version"] = f"compute {microversion}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


class Cloud(ControlPlane):
    """A whole cloud: the control plane plus stratus-scheduler, stratus-conductor and
    compute services as processes, over a real RabbitMQ broker."""

    def __init__(
        self,
        transport_url: str,
        db_url: str | None = None,
        workdir: str | None = None,
        extra_conf: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        timing = {
            "DEFAULT": {
                "transport_url": transport_url,
                "report_interval": 1,
                "service_down_time": 6,
            },
            "scheduler": {"host_refresh_interval": 0.5},
        }
        for section, values in (extra_conf or {}).items():
            timing.setdefault(section, {}).update(values)
        super().__init__(db_url, workdir, timing)
        self.transport_url = transport_url
        self.services: dict[str, ServiceProcess] = {}
        self.compute_confs: dict[str, Path] = {}

    def start(self) -> Cloud:
        super().start()
        for binary in ("stratus-scheduler", "stratus-conductor"):
            self._spawn(binary, binary, self.conf_path)
        for binary in ("stratus-scheduler", "stratus-conductor"):
            self.wait_for_service(binary, self.services[binary], None)
        return self

    def _spawn(self, name: str, binary: str, conf: Path) -> ServiceProcess:
        process = ServiceProcess(
            entry_point_command(binary),
            ["--config-file", str(conf)],
            name=name,
            log_dir=self.workdir / "log",
        )
        # A restarted service appends to its log: remember where this run starts.
        earlier = self.workdir / "log" / f"{name}.log"
        process.log_start = len(earlier.read_text(errors="replace")) if earlier.exists() else 0
        process.start()
        self.services[name] = process
        return process

    def compute_conf(
        self, host: str, driver: str = "libvirt", extra: dict[str, dict[str, Any]] | None = None
    ) -> Path:
        """A compute host's config: RabbitMQ only, no database section at all."""
        state = self.workdir / host
        sections: dict[str, dict[str, Any]] = {
            "DEFAULT": {
                "host": host,
                "state_path": state,
                "log_dir": self.workdir / "log",
                "transport_url": self.transport_url,
                "report_interval": 1,
                "service_down_time": 6,
            },
            "compute": {
                "compute_driver": driver,
                "instances_path": state / "instances",
                "sync_power_state_interval": 2,
                "resource_update_interval": 5,
            },
            "libvirt": {"virt_type": "qemu"},
        }
        for section, values in (extra or {}).items():
            sections.setdefault(section, {}).update(values)
        path = self.workdir / f"compute-{host}.conf"
        path.write_text(
            "".join(
                f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
                for name, values in sections.items()
            )
        )
        self.compute_confs[host] = path
        return path

    def add_compute(
        self, host: str, driver: str = "libvirt", extra: dict[str, dict[str, Any]] | None = None
    ) -> ServiceProcess:
        process = self._spawn(
            f"compute-{host}", "stratus-compute", self.compute_conf(host, driver, extra)
        )
        self.wait_for_service("stratus-compute", process, host)
        return process

    def restart_compute(self, host: str) -> ServiceProcess:
        process = self._spawn(f"compute-{host}", "stratus-compute", self.compute_confs[host])
        self.wait_for_service("stratus-compute", process, host)
        return process

    def add_network_agent(
        self,
        host: str,
        network: dict[str, Any] | None = None,
        extra: dict[str, dict[str, Any]] | None = None,
    ) -> ServiceProcess:
        """Start ``stratus-network-agent`` for ``host`` (no database section), with the
        ``[network]`` options in ``network`` (dhcp_agent, local_ip, mappings...) and
        other sections in ``extra`` (``[metadata]`` for its metadata proxies)."""
        state = self.workdir / host
        sections: dict[str, dict[str, Any]] = {
            "DEFAULT": {
                "host": host,
                "state_path": state,
                "log_dir": self.workdir / "log",
                "transport_url": self.transport_url,
                "report_interval": 1,
                "service_down_time": 6,
            },
            "network": {"state_path": state / "network", **(network or {})},
        }
        for section, values in (extra or {}).items():
            sections.setdefault(section, {}).update(values)
        path = self.workdir / f"network-agent-{host}.conf"
        path.write_text(
            "".join(
                f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
                for name, values in sections.items()
            )
        )
        process = self._spawn(f"network-agent-{host}", "stratus-network-agent", path)
        self.wait_for_service("stratus-network-agent", process, host)
        return process

    def add_metadata(self, shared_secret: str) -> str:
        """Start ``stratus-metadata`` on the control plane's database and a free
        loopback port, accepting proxies that sign with ``shared_secret``; its URL."""
        port = free_port()
        sections = {
            **self.sections,
            "metadata": {
                **self.sections.get("metadata", {}),
                "bind_host": "127.0.0.1",
                "bind_port": port,
                "shared_secret": shared_secret,
            },
        }
        path = self.workdir / "metadata.conf"
        path.write_text(
            "".join(
                f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
                for name, values in sections.items()
            )
        )
        process = self._spawn("stratus-metadata", "stratus-metadata", path)
        url = f"http://127.0.0.1:{port}"

        def answers() -> bool:  # unsigned: a 400, once it listens
            try:
                return httpx.get(url, timeout=1).status_code == 400
            except httpx.HTTPError:
                return False

        process.wait_for(answers, timeout=60, description="stratus-metadata answers")
        return url

    def wait_for_service(self, binary: str, process: ServiceProcess, host: str | None) -> None:
        """Wait until the service is up in the API and serving: a compute service
        registers before it reports its node, which the scheduler needs."""

        def registered() -> bool:
            log = process.read_log()[getattr(process, "log_start", 0) :]
            if " listening on topic " not in log:
                return False
            with self.client() as admin:
                services = admin.get("/compute/v2.1/os-services", params={"binary": binary}).json()[
                    "services"
                ]
            return any(s["state"] == "up" and host in (None, s["host"]) for s in services)

        process.wait_for(registered, timeout=90, description=f"{binary} on {host} is up")

    def remove_networks(self, vnis: range) -> None:
        """Delete what is left of the networks (servers first) and wait until the
        cloud's network agent removed their bridges and the VXLAN devices of the
        cloud's VNIs: nothing of the data plane outlives the cloud."""
        from stratus.network.linux import names

        with self.client() as admin:
            for server in admin.get("/compute/v2.1/servers").json()["servers"]:
                admin.delete(f"/compute/v2.1/servers/{server['id']}")
            deadline = time.monotonic() + 60
            while admin.get("/compute/v2.1/servers").json()["servers"]:
                assert time.monotonic() < deadline, "servers left at teardown"
                time.sleep(0.5)
            networks = admin.get("/networking/v2.0/networks").json()["networks"]
            for port in admin.get("/networking/v2.0/ports").json()["ports"]:
                if port["device_owner"] != "network:dhcp":
                    admin.delete(f"/networking/v2.0/ports/{port['id']}")
            for network in networks:
                admin.delete(f"/networking/v2.0/networks/{network['id']}")
        deadline = time.monotonic() + 30
        devices = [names.bridge_name(n["id"]) for n in networks]
        devices += [names.vxlan_name(vni) for vni in vnis]
        for device in devices:
            while (Path("/sys/class/net") / device).exists():
                assert time.monotonic() < deadline, f"{device} left at teardown"
                time.sleep(0.2)

    def stop(self) -> None:
        for process in self.services.values():
            process.stop()
        super().stop()
