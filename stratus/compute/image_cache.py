"""The compute node's cache of base images (``<instances_path>/_base``).

Each image is downloaded once per host, whatever the number of instances built
from it and however many builds run at the same time: a per-image ``flock``
serialises the threads of one compute process and separate processes alike.
A download is written to a temporary name, its checksum is verified (md5
``checksum`` and/or the Image API's ``os_hash_algo``/``os_hash_value``), its
content is checked against the declared format by ``stratus.image.inspect``
(which also refuses qcow2 backing files and the like), and only then renamed
into place, so a base file that exists is complete and verified.

Formats that QEMU should not open as instance backing files (vmdk, vdi, vhd,
vhdx, ploop) are converted to raw on arrival; raw, qcow2 and the Amazon
formats are kept as they are.

A base file's mtime records its last use: every ``get`` and every ``cleanup``
that finds it in use refreshes it, and ``cleanup`` removes files unused for
longer than the given age.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from stratus.image.formats import ImageError
from stratus.image.inspect import (
    ImageContentError,
    ImageInfo,
    detect_format,
    inspect_image,
)

LOG = logging.getLogger(__name__)

#: ``fetch(image_id, dest_path)`` writes the image's bytes to ``dest_path``.
Fetcher = Callable[[str, str], None]

#: Formats converted to raw when they arrive.
CONVERT_TO_RAW = frozenset({"vmdk", "vdi", "vhd", "vhdx", "ploop"})
#: qemu-img's names for them where they differ.
_QEMU_IMG_NAMES = {"vhd": "vpc", "ploop": "parallels"}

_NAME_RE = re.compile(r"^[0-9a-f]{40}$")
_LOCK_DIR = "locks"
_PART_SUFFIX = ".part"
_HASH_ALGOS = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")
_CHUNK = 1024 * 1024


class ImageCacheError(ImageError):
    """The image could not be put into the cache."""


class ImageChecksumError(ImageCacheError):
    """The downloaded data does not match the image's checksum."""

    def __init__(self, image_id: str, algo: str, expected: str, actual: str) -> None:
        super().__init__(
            f"image {image_id}: {algo} checksum mismatch after download: expected "
            f"{expected}, got {actual}; the download was discarded"
        )
        self.image_id = image_id
        self.algo = algo
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class CachedImage:
    """A verified base file."""

    image_id: str
    path: str
    format: str
    virtual_size: int | None


def _touch(path: str | os.PathLike[str]) -> None:
    """Record a use of a base file (its mtime), through privsep when libvirt has
    given the file to QEMU (a backing file stays QEMU's)."""
    try:
        os.utime(path)
    except PermissionError:
        from stratus.compute import privileged

        privileged.touch(str(path))


def base_name(image_id: str) -> str:
    """File name of an image's base file (the SHA-1 of its ID, as Nova names them)."""
    return hashlib.sha1(image_id.encode(), usedforsecurity=False).hexdigest()


class ImageCache:
    """Base images under ``base_dir``, fetched on demand with ``fetch``."""

    def __init__(self, base_dir: str | os.PathLike[str], fetch: Fetcher) -> None:
        self.base_dir = Path(base_dir)
        self.fetch = fetch
        self.base_dir.mkdir(parents=True, exist_ok=True)
        (self.base_dir / _LOCK_DIR).mkdir(exist_ok=True)
        # QEMU runs unprivileged and must reach the base files.
        with contextlib.suppress(PermissionError):
            os.chmod(self.base_dir, 0o755)

    def path_for(self, image_id: str) -> Path:
        return self.base_dir / base_name(image_id)

    def has(self, image_id: str) -> bool:
        return self.path_for(image_id).exists()

    # --- locking ------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self, name: str, blocking: bool = True) -> Iterator[bool]:
        """Hold the image's lock; yields False when ``blocking`` is off and it is busy.

        The lock file may be unlinked by ``cleanup`` (while held): after taking
        the lock, check that the file is still the one at the path, else retry.
        """
        path = self.base_dir / _LOCK_DIR / f"{name}.lock"
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
                except BlockingIOError:
                    yield False
                    return
                try:
                    same = os.fstat(fd).st_ino == os.stat(path).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    continue  # finally closes fd
                yield True
                return
            finally:
                os.close(fd)

    # --- fetching -----------------------------------------------------------

    def get(
        self,
        image_id: str,
        *,
        disk_format: str,
        container_format: str | None = "bare",
        checksum: str | None = None,
        hash_algo: str | None = None,
        hash_value: str | None = None,
    ) -> CachedImage:
        """The base file for ``image_id``, downloading and verifying it if needed.

        ``checksum`` is the Image API's md5 ``checksum``; ``hash_algo`` /
        ``hash_value`` are its ``os_hash_algo`` / ``os_hash_value`` (sha512).
        Raises ``ImageChecksumError``, ``ImageContentError`` (the data is not
        ``disk_format`` or is unsafe) or ``ImageCacheError``.
        """
        name = base_name(image_id)
        final = self.base_dir / name
        with self._lock(name):
            if final.exists():
                _touch(final)
                return self._describe(image_id, final)
            return self._download(
                image_id,
                final,
                disk_format=disk_format,
                container_format=container_format,
                expected=_expected_hashes(checksum, hash_algo, hash_value),
            )

    def _describe(self, image_id: str, path: Path) -> CachedImage:
        detected = detect_format(path)
        fmt = detected if detected in ("qcow2", "iso") else "raw"
        info = inspect_image(path, "qcow2" if fmt == "qcow2" else "raw")
        return CachedImage(image_id, str(path), fmt, info.virtual_size)

    def _download(
        self,
        image_id: str,
        final: Path,
        *,
        disk_format: str,
        container_format: str | None,
        expected: dict[str, str],
    ) -> CachedImage:
        part = final.with_name(final.name + _PART_SUFFIX)
        converted = final.with_name(final.name + ".raw" + _PART_SUFFIX)
        for stale in (part, converted):
            stale.unlink(missing_ok=True)
        started = time.monotonic()
        try:
            try:
                self.fetch(image_id, str(part))
            except ImageError:
                raise
            except Exception as exc:
                raise ImageCacheError(f"image {image_id}: download failed: {exc}") from exc
            if not part.exists():
                raise ImageCacheError(f"image {image_id}: the download produced no file")
            _verify_hashes(image_id, part, expected)
            info: ImageInfo = inspect_image(part, disk_format, container_format)
            source = part
            fmt = info.format
            if fmt in CONVERT_TO_RAW:
                _convert_to_raw(fmt, part, converted)
                part.unlink()
                source = converted
                fmt = "raw"
                info = inspect_image(source, "raw")
            os.chmod(source, 0o644)
            os.rename(source, final)
        except BaseException:
            part.unlink(missing_ok=True)
            converted.unlink(missing_ok=True)
            raise
        LOG.info(
            "cached image %s as %s (%s, %.1fs)", image_id, final, fmt, time.monotonic() - started
        )
        fmt = "raw" if fmt not in ("qcow2", "iso") else fmt
        return CachedImage(image_id, str(final), fmt, info.virtual_size)

    # --- cleanup ------------------------------------------------------------

    def cleanup(self, in_use_ids: Iterable[str], max_age_s: float) -> list[str]:
        """Remove base files that no instance has used for more than ``max_age_s``.

        ``in_use_ids`` are the images (root, kernel and ramdisk) of every
        instance on this host; their files are marked as used now. Files being
        downloaded or fetched right now are left alone. Returns the removed paths.
        """
        in_use = {base_name(i) for i in in_use_ids}
        now = time.time()
        removed: list[str] = []
        try:
            entries = list(os.scandir(self.base_dir))
        except FileNotFoundError:
            return removed
        for entry in entries:
            name = entry.name
            if name.endswith(_PART_SUFFIX):
                self._remove_stale_part(entry, now, max_age_s)
                continue
            if not _NAME_RE.match(name) or not entry.is_file(follow_symlinks=False):
                continue
            if name in in_use:
                with contextlib.suppress(FileNotFoundError):
                    _touch(entry.path)
                continue
            try:
                if now - entry.stat().st_mtime <= max_age_s:
                    continue
            except FileNotFoundError:
                continue
            with self._lock(name, blocking=False) as locked:
                if not locked:
                    continue
                try:
                    # Re-check under the lock: a get() may have just used it.
                    if time.time() - os.stat(entry.path).st_mtime <= max_age_s:
                        continue
                    os.unlink(entry.path)
                except FileNotFoundError:
                    continue
                removed.append(entry.path)
                LOG.info("removed unused base image %s", entry.path)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.base_dir / _LOCK_DIR / f"{name}.lock")
        return removed

    def _remove_stale_part(self, entry: os.DirEntry[str], now: float, max_age_s: float) -> None:
        """A partial download left by a process that died; only when nobody holds its lock."""
        name = entry.name.split(".", 1)[0]
        with contextlib.suppress(FileNotFoundError):
            if now - entry.stat().st_mtime <= max(max_age_s, 3600):
                return
            with self._lock(name, blocking=False) as locked:
                if locked:
                    os.unlink(entry.path)


def _expected_hashes(
    checksum: str | None, hash_algo: str | None, hash_value: str | None
) -> dict[str, str]:
    expected: dict[str, str] = {}
    if checksum:
        expected["md5"] = checksum.lower()
    if hash_value:
        algo = (hash_algo or "sha512").lower()
        if algo not in _HASH_ALGOS:
            raise ImageCacheError(
                f"unsupported os_hash_algo {hash_algo!r}; supported: {', '.join(_HASH_ALGOS)}"
            )
        expected[algo] = hash_value.lower()
    return expected


def _verify_hashes(image_id: str, path: Path, expected: dict[str, str]) -> None:
    if not expected:
        LOG.warning("image %s has no checksum; its download is not verified", image_id)
        return
    hashers = {algo: hashlib.new(algo, usedforsecurity=False) for algo in expected}
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            for h in hashers.values():
                h.update(chunk)
    for algo, want in expected.items():
        got = hashers[algo].hexdigest()
        if got != want:
            raise ImageChecksumError(image_id, algo, want, got)


def _convert_to_raw(fmt: str, source: Path, dest: Path) -> None:
    binary = shutil.which("qemu-img")
    if binary is None:
        raise ImageCacheError(
            f"{fmt} images must be converted to raw but qemu-img is not installed (qemu-utils)"
        )
    try:
        subprocess.run(
            [binary, "convert", "-q", "-f", _QEMU_IMG_NAMES.get(fmt, fmt), "-O", "raw",
             str(source), str(dest)],
            check=True,
            capture_output=True,
            text=True,
            timeout=3600,
        )  # fmt: skip
    except subprocess.CalledProcessError as exc:
        dest.unlink(missing_ok=True)
        raise ImageContentError(
            f"converting the {fmt} image to raw failed: {exc.stderr.strip()}"
        ) from exc
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise ImageCacheError("qemu-img is not installed (qemu-utils)") from exc
        raise
