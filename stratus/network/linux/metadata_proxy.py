"""The metadata proxy of one network: 169.254.169.254:80 inside the network's DHCP
namespace, forwarding guests' requests to the metadata service with their identity.

One small process per DHCP namespace (asyncio on uvloop, HTTP parsed with
httptools, as uvicorn does; keep-alive connections to the metadata service are
reused across requests), started by the network agent through a
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
owns gets a 404, and one that carries an identity header (``X-Instance-ID``,
``X-Tenant-ID``, the signature) a 403: a guest can never claim another
instance. The proxy sets those headers and ``X-Forwarded-For`` itself.

The service accepts a request when ``X-Instance-ID-Signature`` is the hex
HMAC-SHA256 of ``X-Instance-ID`` under ``[metadata] shared_secret``
(stratus.metadata.service).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import hashlib
import hmac
import json
import logging
import os
import pwd
import socket
import sys
import threading
import urllib.parse
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, NamedTuple

import httptools
import uvloop

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
# A guest request carrying any of these claims an identity: refused (403).
CLAIMED = frozenset(h.lower() for h in (INSTANCE_HEADER, SIGNATURE_HEADER, TENANT_HEADER))
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"
UPSTREAM_TIMEOUT = 10.0
IDLE_TIMEOUT = 30.0  # seconds a guest's connection may stay idle
MAX_BODY = 256 * 1024
BACKLOG = 128  # guests booting together
SERVER_NAME = "stratus-metadata-proxy"
MAX_IDLE = 32  # idle keep-alive connections kept to the metadata service


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

    EMPTY: dict[str, Any] = {"metadata_url": "", "shared_secret": "", "instances": {}}

    def __init__(self, path: str) -> None:
        self.path = path
        self._key: tuple[int, int, int] | None = None
        self._doc: dict[str, Any] = self.EMPTY

    def get(self) -> dict[str, Any]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return self.EMPTY
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if key != self._key:
            try:
                with open(self.path) as f:
                    self._doc = json.load(f)
                self._key = key
            except (OSError, ValueError) as exc:  # keep the last good one
                LOG.error("metadata proxy: cannot read %s: %s", self.path, exc)
        return self._doc


class Reply(NamedTuple):
    status: int
    content_type: str
    body: bytes


def _error(status: int, text: str) -> Reply:
    phrase = HTTPStatus(status).phrase
    return Reply(status, "text/plain", f"{status} {phrase}\n\n{text}\n".encode())


class _Message:
    """What an httptools parser collected of one HTTP message (its callbacks)."""

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.size = 0
        self.complete = False
        self.keep_alive = False
        self.parser: Any = None  # set by whoever feeds it

    def on_headers_complete(self) -> None:
        # (llhttp forgets it once the message is complete.)
        self.keep_alive = bool(self.parser.should_keep_alive())

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size <= MAX_BODY:
            self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


class Upstream:
    """Keep-alive HTTP/1.1 connections to the metadata service, reused across
    requests (a new TCP connection per request halves the proxy's throughput)."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, str, int], list[tuple[Any, Any]]] = {}

    async def request(
        self, url: str, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme or "http"
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, parts.hostname or "", port)
        path = parts.path.rstrip("/") + target
        head = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head.append(f"Content-Length: {len(body)}")
        payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        idle = self._idle.setdefault(key, [])
        while idle:  # a reused connection the service closed meanwhile: the next one
            conn = idle.pop()
            try:
                return await self._exchange(key, conn, payload)
            except (OSError, EOFError):
                conn[1].close()
            except BaseException:
                conn[1].close()
                raise
        conn = await asyncio.open_connection(key[1], key[2], ssl=scheme == "https" or None)
        try:
            return await self._exchange(key, conn, payload)
        except BaseException:
            conn[1].close()
            raise

    async def _exchange(self, key: tuple[str, str, int], conn: Any, payload: bytes) -> Reply:
        reader, writer = conn
        writer.write(payload)
        message = _Message()
        parser = message.parser = httptools.HttpResponseParser(message)
        while not message.complete:
            data = await reader.read(65536)
            if not data:
                raise EOFError("the metadata service closed the connection")
            parser.feed_data(data)
        idle = self._idle.setdefault(key, [])
        if message.keep_alive and len(idle) < MAX_IDLE:
            idle.append(conn)
        else:
            writer.close()
        ctype = next(
            (v.decode("latin-1") for n, v in message.headers if n.lower() == b"content-type"),
            "text/plain",
        )
        return Reply(parser.get_status_code(), ctype, b"".join(message.body))


class _Connection(asyncio.Protocol):
    """One guest's connection: requests parsed with httptools (keep-alive and
    pipelining), answered in order."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.parser = httptools.HttpRequestParser(self)
        self.requests: asyncio.Queue[tuple[str, _Message, bool] | None] = asyncio.Queue()
        self.message = _Message()
        self.transport: asyncio.Transport | None = None
        self.client = ""
        self.task: asyncio.Task[None] | None = None
        self.broken = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.client = transport.get_extra_info("peername")[0]
        self.task = asyncio.get_running_loop().create_task(self._serve())

    def connection_lost(self, exc: Exception | None) -> None:
        self.requests.put_nowait(None)

    def data_received(self, data: bytes) -> None:
        if self.broken:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.broken = True
            self.requests.put_nowait(("", _Message(), False))  # a 400, then closed

    def on_message_begin(self) -> None:
        self.message = _Message()
        self.message.parser = self.parser

    def on_headers_complete(self) -> None:
        self.message.on_headers_complete()

    def on_url(self, url: bytes) -> None:
        self.message.on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.message.on_header(name, value)

    def on_body(self, body: bytes) -> None:
        self.message.on_body(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode("latin-1")
        self.requests.put_nowait((method, self.message, self.message.keep_alive))

    async def _serve(self) -> None:
        assert self.transport is not None
        try:
            while True:
                try:
                    async with asyncio.timeout(IDLE_TIMEOUT):  # no task per request
                        item = await self.requests.get()
                except TimeoutError:
                    break
                if item is None:
                    break
                method, message, keep_alive = item
                if not method:
                    reply, keep_alive = _error(400, "The request is malformed."), False
                else:
                    reply = await self.proxy.answer(self.client, method, message)
                head = (
                    f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}\r\n"
                    f"Server: {SERVER_NAME}\r\nContent-Type: {reply.content_type}\r\n"
                    f"Content-Length: {len(reply.body)}\r\n"
                    + ("" if keep_alive else "Connection: close\r\n")
                    + "\r\n"
                ).encode("latin-1")
                self.transport.write(head if method == "HEAD" else head + reply.body)
                if not keep_alive:
                    break
        finally:
            self.transport.close()


class Proxy:
    """Answers a guest's request: its identity from its source address, then the
    metadata service's answer."""

    def __init__(self, config: ConfigFile) -> None:
        self.config = config
        self.upstream = Upstream()

    async def answer(self, client: str, method: str, message: _Message) -> Reply:
        doc = self.config.get()
        identity = doc.get("instances", {}).get(client)
        if identity is None or not doc.get("metadata_url") or not doc.get("shared_secret"):
            return _error(404, "The instance could not be found.")
        incoming = {n.decode("latin-1"): v.decode("latin-1") for n, v in message.headers}
        if any(k.lower() in CLAIMED for k in incoming):
            return _error(403, "A guest may not claim an identity.")
        if message.size > MAX_BODY:
            return _error(413, "The request body is too large.")
        headers = upstream_headers(incoming, client, identity, doc["shared_secret"])
        target = message.url.decode("latin-1")
        if not target.startswith("/"):
            return _error(400, "The request target is not a path.")
        try:
            async with asyncio.timeout(UPSTREAM_TIMEOUT):
                return await self.upstream.request(
                    doc["metadata_url"],
                    "GET" if method == "HEAD" else method,
                    target,
                    headers,
                    b"".join(message.body),
                )
        except (OSError, EOFError, ValueError, TimeoutError, httptools.HttpParserError) as exc:
            LOG.error("metadata proxy: %s: %s", doc["metadata_url"], exc)
            return _error(502, "The metadata service is unreachable.")


class ProxyServer:
    """The proxy on a bound socket: :meth:`serve_forever` runs its event loop
    (uvloop) in the calling thread until :meth:`shutdown`."""

    def __init__(self, sock: socket.socket, config_path: str) -> None:
        self.socket = sock
        self.server_address = sock.getsockname()
        self.proxy = Proxy(ConfigFile(config_path))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await self._loop.create_server(
            lambda: _Connection(self.proxy), sock=self.socket, backlog=BACKLOG
        )
        self._started.set()
        async with server:
            await self._stop.wait()

    def serve_forever(self) -> None:
        uvloop.run(self._run())

    def shutdown(self) -> None:
        self._started.wait(10)
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def server_close(self) -> None:
        self.socket.close()


def make_server(config_path: str, host: str, port: int) -> ProxyServer:
    """The proxy's server bound to ``host``:``port``, serving ``config_path``'s map."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return ProxyServer(sock, config_path)


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def bind_in_namespace(namespace: str | None, config_path: str, host: str, port: int) -> ProxyServer:
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
