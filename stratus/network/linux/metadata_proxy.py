"""The metadata proxy of one network: 169.254.169.254:80 inside the network's DHCP
namespace, forwarding guests' requests to the metadata service with their identity.

One small process per DHCP namespace (the standard library only: a
``ThreadingHTTPServer`` and ``urllib``), started by the network agent through a
privsep entry point and supervised like dnsmasq (a pid file in the network's
state directory; the agent restarts it when it is gone and stops it with the
namespace). It enters the namespace only to bind its listening socket there and
returns to the host's namespace before serving: guests reach it on
169.254.169.254:80 in their network alone, while its requests to the metadata
service leave from the host, over the management network, as the agent's own do
(the namespace has no route there; Neutron crosses the same boundary with a unix
socket). Then it drops root for the agent's user. A process per namespace keeps
the caller's source address unambiguous (one network's addresses), and a crash
affects one network.

Who asks is decided by the source address alone, looked up in the proxy's file
(``metadata_proxy.json`` in the network's state directory, 0600), which the agent
writes from its desired state: the fixed addresses of the network's instance
ports (``device_owner`` ``compute:*``) with their ``device_id`` (the instance)
and ``project_id``, the metadata service's URL and the shared secret. The proxy
re-reads it whenever it changed (checked on each request, by inode, size and
mtime), so port changes need no signal. A request from an address that no port
owns gets a 404. Identity headers the guest sends (``X-Instance-ID``,
``X-Tenant-ID``, the signature, ``X-Forwarded-For``) are dropped and replaced by
the proxy's own, so a guest can never claim another instance.

The service accepts a request when ``X-Instance-ID-Signature`` is the hex
HMAC-SHA256 of ``X-Instance-ID`` under ``[metadata] shared_secret``
(stratus.metadata.service).
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import hmac
import json
import logging
import os
import pwd
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOG = logging.getLogger(__name__)

METADATA_ADDRESS = "169.254.169.254"
METADATA_CIDR = f"{METADATA_ADDRESS}/32"
METADATA_PORT = 80
CONFIG_NAME = "metadata_proxy.json"
PID_NAME = "metadata_proxy.pid"
MODULE = __name__

INSTANCE_HEADER = "X-Instance-ID"
SIGNATURE_HEADER = "X-Instance-ID-Signature"
TENANT_HEADER = "X-Tenant-ID"
FORWARDED_HEADER = "X-Forwarded-For"
# Never passed on from the guest: identity (set by the proxy alone), and hop-by-hop.
DROPPED_HEADERS = frozenset(
    h.lower()
    for h in (
        INSTANCE_HEADER,
        SIGNATURE_HEADER,
        TENANT_HEADER,
        FORWARDED_HEADER,
        "Host",
        "Connection",
        "Keep-Alive",
        "Proxy-Connection",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Content-Length",
    )
)
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"
UPSTREAM_TIMEOUT = 10.0
MAX_BODY = 256 * 1024


def sign(instance_id: str, secret: str) -> str:
    """The signature the metadata service expects with ``instance_id``."""
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


def instance_map(network: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Fixed address -> {"instance_id", "project_id"} of the network's instance ports."""
    out: dict[str, dict[str, str]] = {}
    for port in sorted(network.get("ports", []), key=lambda p: p["id"]):
        if not str(port.get("device_owner") or "").startswith("compute:"):
            continue
        if not port.get("device_id"):
            continue
        for fixed in port.get("fixed_ips", []):
            out[str(fixed["ip_address"])] = {
                "instance_id": str(port["device_id"]),
                "project_id": str(port.get("project_id") or port.get("tenant_id") or ""),
            }
    return out


def config_document(network: Mapping[str, Any], url: str, secret: str) -> str:
    """The proxy's file for ``network`` (what the agent writes)."""
    doc = {"metadata_url": url, "shared_secret": secret, "instances": instance_map(network)}
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def upstream_headers(
    incoming: Mapping[str, str] | Any, client: str, identity: Mapping[str, str], secret: str
) -> dict[str, str]:
    """The headers sent to the metadata service: the guest's own, without any
    identity or hop-by-hop header, plus the identity of the port owning ``client``."""
    out = {k: v for k, v in incoming.items() if k.lower() not in DROPPED_HEADERS}
    out[FORWARDED_HEADER] = client
    out[INSTANCE_HEADER] = identity["instance_id"]
    out[SIGNATURE_HEADER] = sign(identity["instance_id"], secret)
    if identity.get("project_id"):
        out[TENANT_HEADER] = identity["project_id"]
    return out


class ConfigFile:
    """The proxy's file, re-read when its inode, size or mtime changed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._key: tuple[int, int, int] | None = None
        self._doc: dict[str, Any] = {"metadata_url": "", "shared_secret": "", "instances": {}}
        self._lock = threading.Lock()

    def get(self) -> dict[str, Any]:
        with self._lock:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                return {"metadata_url": "", "shared_secret": "", "instances": {}}
            key = (st.st_ino, st.st_size, st.st_mtime_ns)
            if key != self._key:
                try:
                    with open(self.path) as f:
                        self._doc = json.load(f)
                    self._key = key
                except (OSError, ValueError) as exc:  # keep the last good one
                    LOG.error("metadata proxy: cannot read %s: %s", self.path, exc)
            return self._doc


class ProxyHandler(BaseHTTPRequestHandler):
    server_version = "stratus-metadata-proxy"
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds a connection may stay idle
    config: ConfigFile  # set on the subclass that serve() makes

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        LOG.debug("%s " + format, self.client_address[0], *args)

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self) -> None:
        doc = self.config.get()
        client = self.client_address[0]
        identity = doc.get("instances", {}).get(client)
        if identity is None or not doc.get("metadata_url") or not doc.get("shared_secret"):
            self._reply(404, b"404 Not Found\n\nThe instance could not be found.\n")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._reply(400, b"400 Bad Request\n\nContent-Length is not a length.\n")
            return
        if length > MAX_BODY:
            self._reply(413, b"413 Request Entity Too Large\n")
            return
        body = self.rfile.read(length) if length else None
        headers = upstream_headers(self.headers, client, identity, doc["shared_secret"])
        request = urllib.request.Request(
            doc["metadata_url"].rstrip("/") + self.path,
            data=body,
            headers=headers,
            method=self.command,
        )
        try:
            with urllib.request.urlopen(request, timeout=UPSTREAM_TIMEOUT) as answer:  # noqa: S310
                status, content, ctype = answer.status, answer.read(), answer.headers
        except urllib.error.HTTPError as exc:
            status, content, ctype = exc.code, exc.read(), exc.headers
        except (OSError, ValueError) as exc:
            LOG.error("metadata proxy: %s: %s", doc["metadata_url"], exc)
            self._reply(502, b"502 Bad Gateway\n\nThe metadata service is unreachable.\n")
            return
        self._reply(status, content, ctype.get("Content-Type", "text/plain"))

    do_GET = do_HEAD = do_POST = _forward  # noqa: N815


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # guests booting together


def make_server(config_path: str, host: str, port: int) -> ThreadingHTTPServer:
    """The proxy's server bound to ``host``:``port``, serving ``config_path``'s map."""
    handler = type("Handler", (ProxyHandler,), {"config": ConfigFile(config_path)})
    return ProxyServer((host, port), handler)


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def bind_in_namespace(
    namespace: str | None, config_path: str, host: str, port: int
) -> ThreadingHTTPServer:
    """:func:`make_server` with its socket bound in ``namespace`` (a name under
    /run/netns; None: this one); the calling thread is back in its own namespace
    when it returns, so connections it opens later leave from there."""
    if not namespace:
        return make_server(config_path, host, port)
    if "/" in namespace or namespace in (".", ".."):
        raise ValueError(f"not a namespace name: {namespace!r}")
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        target = os.open(os.path.join(NETNS_DIR, namespace), os.O_RDONLY)
        try:
            _setns(target)
            try:
                return make_server(config_path, host, port)
            finally:
                _setns(own)
        finally:
            os.close(target)
    finally:
        os.close(own)


def _drop_privileges(user: str | None) -> None:
    if not user or os.geteuid() != 0:
        return
    entry = pwd.getpwnam(user)
    if entry.pw_uid == 0:
        return
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


def _daemonize(pid_file: str, user: str | None) -> None:
    """Fork into the background (reparented to init); the first process exits
    once the daemon wrote its pid file and dropped its privileges (1 if it
    could not)."""
    ready_r, ready_w = os.pipe()
    first = os.fork()
    if first:
        os.close(ready_w)
        os.waitpid(first, 0)
        ok = os.read(ready_r, 1) == b"1"
        os._exit(0 if ok else 1)
    os.close(ready_r)
    os.setsid()
    if os.fork():
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    tmp = f"{pid_file}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, pid_file)
    _drop_privileges(user)
    os.write(ready_w, b"1")
    os.close(ready_w)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__)
    parser.add_argument("--config", required=True, help="the proxy's file (address map)")
    parser.add_argument("--pid-file", required=True)
    parser.add_argument("--user", help="user to drop to once the socket is bound")
    parser.add_argument("--netns", help="the namespace (under /run/netns) to listen in")
    parser.add_argument("--bind-host", default=METADATA_ADDRESS)
    parser.add_argument("--bind-port", type=int, default=METADATA_PORT)
    parser.add_argument("--foreground", action="store_true")
    args = parser.parse_args(argv)
    try:
        server = bind_in_namespace(args.netns, args.config, args.bind_host, args.bind_port)
    except (OSError, ValueError) as exc:
        print(
            f"metadata proxy: cannot listen on {args.bind_host}:{args.bind_port}: {exc}",
            file=sys.stderr,
        )
        return 1
    if args.foreground:
        _drop_privileges(args.user)
    else:
        _daemonize(args.pid_file, args.user)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
