"""The file store: image data as one file per image under a data directory.

An upload streams into a hidden temporary file in the data directory while its
MD5 and SHA-512 are computed and its size is held under a limit; nothing is
ever held in memory whole. Only when every byte has arrived, been synced to
disk and passed the caller's ``verify`` check (content inspection) is the file
renamed to ``<datadir>/<image_id>``. Any failure on the way (the size limit,
a full disk, a client that disconnects, a rejected image, cancellation)
removes the temporary file, so a failed upload never leaves data behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import re
import tempfile
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple, TypeVar

from stratus.image.formats import ImageError

if TYPE_CHECKING:
    from oslo_config import cfg

_T = TypeVar("_T")

DEFAULT_CHUNK_SIZE = 64 * 1024
DEFAULT_WRITE_BUFFER = 1024 * 1024
PARTIAL_SUFFIX = ".part"
_IMAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,254}")

#: A ``verify`` hook: called with the path of the complete temporary file before
#: it is stored; raising rejects the upload.
Verify = Callable[[str], Any]


class StoreResult(NamedTuple):
    """Where and what was stored: ``location, size, checksum, multihash = result``."""

    location: str
    size: int
    checksum: str
    """MD5 hex digest (the image's ``checksum`` attribute)."""
    multihash: str
    """SHA-512 hex digest (``os_hash_value``, with ``os_hash_algo`` ``sha512``)."""


class ImageStoreError(ImageError):
    """Base class of file store errors."""


class ImageSizeLimitExceeded(ImageStoreError):
    """The upload passed its size limit (HTTP 413); the partial file is gone."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"image data exceeds the maximum image size of {limit} bytes; upload a "
            f"smaller image or ask an operator about the limit"
        )
        self.limit = limit


class ImageStoreFull(ImageStoreError):
    """The store's filesystem is full or over quota (HTTP 413)."""


class ImageDataNotFound(ImageStoreError):
    """The store holds no data for this image (HTTP 404 / 204 for no data)."""

    def __init__(self, image_id: str) -> None:
        super().__init__(f"no image data is stored for image {image_id}")
        self.image_id = image_id


def _check_image_id(image_id: str) -> str:
    if not isinstance(image_id, str) or not _IMAGE_ID.fullmatch(image_id):
        raise ValueError(
            f"invalid image id {image_id!r}: expected letters, digits, '-' and '_' "
            f"(up to 255 characters)"
        )
    return image_id


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Writer:
    """One upload in progress: the temporary file, running hashes and size.

    ``reserve`` counts bytes against the limit as they arrive; ``store`` hashes
    and writes them (possibly in a worker thread); ``finish`` syncs, verifies
    and renames; ``abort`` removes whatever was written. A lock serialises
    ``store``/``finish`` with ``abort`` so cleanup never races a worker thread.
    """

    def __init__(self, directory: Path, image_id: str, max_size: int | None) -> None:
        directory.mkdir(mode=0o750, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=directory, prefix=f".{image_id}.", suffix=PARTIAL_SUFFIX)
        self._fd: int | None = fd
        self._directory = directory
        self.path = Path(name)
        self.final_path = directory / image_id
        self.max_size = max_size
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha512 = hashlib.sha512()
        self._lock = threading.Lock()
        self._stored = False

    def reserve(self, length: int) -> None:
        self.size += length
        if self.max_size is not None and self.size > self.max_size:
            raise ImageSizeLimitExceeded(self.max_size)

    def store(self, data: bytes | bytearray | memoryview) -> None:
        with self._lock:
            if self._fd is None:
                raise ImageStoreError("upload was aborted")
            self._md5.update(data)
            self._sha512.update(data)
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError as exc:
                _raise_if_full(exc)
                raise

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.reserve(len(data))
        self.store(data)

    def finish(self, verify: Verify | None) -> StoreResult:
        with self._lock:
            if self._fd is None:
                raise ImageStoreError("upload was aborted")
            try:
                os.fsync(self._fd)
            except OSError as exc:
                _raise_if_full(exc)
                raise
            os.close(self._fd)
            self._fd = None
            if verify is not None:
                verify(str(self.path))
            os.chmod(self.path, 0o640)
            os.replace(self.path, self.final_path)
            self._stored = True
            _fsync_dir(self._directory)
            return StoreResult(
                f"file://{self.final_path}",
                self.size,
                self._md5.hexdigest(),
                self._sha512.hexdigest(),
            )

    def abort(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self.path.unlink(missing_ok=True)
            if self._stored:
                # finish() completed but its caller was cancelled before it heard
                # so: the upload did not happen as far as anyone knows.
                self.final_path.unlink(missing_ok=True)
                self._stored = False


def _raise_if_full(exc: OSError) -> None:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        raise ImageStoreFull(
            f"the image store has no space left for this image ({exc.strerror}); "
            f"try again later or ask an operator to free space"
        ) from exc


async def _in_thread(func: Callable[..., _T], *args: Any) -> _T:
    """Run ``func`` in a worker thread; if cancelled, let the thread finish first."""
    future = asyncio.ensure_future(asyncio.to_thread(func, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        # A thread cannot be stopped: wait for it so cleanup does not race it.
        with contextlib.suppress(BaseException):
            await asyncio.wait([future])
            future.exception()
        raise


class ImageChunks:
    """An iterator over stored image data that owns its open file.

    ``size`` is the number of bytes it will yield (for Content-Length). The
    file is closed when the data is exhausted or ``close()`` is called.
    """

    def __init__(self, file: BinaryIO, chunk_size: int, length: int) -> None:
        self._file = file
        self._chunk_size = chunk_size
        self._remaining = length
        self.size = length

    def __iter__(self) -> ImageChunks:
        return self

    def __next__(self) -> bytes:
        if self._remaining <= 0 or self._file.closed:
            self.close()
            raise StopIteration
        data = self._file.read(min(self._chunk_size, self._remaining))
        if not data:
            self.close()
            raise StopIteration
        self._remaining -= len(data)
        return data

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ImageChunks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FileStore:
    """Image data as files under ``datadir``.

    ``size_cap`` is the limit used when ``add`` is given no ``max_size``;
    ``chunk_size`` is the default download chunk; ``write_buffer`` is how many
    received bytes ``add_async`` gathers before a worker thread writes them.
    """

    def __init__(
        self,
        datadir: str | os.PathLike[str],
        *,
        size_cap: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        write_buffer: int = DEFAULT_WRITE_BUFFER,
    ) -> None:
        self.datadir = Path(datadir).absolute()
        self.size_cap = size_cap
        self.chunk_size = chunk_size
        self.write_buffer = write_buffer

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts | None = None) -> FileStore:
        """A store configured from the ``[image]`` options."""
        if conf is None:
            from stratus.conf import CONF

            conf = CONF
        group = conf.image
        return cls(
            group.filesystem_store_datadir,
            size_cap=group.image_size_cap,
            chunk_size=group.filesystem_store_chunk_size,
            write_buffer=group.filesystem_store_write_buffer,
        )

    # --- naming ---------------------------------------------------------------

    def path(self, image_id: str) -> Path:
        """Where ``image_id``'s data lives (whether or not it exists)."""
        return self.datadir / _check_image_id(image_id)

    def location(self, image_id: str) -> str:
        """The ``file://`` URL recorded as the image's location."""
        return f"file://{self.path(image_id)}"

    def exists(self, image_id: str) -> bool:
        return self.path(image_id).is_file()

    def size(self, image_id: str) -> int:
        """Bytes stored for ``image_id``; raises ``ImageDataNotFound``."""
        try:
            return self.path(image_id).stat().st_size
        except FileNotFoundError:
            raise ImageDataNotFound(image_id) from None

    # --- writing --------------------------------------------------------------

    def _writer(self, image_id: str, max_size: int | None) -> _Writer:
        limit = self.size_cap if max_size is None else max_size
        return _Writer(self.datadir, _check_image_id(image_id), limit)

    def add(
        self,
        image_id: str,
        chunks: Iterable[bytes],
        max_size: int | None = None,
        verify: Verify | None = None,
    ) -> StoreResult:
        """Stream ``chunks`` into the store as ``image_id``'s data.

        ``max_size`` (default: the store's ``size_cap``) is enforced as bytes
        arrive. ``verify(path)`` is called on the complete temporary file before
        it is renamed into place; if it raises, nothing is stored. On any error
        the partial file is removed and the error re-raised.
        """
        writer = self._writer(image_id, max_size)
        try:
            for chunk in chunks:
                if chunk:
                    writer.write(chunk)
            return writer.finish(verify)
        except BaseException:
            writer.abort()
            raise

    async def add_async(
        self,
        image_id: str,
        chunks: AsyncIterable[bytes] | Iterable[bytes],
        max_size: int | None = None,
        verify: Verify | None = None,
    ) -> StoreResult:
        """``add`` for an event loop, e.g. over an ASGI request body stream.

        Received bytes are gathered up to ``write_buffer`` and hashed and written
        in a worker thread, as are the final sync, ``verify`` and rename, so the
        loop is never blocked on the disk.
        """
        writer = self._writer(image_id, max_size)
        try:
            buffer = bytearray()
            async with contextlib.aclosing(_aiter(chunks)) as stream:
                async for chunk in stream:
                    writer.reserve(len(chunk))
                    if not buffer and len(chunk) >= self.write_buffer:
                        await _in_thread(writer.store, chunk)
                        continue
                    buffer += chunk
                    if len(buffer) >= self.write_buffer:
                        await _in_thread(writer.store, buffer)
                        buffer = bytearray()
            if buffer:
                await _in_thread(writer.store, buffer)
            return await _in_thread(writer.finish, verify)
        except BaseException:
            writer.abort()
            raise

    # --- reading and removal --------------------------------------------------

    def get(
        self,
        image_id: str,
        chunk_size: int | None = None,
        offset: int = 0,
        length: int | None = None,
    ) -> ImageChunks:
        """Chunks of ``image_id``'s data, optionally ``length`` bytes from ``offset``.

        Raises ``ImageDataNotFound`` at once (not on first iteration) if there
        is no data.
        """
        try:
            file = open(self.path(image_id), "rb")  # noqa: SIM115 - ImageChunks closes it
        except FileNotFoundError:
            raise ImageDataNotFound(image_id) from None
        try:
            total = os.fstat(file.fileno()).st_size
            offset = min(max(offset, 0), total)
            available = total - offset
            length = available if length is None else min(max(length, 0), available)
            file.seek(offset)
        except BaseException:
            file.close()
            raise
        return ImageChunks(file, chunk_size or self.chunk_size, length)

    def delete(self, image_id: str) -> bool:
        """Remove ``image_id``'s data; True if there was any. Deleting twice is fine."""
        try:
            self.path(image_id).unlink()
        except FileNotFoundError:
            return False
        return True

    def remove_stale_partials(self, max_age: float = 86400.0) -> list[str]:
        """Remove temporary upload files older than ``max_age`` seconds.

        They are left only by a process that died mid-upload; run at service
        start. Returns the names removed.
        """
        removed: list[str] = []
        if not self.datadir.is_dir():
            return removed
        cutoff = time.time() - max_age
        for entry in self.datadir.iterdir():
            if not (entry.name.startswith(".") and entry.name.endswith(PARTIAL_SUFFIX)):
                continue
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed.append(entry.name)
        return removed


async def _aiter(chunks: AsyncIterable[bytes] | Iterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            if chunk:
                yield chunk
    else:
        for chunk in chunks:
            if chunk:
                yield chunk


def iter_file(
    path: str | os.PathLike[str], chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[bytes]:
    """Chunks of any file (a helper for feeding a local file to ``FileStore.add``)."""
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            yield chunk
