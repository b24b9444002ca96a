"""The file store: streaming, checksums, limits and cleanup on every failure."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from oslo_config import cfg

from stratus.conf import default as default_opts
from stratus.conf import image as image_opts
from stratus.image.inspect import ImageContentError, ImageInfo, ImageVerifier
from stratus.image.store import (
    FileStore,
    ImageDataNotFound,
    ImageSizeLimitExceeded,
    StoreResult,
    iter_file,
)

MakeImage = Callable[..., Path]
IMAGE_ID = "0b4ac9c6-2f4e-4b6a-9f43-6f1f1d2b5a11"
MIB = 1 << 20


class ClientGone(ConnectionError):
    """What a request body stream raises when the client disconnects."""


def pieces(data: bytes, *sizes: int) -> Iterator[bytes]:
    """``data`` cut into chunks of the given sizes in turn (the last one repeats)."""
    offset = 0
    index = 0
    while offset < len(data):
        size = sizes[min(index, len(sizes) - 1)]
        yield data[offset : offset + size]
        offset += size
        index += 1


def failing(data: bytes, after: int) -> Iterator[bytes]:
    yield from pieces(data[:after], 4096)
    raise ClientGone("client disconnected")


async def async_pieces(
    data: bytes, size: int, fail_after: int | None = None
) -> AsyncIterator[bytes]:
    for chunk in pieces(data, size):
        await asyncio.sleep(0)
        yield chunk
        if fail_after is not None and fail_after <= 0:
            raise ClientGone("client disconnected")
        if fail_after is not None:
            fail_after -= len(chunk)


def leftovers(store: FileStore) -> list[str]:
    return sorted(os.listdir(store.datadir)) if store.datadir.exists() else []


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "images", size_cap=64 * MIB)


@pytest.fixture
def data() -> bytes:
    return os.urandom(3 * MIB + 12345)


def expected(store: FileStore, data: bytes) -> StoreResult:
    return StoreResult(
        f"file://{store.datadir / IMAGE_ID}",
        len(data),
        hashlib.md5(data).hexdigest(),
        hashlib.sha512(data).hexdigest(),
    )


# --- sync add -------------------------------------------------------------------


def test_add_streams_and_checksums(store: FileStore, data: bytes) -> None:
    result = store.add(IMAGE_ID, pieces(data, 1, 7, 65536, 100000))
    assert result == expected(store, data)
    location, size, checksum, multihash = result
    assert location == store.location(IMAGE_ID) == f"file://{store.path(IMAGE_ID)}"
    assert store.path(IMAGE_ID).read_bytes() == data
    assert leftovers(store) == [IMAGE_ID]
    assert stat.S_IMODE(store.path(IMAGE_ID).stat().st_mode) == 0o640
    assert store.exists(IMAGE_ID)
    assert store.size(IMAGE_ID) == len(data)


def test_add_empty_image(store: FileStore) -> None:
    result = store.add(IMAGE_ID, iter([b"", b""]))
    assert result.size == 0
    assert result.checksum == hashlib.md5(b"").hexdigest()
    assert store.path(IMAGE_ID).read_bytes() == b""


def test_add_replaces_stale_data(store: FileStore, data: bytes) -> None:
    store.add(IMAGE_ID, [b"old data"])
    assert store.add(IMAGE_ID, [data]) == expected(store, data)
    assert leftovers(store) == [IMAGE_ID]


def test_size_cap_aborts_and_leaves_nothing(store: FileStore, data: bytes) -> None:
    with pytest.raises(ImageSizeLimitExceeded) as err:
        store.add(IMAGE_ID, pieces(data, 65536), max_size=MIB)
    assert err.value.limit == MIB
    assert f"maximum image size of {MIB} bytes" in str(err.value)
    assert leftovers(store) == []


def test_size_cap_stops_reading_early(store: FileStore) -> None:
    consumed = 0

    def endless() -> Iterator[bytes]:
        nonlocal consumed
        while True:
            consumed += 65536
            yield bytes(65536)

    with pytest.raises(ImageSizeLimitExceeded):
        store.add(IMAGE_ID, endless(), max_size=MIB)
    assert consumed == MIB + 65536
    assert leftovers(store) == []


def test_store_size_cap_is_the_default(tmp_path: Path) -> None:
    small = FileStore(tmp_path / "images", size_cap=1000)
    with pytest.raises(ImageSizeLimitExceeded):
        small.add(IMAGE_ID, [bytes(1001)])
    assert small.add(IMAGE_ID, [bytes(1000)]).size == 1000
    # An explicit limit wins over the store's.
    assert small.add(IMAGE_ID, [bytes(5000)], max_size=5000).size == 5000


def test_exact_size_cap_is_allowed(store: FileStore, data: bytes) -> None:
    assert store.add(IMAGE_ID, [data], max_size=len(data)).size == len(data)


def test_failing_iterator_leaves_nothing(store: FileStore, data: bytes) -> None:
    with pytest.raises(ClientGone):
        store.add(IMAGE_ID, failing(data, MIB))
    assert leftovers(store) == []


def test_failure_keeps_earlier_image(store: FileStore, data: bytes) -> None:
    store.add(IMAGE_ID, [b"kept"])
    with pytest.raises(ClientGone):
        store.add(IMAGE_ID, failing(data, MIB))
    assert store.path(IMAGE_ID).read_bytes() == b"kept"
    assert leftovers(store) == [IMAGE_ID]


def test_verify_sees_the_complete_file_before_rename(store: FileStore, data: bytes) -> None:
    seen: list[str] = []

    def verify(path: str) -> None:
        assert Path(path).parent == store.datadir
        assert Path(path).name != IMAGE_ID
        assert not store.exists(IMAGE_ID)
        with open(path, "rb") as f:
            seen.append(hashlib.md5(f.read()).hexdigest())

    result = store.add(IMAGE_ID, pieces(data, 65536), verify=verify)
    assert seen == [result.checksum]


def test_verify_rejection_leaves_nothing(store: FileStore, data: bytes) -> None:
    def verify(path: str) -> None:
        raise ImageContentError("image data is raw but disk_format is qcow2")

    with pytest.raises(ImageContentError):
        store.add(IMAGE_ID, [data], verify=verify)
    assert leftovers(store) == []


def test_inspection_through_the_store(store: FileStore, make_image: MakeImage) -> None:
    qcow2 = make_image("v3.qcow2", "qcow2", "1G")
    verifier = ImageVerifier("qcow2", "bare")
    result = store.add(IMAGE_ID, iter_file(qcow2), verify=verifier)
    assert verifier.info == ImageInfo("qcow2", 1 << 30)
    assert result.size == qcow2.stat().st_size

    make_image("base.raw", "raw", "1M")
    child = make_image("child.qcow2", "qcow2", "1M", "-b", "base.raw", "-F", "raw")
    other = "1d9d3c55-0000-4000-8000-000000000000"
    with pytest.raises(ImageContentError, match="backing file 'base.raw'"):
        store.add(other, iter_file(child), verify=ImageVerifier("qcow2"))
    with pytest.raises(ImageContentError, match="image data is qcow2 but disk_format is raw"):
        store.add(other, iter_file(qcow2), verify=ImageVerifier("raw"))
    assert leftovers(store) == [IMAGE_ID]


@pytest.mark.parametrize("image_id", ["", "../etc", "a/b", ".hidden", "x" * 256, "a b", "é"])
def test_image_ids_cannot_escape_the_directory(store: FileStore, image_id: str) -> None:
    with pytest.raises(ValueError, match="invalid image id"):
        store.add(image_id, [b"x"])
    with pytest.raises(ValueError):
        store.path(image_id)
    assert leftovers(store) == []


# --- async add ------------------------------------------------------------------


def test_add_async(store: FileStore, data: bytes) -> None:
    result = asyncio.run(store.add_async(IMAGE_ID, async_pieces(data, 65536)))
    assert result == expected(store, data)
    assert store.path(IMAGE_ID).read_bytes() == data


def test_add_async_large_chunks_and_sync_iterable(store: FileStore, data: bytes) -> None:
    result = asyncio.run(store.add_async(IMAGE_ID, pieces(data, 2 * MIB, 3)))
    assert result == expected(store, data)


def test_add_async_size_cap(store: FileStore, data: bytes) -> None:
    with pytest.raises(ImageSizeLimitExceeded):
        asyncio.run(store.add_async(IMAGE_ID, async_pieces(data, 65536), max_size=2 * MIB))
    assert leftovers(store) == []


def test_add_async_client_disconnect_leaves_nothing(store: FileStore, data: bytes) -> None:
    with pytest.raises(ClientGone):
        asyncio.run(store.add_async(IMAGE_ID, async_pieces(data, 65536, fail_after=2 * MIB)))
    assert leftovers(store) == []


def test_add_async_verify_rejection(store: FileStore, data: bytes) -> None:
    with pytest.raises(ImageContentError):
        asyncio.run(
            store.add_async(IMAGE_ID, async_pieces(data, 65536), verify=ImageVerifier("qcow2"))
        )
    assert leftovers(store) == []


def test_add_async_cancelled_leaves_nothing(store: FileStore) -> None:
    async def slow() -> AsyncIterator[bytes]:
        while True:
            yield bytes(256 * 1024)
            await asyncio.sleep(0.001)

    async def run() -> None:
        task = asyncio.create_task(store.add_async(IMAGE_ID, slow()))
        while not any(name.endswith(".part") for name in leftovers(store)):
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert leftovers(store) == []


# --- reading, deleting, configuration -----------------------------------------------


def test_get(store: FileStore, data: bytes) -> None:
    store.add(IMAGE_ID, [data])
    chunks = store.get(IMAGE_ID, chunk_size=65536)
    assert chunks.size == len(data)
    got = list(chunks)
    assert b"".join(got) == data
    assert max(len(c) for c in got) == 65536
    assert b"".join(store.get(IMAGE_ID, offset=100, length=1000)) == data[100:1100]
    assert b"".join(store.get(IMAGE_ID, offset=len(data) - 5)) == data[-5:]
    with store.get(IMAGE_ID) as partial:
        assert next(partial) == data[: store.chunk_size]


def test_get_missing_raises_at_once(store: FileStore) -> None:
    with pytest.raises(ImageDataNotFound, match=f"no image data is stored for image {IMAGE_ID}"):
        store.get(IMAGE_ID)
    with pytest.raises(ImageDataNotFound):
        store.size(IMAGE_ID)


def test_delete_is_idempotent(store: FileStore) -> None:
    store.add(IMAGE_ID, [b"data"])
    assert store.delete(IMAGE_ID) is True
    assert store.delete(IMAGE_ID) is False
    assert not store.exists(IMAGE_ID)
    assert FileStore(store.datadir / "never-made").delete(IMAGE_ID) is False


def test_remove_stale_partials(store: FileStore) -> None:
    store.add(IMAGE_ID, [b"data"])
    old = store.datadir / f".{IMAGE_ID}.abc123.part"
    fresh = store.datadir / f".{IMAGE_ID}.def456.part"
    old.write_bytes(b"x")
    fresh.write_bytes(b"x")
    a_day_ago = time.time() - 2 * 86400
    os.utime(old, (a_day_ago, a_day_ago))
    assert store.remove_stale_partials() == [old.name]
    assert leftovers(store) == sorted([fresh.name, IMAGE_ID])


def test_from_conf(tmp_path: Path) -> None:
    conf = cfg.ConfigOpts()
    conf.register_opts(default_opts.OPTS)
    conf.register_opts(image_opts.OPTS, group=image_opts.GROUP)
    conf([], project="stratus")
    conf.set_override("state_path", str(tmp_path))
    store = FileStore.from_conf(conf)
    assert store.datadir == tmp_path / "images"
    assert store.size_cap == 1 << 40
    assert store.chunk_size == 65536
    conf.set_override("image_size_cap", 10, group="image")
    conf.set_override("filesystem_store_datadir", str(tmp_path / "elsewhere"), group="image")
    store = FileStore.from_conf(conf)
    assert (store.datadir, store.size_cap) == (tmp_path / "elsewhere", 10)
    for opt in image_opts.OPTS:
        assert opt.help


# --- memory -----------------------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_two_gib_upload_stays_in_constant_memory(tmp_path: Path) -> None:
    source = tmp_path / "sparse.img"
    with open(source, "wb") as f:
        f.truncate(2 << 30)
    store = FileStore(tmp_path / "images", size_cap=4 << 30)
    start = _rss()
    peak = start

    def chunks() -> Iterator[bytes]:
        nonlocal peak
        for index, chunk in enumerate(iter_file(source, MIB)):
            if index % 64 == 0:
                peak = max(peak, _rss())
            yield chunk

    result = store.add(IMAGE_ID, chunks())
    peak = max(peak, _rss())
    assert result.size == 2 << 30
    # The well-known digests of 2 GiB of zeros.
    assert result.checksum == "a981130cf2b7e09f4686dc273cf7187e"
    assert result.multihash.startswith("0414cac598ebfa08e8e9c6d2544aa414")
    assert peak - start < 64 * MIB, f"RSS grew by {(peak - start) / MIB:.1f} MiB"
    store.delete(IMAGE_ID)
