"""A real Stratus control plane for tests: config file, schema, keys, bootstrap,
and ``stratus-api`` as a process on a free port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
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
