"""The metadata proxy: who a source address is (from the agent's desired state
only), the headers it forwards, and the proxy itself serving real HTTP on the
loopback in front of a real recording upstream (a stdlib HTTP server standing in
for stratus-metadata, which needs a database; the integration test runs the real
one). The DHCP option that routes guests to it, and the agent's settings."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from oslo_config import cfg

from stratus import conf as stratus_conf
from stratus.metadata import service
from stratus.network.agent import AgentConfig
from stratus.network.linux import dhcp, metadata_proxy
from tests.support.ports import free_port

SECRET = "s3cret"
VM_A = "11111111-1111-1111-1111-111111111111"
VM_B = "22222222-2222-2222-2222-222222222222"


def _network(subnet_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": "net-1",
        "subnets": [
            {
                "id": "sub-4",
                "cidr": "10.0.0.0/24",
                "ip_version": 4,
                "gateway_ip": "10.0.0.1",
                "dns_nameservers": [],
                "host_routes": [],
                "enable_dhcp": True,
                **(subnet_extra or {}),
            },
            {
                "id": "sub-6",
                "cidr": "fd00::/64",
                "ip_version": 6,
                "gateway_ip": None,
                "enable_dhcp": True,
                "ipv6_address_mode": "dhcpv6-stateful",
            },
        ],
        "ports": [
            {
                "id": "p-dhcp",
                "device_owner": "network:dhcp",
                "device_id": "dhcp-host",
                "project_id": "proj-a",
                "fixed_ips": [
                    {"subnet_id": "sub-4", "ip_address": "10.0.0.2"},
                    {"subnet_id": "sub-6", "ip_address": "fd00::2"},
                ],
            },
            {
                "id": "p-a",
                "device_owner": "compute:nova",
                "device_id": VM_A,
                "project_id": "proj-a",
                "fixed_ips": [
                    {"subnet_id": "sub-4", "ip_address": "10.0.0.10"},
                    {"subnet_id": "sub-6", "ip_address": "fd00::10"},
                ],
            },
            {
                "id": "p-b",
                "device_owner": "compute:nova",
                "device_id": VM_B,
                "project_id": "proj-b",
                "fixed_ips": [{"subnet_id": "sub-4", "ip_address": "10.0.0.11"}],
            },
            {  # a free port: no instance
                "id": "p-free",
                "device_owner": "",
                "device_id": "",
                "project_id": "proj-a",
                "fixed_ips": [{"subnet_id": "sub-4", "ip_address": "10.0.0.12"}],
            },
            {  # a router's port owns an address but is no instance
                "id": "p-router",
                "device_owner": "network:router_interface",
                "device_id": "router-1",
                "project_id": "proj-a",
                "fixed_ips": [{"subnet_id": "sub-4", "ip_address": "10.0.0.1"}],
            },
        ],
    }


# --- mapping and headers ---------------------------------------------------------


def test_map_has_exactly_the_instance_ports_addresses() -> None:
    assert metadata_proxy.instance_map(_network()) == {
        "10.0.0.10": {"instance_id": VM_A, "project_id": "proj-a"},
        "fd00::10": {"instance_id": VM_A, "project_id": "proj-a"},
        "10.0.0.11": {"instance_id": VM_B, "project_id": "proj-b"},
    }


def test_config_document_carries_url_secret_and_map() -> None:
    doc = json.loads(metadata_proxy.config_document(_network(), "http://md:8775", SECRET))
    assert doc["metadata_url"] == "http://md:8775"
    assert doc["shared_secret"] == SECRET
    assert doc["instances"]["10.0.0.11"]["instance_id"] == VM_B


def test_signature_and_header_names_are_the_services() -> None:
    assert metadata_proxy.sign(VM_A, SECRET) == service.sign(VM_A, SECRET)
    assert service.signature_valid(VM_A, metadata_proxy.sign(VM_A, SECRET), SECRET)
    assert (
        metadata_proxy.INSTANCE_HEADER,
        metadata_proxy.SIGNATURE_HEADER,
        metadata_proxy.TENANT_HEADER,
    ) == (service.INSTANCE_HEADER, service.SIGNATURE_HEADER, service.TENANT_HEADER)


def test_forged_identity_headers_are_replaced_in_any_case() -> None:
    incoming = {
        "x-instance-id": VM_B,
        "X-INSTANCE-ID-SIGNATURE": "forged",
        "X-Tenant-ID": "proj-b",
        "X-Forwarded-For": "10.0.0.11",
        "Host": "169.254.169.254",
        "Connection": "close",
        "Accept": "application/json",
        "User-Agent": "Wget",
    }
    identity = {"instance_id": VM_A, "project_id": "proj-a"}
    out = metadata_proxy.upstream_headers(incoming, "10.0.0.10", identity, SECRET)
    assert out == {
        "Accept": "application/json",
        "User-Agent": "Wget",
        "X-Forwarded-For": "10.0.0.10",
        "X-Instance-ID": VM_A,
        "X-Instance-ID-Signature": service.sign(VM_A, SECRET),
        "X-Tenant-ID": "proj-a",
    }


# --- the proxy over real HTTP ----------------------------------------------------------


class RecordingUpstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn
    seen: list[dict[str, Any]] = []
    status = 200

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        type(self).seen.append(
            {
                "method": self.command,
                "peer": self.client_address,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
        )
        reply = json.dumps({"uuid": self.headers.get("X-Instance-ID")}).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = _answer  # noqa: N815


def _serve(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def upstream() -> Iterator[tuple[str, type[RecordingUpstream]]]:
    handler = type("Recorder", (RecordingUpstream,), {"seen": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    _serve(server)
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def _write_map(path: Path, url: str, instances: dict[str, Any], secret: str = SECRET) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps({"metadata_url": url, "shared_secret": secret, "instances": instances})
    )
    tmp.replace(path)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    config = tmp_path / metadata_proxy.CONFIG_NAME
    server = metadata_proxy.make_server(str(config), "127.0.0.1", free_port())
    _serve(server)
    yield f"http://127.0.0.1:{server.server_address[1]}", config
    server.shutdown()
    server.server_close()


def _get(url: str, headers: dict[str, str] | None = None, data: bytes | None = None) -> Any:
    request = urllib.request.Request(url, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read(), answer.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def test_proxy_forwards_with_the_source_addresses_identity(upstream, proxy) -> None:
    up_url, recorder = upstream
    url, config = proxy
    _write_map(config, up_url, {"127.0.0.1": {"instance_id": VM_A, "project_id": "proj-a"}})
    # A guest claiming an identity (even a correctly signed one) is refused.
    for claim in (
        {"X-Instance-ID": VM_B, "X-Instance-ID-Signature": service.sign(VM_B, SECRET)},
        {"x-tenant-id": "proj-b"},
        {"X-Instance-ID-Signature": "forged"},
    ):
        status, body, _ = _get(f"{url}/openstack/latest/meta_data.json", claim)
        assert status == 403 and VM_B.encode() not in body
    assert recorder.seen == []
    status, body, headers = _get(
        f"{url}/openstack/latest/meta_data.json?x=1", {"X-Forwarded-For": "10.9.9.9"}
    )
    assert (status, json.loads(body)) == (200, {"uuid": VM_A})
    assert headers["Content-Type"] == "application/json"
    (seen,) = recorder.seen
    assert seen["path"] == "/openstack/latest/meta_data.json?x=1"
    assert seen["headers"]["x-instance-id"] == VM_A
    assert seen["headers"]["x-instance-id-signature"] == service.sign(VM_A, SECRET)
    assert seen["headers"]["x-tenant-id"] == "proj-a"
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
    # A body (the password POST) goes along.
    status, _, _ = _get(f"{url}/openstack/latest/password", data=b"secret-pw")
    assert status == 200 and recorder.seen[-1]["body"] == b"secret-pw"
    assert recorder.seen[-1]["method"] == "POST"


def test_connections_are_kept_alive_both_ways(upstream, proxy) -> None:
    up_url, recorder = upstream
    url, config = proxy
    _write_map(config, up_url, {"127.0.0.1": {"instance_id": VM_A, "project_id": "proj-a"}})
    guest = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=5)
    try:
        for _ in range(3):
            guest.request("GET", "/openstack/latest/meta_data.json")
            answer = guest.getresponse()
            assert (answer.status, json.loads(answer.read())) == (200, {"uuid": VM_A})
            assert answer.getheader("Connection") != "close"
    finally:
        guest.close()
    # One guest connection, and one connection to the service for all three.
    assert len(recorder.seen) == 3 and len({seen["peer"] for seen in recorder.seen}) == 1


def test_unknown_source_is_404_and_map_changes_are_picked_up(upstream, proxy) -> None:
    up_url, recorder = upstream
    url, config = proxy
    _write_map(config, up_url, {"10.0.0.10": {"instance_id": VM_A, "project_id": "proj-a"}})
    status, _, _ = _get(f"{url}/openstack", {"X-Instance-ID": VM_A})
    assert status == 404 and recorder.seen == []
    _write_map(config, up_url, {"127.0.0.1": {"instance_id": VM_B, "project_id": "proj-b"}})
    status, body, _ = _get(f"{url}/openstack")
    assert (status, json.loads(body)) == (200, {"uuid": VM_B})
    assert _get(f"{url}/openstack", {"Content-Length": "x"})[0] == 400
    config.unlink()  # the network lost its proxy file: nobody is known
    assert _get(f"{url}/openstack")[0] == 404


def test_upstream_errors_are_relayed_and_an_unreachable_one_is_502(upstream, proxy) -> None:
    up_url, recorder = upstream
    url, config = proxy
    recorder.status = 403
    _write_map(config, up_url, {"127.0.0.1": {"instance_id": VM_A, "project_id": "proj-a"}})
    assert _get(f"{url}/openstack")[0] == 403
    _write_map(
        config,
        f"http://127.0.0.1:{free_port()}",
        {"127.0.0.1": {"instance_id": VM_A, "project_id": "proj-a"}},
    )
    assert _get(f"{url}/openstack")[0] == 502


# --- DHCP: the route to the proxy ------------------------------------------------------


def _routes(opts: str) -> list[str]:
    return [line for line in opts.splitlines() if "classless-static-route" in line]


def test_opts_route_metadata_through_the_dhcp_port() -> None:
    network = _network()
    port = dhcp.dhcp_port(network)
    assert _routes(dhcp.opts_file(network, metadata_port=port)) == [
        "tag:subnet-sub-4,option:classless-static-route,"
        "169.254.169.254/32,10.0.0.2,0.0.0.0/0,10.0.0.1"
    ]
    assert _routes(dhcp.opts_file(network)) == []


def test_opts_metadata_route_without_gateway_and_with_host_routes() -> None:
    port = dhcp.dhcp_port(_network())
    no_gateway = _network({"gateway_ip": None})
    assert _routes(dhcp.opts_file(no_gateway, metadata_port=port)) == [
        "tag:subnet-sub-4,option:classless-static-route,169.254.169.254/32,10.0.0.2"
    ]
    routed = _network({"host_routes": [{"destination": "192.0.2.0/24", "nexthop": "10.0.0.5"}]})
    assert _routes(dhcp.opts_file(routed, metadata_port=port)) == [
        "tag:subnet-sub-4,option:classless-static-route,"
        "169.254.169.254/32,10.0.0.2,192.0.2.0/24,10.0.0.5,0.0.0.0/0,10.0.0.1"
    ]
    # A subnet's own route to the address wins.
    own = _network({"host_routes": [{"destination": "169.254.169.254/32", "nexthop": "10.0.0.9"}]})
    assert "169.254.169.254/32,10.0.0.9" in _routes(dhcp.opts_file(own, metadata_port=port))[0]
    assert "10.0.0.2" not in _routes(dhcp.opts_file(own, metadata_port=port))[0]


# --- settings ----------------------------------------------------------------------------


def _conf(**metadata: object) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    stratus_conf.register_opts(conf)
    conf([], project="stratus", default_config_files=[])
    for name, value in metadata.items():
        conf.set_override(name, value, group="metadata")
    return conf


def test_proxy_runs_only_with_url_and_secret() -> None:
    assert not AgentConfig.from_conf(_conf()).metadata_proxy
    assert not AgentConfig.from_conf(_conf(metadata_url="http://md:8775")).metadata_proxy
    assert not AgentConfig.from_conf(_conf(shared_secret=SECRET)).metadata_proxy
    config = AgentConfig.from_conf(_conf(metadata_url="http://md:8775", shared_secret=SECRET))
    assert config.metadata_proxy
    assert (config.metadata_url, config.metadata_secret) == ("http://md:8775", SECRET)
