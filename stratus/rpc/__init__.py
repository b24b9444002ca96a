"""oslo.messaging transport, servers and clients over RabbitMQ.

Everything that crosses the bus is JSON primitives (dicts, lists, strings,
numbers); the context is a plain dict too (request id, user, project, roles).
"""

from __future__ import annotations

import functools
from typing import Any

import oslo_messaging as messaging

from stratus.conf import CONF

EXCHANGE = "stratus"


@functools.cache
def transport() -> messaging.Transport:
    return messaging.get_rpc_transport(CONF)


def reset() -> None:
    if transport.cache_info().currsize:
        transport().cleanup()
    transport.cache_clear()


def server(
    topic: str, endpoints: list[Any], host: str | None = None, fanout: bool = False
) -> messaging.RPCServer:
    target = messaging.Target(
        exchange=EXCHANGE, topic=topic, server=host or CONF.host, fanout=fanout
    )
    return messaging.get_rpc_server(
        transport(),
        target,
        endpoints,
        executor="threading",
        access_policy=messaging.DefaultRPCAccessPolicy,
    )


def client(
    topic: str,
    server: str | None = None,
    timeout: int | None = None,
    version: str = "1.0",
    fanout: bool = False,
) -> messaging.RPCClient:
    target = messaging.Target(
        exchange=EXCHANGE, topic=topic, server=server, version=version, fanout=fanout
    )
    return messaging.get_rpc_client(transport(), target, timeout=timeout)


class RPCAPI:
    """Base of the ``*rpcapi.py`` clients: one named method per remote call.

    A subclass names its ``TOPIC`` and the interface ``VERSION`` it speaks (its
    docstring keeps the history). Each method passes the version at which that call
    last changed; a service whose manager declares an older version refuses the
    message with ``UnsupportedVersion`` (an error for a call, logged by the service
    for a cast), so a cloud of mixed versions fails clearly instead of silently.
    """

    TOPIC: str
    VERSION: str

    def __init__(self, timeout: int | None = None) -> None:
        self._client = client(
            self.TOPIC, timeout=timeout or CONF.rpc.call_timeout, version=self.VERSION
        )

    def _cast(
        self,
        ctxt: dict,
        method: str,
        server: str | None = None,
        version: str = "1.0",
        fanout: bool = False,
        **kw: Any,
    ) -> None:
        """Cast to ``server``'s queue, the topic's shared queue, or (``fanout``) to
        every server of the topic."""
        self._client.prepare(server=server, version=version, fanout=fanout).cast(ctxt, method, **kw)

    def _call(
        self, ctxt: dict, method: str, server: str | None = None, version: str = "1.0", **kw: Any
    ) -> Any:
        return self._client.prepare(server=server, version=version).call(ctxt, method, **kw)
