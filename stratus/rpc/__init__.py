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
