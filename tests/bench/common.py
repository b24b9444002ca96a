"""What the boot and network benchmarks share: a cheap keep-alive API client, a
client that boots servers and waits for them, the flavor and image they boot, and
percentiles."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Protocol

from tests.support.cloud import Cloud

ROOT = Path(__file__).resolve().parents[2]
COMPUTE = "/compute/v2.1"
NETWORK = "/networking/v2.0"
MICROVERSION = {"OpenStack-API-Version": "compute 2.100"}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


class ApiClient:
    """A small keep-alive HTTP client for one API (http.client; the compute API
    unless ``service`` says otherwise): the benchmark's own requests share the two
    cores with the cloud, and with httpx they cost about five times as much CPU
    (3.1 instead of 0.6 ms per boot)."""

    def __init__(self, url: str, token: str, service: str = COMPUTE) -> None:
        parts = urllib.parse.urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.prefix = f"{parts.path.rstrip('/')}{service}"
        self.headers = {
            "X-Auth-Token": token,
            "Content-Type": "application/json",
            **MICROVERSION,
        }

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        payload = json.dumps(body) if body is not None else None
        try:
            self.connection.request(method, self.prefix + path, payload, self.headers)
            response = self.connection.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closed the idle keep-alive connection: open a new one.
            self.connection.close()
            self.connection.request(method, self.prefix + path, payload, self.headers)
            response = self.connection.getresponse()
        data = response.read()
        if response.status >= 400 and response.status != 404:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
        return response.status, json.loads(data) if data else None


class StatusSource(Protocol):
    def wait(self, server_id: str) -> str: ...


class Booter:
    def __init__(self, cloud: Cloud, image_id: str, flavor_id: str) -> None:
        self.cloud, self.image_id, self.flavor_id = cloud, image_id, flavor_id
        self.token = cloud.token()
        self.local = threading.local()
        self.last_post = 0.0  # seconds of the last boot's POST /servers (one thread)

    def client(self) -> ApiClient:
        if not hasattr(self.local, "client"):
            self.local.client = ApiClient(self.cloud.url, self.token)
        return self.local.client

    def boot(
        self,
        name: str,
        poll: float = 0.01,
        watcher: StatusSource | None = None,
        networks: str | list[dict[str, str]] = "none",
        security_groups: list[str] | None = None,
    ) -> tuple[str, float]:
        """Create a server on ``networks`` (its ports in ``security_groups``, names,
        if given) and wait until it is ACTIVE, polling it every ``poll`` seconds or
        learning it from ``watcher``; returns (id, seconds)."""
        client = self.client()
        server: dict[str, Any] = {
            "name": name,
            "imageRef": self.image_id,
            "flavorRef": self.flavor_id,
            "networks": networks,
        }
        if security_groups is not None:
            server["security_groups"] = [{"name": group} for group in security_groups]
        started = time.perf_counter()
        _, created = client.request("POST", "/servers", {"server": server})
        self.last_post = time.perf_counter() - started
        server_id = created["server"]["id"]
        if watcher is not None:
            if watcher.wait(server_id) != "ACTIVE":
                raise RuntimeError(f"{name} went to ERROR")
            return server_id, time.perf_counter() - started
        while True:
            status = client.request("GET", f"/servers/{server_id}")[1]["server"]["status"]
            if status == "ACTIVE":
                return server_id, time.perf_counter() - started
            if status == "ERROR":
                raise RuntimeError(f"{name} went to ERROR")
            time.sleep(poll)

    def delete(self, server_id: str) -> None:
        client = self.client()
        client.request("DELETE", f"/servers/{server_id}")
        while client.request("GET", f"/servers/{server_id}")[0] != 404:
            time.sleep(0.05)


def prepare(cloud: Cloud, vcpus: int) -> Booter:
    """Unlimited compute quotas, a 128 MiB flavor and the tiny image uploaded."""
    images = ROOT / "tests/images/cache"
    cloud.openstack("quota", "set", "--instances", "-1", "--cores", "-1", "--ram", "-1", "admin")
    flavor = cloud.openstack_json(
        "flavor", "create", "--ram", "128", "--disk", "1", "--vcpus", str(vcpus), "bench"
    )
    image = cloud.openstack_json(
        "image",
        "create",
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--file",
        str(images / "tiny.qcow2"),
        "tiny",
    )
    return Booter(cloud, image["id"], flavor["id"])
