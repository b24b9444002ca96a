"""Read-ahead for request bodies.

The file store hashes and writes each block of an upload in a worker thread and
waits for it before taking the next block. Reading the socket in a separate task
meanwhile overlaps the network with the hashing (which releases the GIL), instead
of doing one after the other; memory stays bounded by ``depth`` blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator

BLOCK = 1024 * 1024
DEPTH = 4

_END = object()


async def read_ahead(
    source: AsyncIterable[bytes], block: int = BLOCK, depth: int = DEPTH
) -> AsyncIterator[bytearray]:
    """Yield ``source`` regrouped into blocks of about ``block`` bytes, read ahead
    by up to ``depth`` blocks. An error of ``source`` (e.g. a client that went away)
    is raised here, after the blocks that came before it."""
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=depth)

    async def produce() -> None:
        buffer = bytearray()
        try:
            async for chunk in source:
                buffer += chunk
                if len(buffer) >= block:
                    await queue.put(buffer)
                    buffer = bytearray()
            if buffer:
                await queue.put(buffer)
            await queue.put(_END)
        except Exception as exc:  # handed to the consumer, raised there
            await queue.put(exc)

    task = asyncio.ensure_future(produce())
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, bytearray)
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
