"""The compute image cache: one verified download per image per host, and cleanup."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from stratus.compute.image_cache import (
    ImageCache,
    ImageCacheError,
    ImageChecksumError,
    base_name,
)
from stratus.image.inspect import ImageContentError

needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")


class Store:
    """A stand-in for the Image API: image id -> local file, counting downloads."""

    def __init__(self, root: Path, delay: float = 0.0) -> None:
        self.root = root
        self.delay = delay
        self.calls: list[str] = []
        self.log = root / "fetches.log"

    def add(self, image_id: str, data: bytes) -> Path:
        path = self.root / f"{image_id}.img"
        path.write_bytes(data)
        return path

    def fetch(self, image_id: str, dest: str) -> None:
        self.calls.append(image_id)
        with open(self.log, "a") as f:  # visible across processes
            f.write(f"{os.getpid()} {image_id}\n")
        if self.delay:
            time.sleep(self.delay)
        shutil.copyfile(self.root / f"{image_id}.img", dest)

    def fetch_count(self) -> int:
        return len(self.log.read_text().splitlines()) if self.log.exists() else 0


RAW = b"\x00" * 4096 + b"stratus raw disk" + b"\x00" * 4080


@pytest.fixture
def store(tmp_path: Path) -> Store:
    root = tmp_path / "store"
    root.mkdir()
    return Store(root)


@pytest.fixture
def cache(tmp_path: Path, store: Store) -> ImageCache:
    return ImageCache(tmp_path / "_base", store.fetch)


def _leftovers(cache: ImageCache) -> list[str]:
    return sorted(p.name for p in cache.base_dir.iterdir() if p.name != "locks")


def test_download_once_and_verify(cache: ImageCache, store: Store) -> None:
    store.add("img-1", RAW)
    md5 = hashlib.md5(RAW).hexdigest()
    sha512 = hashlib.sha512(RAW).hexdigest()
    first = cache.get("img-1", disk_format="raw", checksum=md5, hash_value=sha512)
    assert first.path == str(cache.base_dir / base_name("img-1"))
    assert (first.format, first.virtual_size) == ("raw", len(RAW))
    assert Path(first.path).read_bytes() == RAW
    assert os.stat(first.path).st_mode & 0o777 == 0o644
    second = cache.get("img-1", disk_format="raw", checksum=md5)
    assert second == first
    assert store.calls == ["img-1"]
    assert cache.has("img-1")


def test_md5_mismatch_discards_the_download(cache: ImageCache, store: Store) -> None:
    store.add("img-1", RAW)
    with pytest.raises(ImageChecksumError) as err:
        cache.get("img-1", disk_format="raw", checksum="0" * 32)
    assert err.value.algo == "md5"
    assert _leftovers(cache) == []
    # A later build with the right checksum downloads again and succeeds.
    cache.get("img-1", disk_format="raw", checksum=hashlib.md5(RAW).hexdigest())
    assert store.calls == ["img-1", "img-1"]


def test_sha512_mismatch(cache: ImageCache, store: Store) -> None:
    store.add("img-1", RAW)
    with pytest.raises(ImageChecksumError, match="sha512"):
        cache.get("img-1", disk_format="raw", hash_algo="sha512", hash_value="ab" * 64)
    assert _leftovers(cache) == []


def test_unknown_hash_algo(cache: ImageCache, store: Store) -> None:
    store.add("img-1", RAW)
    with pytest.raises(ImageCacheError, match="os_hash_algo"):
        cache.get("img-1", disk_format="raw", hash_algo="crc32", hash_value="00")


def test_failed_fetch_leaves_nothing(cache: ImageCache) -> None:
    with pytest.raises(ImageCacheError, match="download failed"):
        cache.get("missing", disk_format="raw")
    assert _leftovers(cache) == []


@needs_qemu_img
def test_declared_format_must_match(cache: ImageCache, store: Store, tmp_path: Path) -> None:
    qcow2 = tmp_path / "x.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qcow2), "16M"], check=True)
    store.add("img-q", qcow2.read_bytes())
    with pytest.raises(ImageContentError, match="qcow2"):
        cache.get("img-q", disk_format="raw")
    assert _leftovers(cache) == []
    got = cache.get("img-q", disk_format="qcow2")
    assert (got.format, got.virtual_size) == ("qcow2", 16 * 1024 * 1024)


@needs_qemu_img
def test_backing_file_is_refused(cache: ImageCache, store: Store, tmp_path: Path) -> None:
    base = tmp_path / "b.qcow2"
    top = tmp_path / "t.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "16M"], check=True)
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base), str(top)],
        check=True,
    )
    store.add("img-t", top.read_bytes())
    with pytest.raises(ImageContentError, match="backing"):
        cache.get("img-t", disk_format="qcow2")
    assert _leftovers(cache) == []


@needs_qemu_img
def test_vmdk_is_converted_to_raw(cache: ImageCache, store: Store, tmp_path: Path) -> None:
    raw = tmp_path / "d.raw"
    raw.write_bytes(RAW)
    vmdk = tmp_path / "d.vmdk"
    subprocess.run(
        ["qemu-img", "convert", "-q", "-f", "raw", "-O", "vmdk", str(raw), str(vmdk)], check=True
    )
    store.add("img-v", vmdk.read_bytes())
    got = cache.get("img-v", disk_format="vmdk")
    assert got.format == "raw"
    assert Path(got.path).read_bytes()[: len(RAW)] == RAW
    assert cache.get("img-v", disk_format="vmdk") == got


def test_one_download_under_concurrent_threads(tmp_path: Path) -> None:
    store = Store(tmp_path, delay=0.3)
    store.add("img-1", RAW)
    caches = [ImageCache(tmp_path / "_base", store.fetch) for _ in range(8)]
    results: list[str] = []
    errors: list[BaseException] = []

    def build(c: ImageCache) -> None:
        try:
            results.append(c.get("img-1", disk_format="raw").path)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(c,)) for c in caches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(results)) == 1 and len(results) == 8
    assert store.calls == ["img-1"]


def _build_in_child(base_dir: str, store_root: str, delay: float) -> None:
    store = Store(Path(store_root), delay=delay)
    ImageCache(base_dir, store.fetch).get("img-1", disk_format="raw")


def test_one_download_under_concurrent_processes(tmp_path: Path) -> None:
    store = Store(tmp_path, delay=0.3)
    store.add("img-1", RAW)
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_build_in_child, args=(str(tmp_path / "_base"), str(tmp_path), 0.3))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert store.fetch_count() == 1
    assert (tmp_path / "_base" / base_name("img-1")).read_bytes() == RAW


def _age(path: str | Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_cleanup_by_age_and_use(cache: ImageCache, store: Store) -> None:
    for name in ("used", "old", "recent"):
        store.add(name, RAW)
        cache.get(name, disk_format="raw")
    _age(cache.path_for("used"), 1000)
    _age(cache.path_for("old"), 1000)
    _age(cache.path_for("recent"), 10)
    stray = cache.base_dir / "not-a-base-file"
    stray.write_text("left alone")
    _age(stray, 1000)

    removed = cache.cleanup(["used"], max_age_s=100)
    assert removed == [str(cache.path_for("old"))]
    assert cache.has("used") and cache.has("recent") and not cache.has("old")
    assert stray.exists()
    # Being in use refreshed the file: once unused it gets the full age again.
    assert time.time() - cache.path_for("used").stat().st_mtime < 5
    assert cache.cleanup([], max_age_s=100) == []
    # An image used by a build (get) is young again.
    _age(cache.path_for("recent"), 1000)
    cache.get("recent", disk_format="raw")
    assert cache.cleanup([], max_age_s=100) == []
    assert store.calls.count("recent") == 1


def test_cleanup_skips_an_image_being_fetched(cache: ImageCache, store: Store) -> None:
    store.add("busy", RAW)
    cache.get("busy", disk_format="raw")
    _age(cache.path_for("busy"), 1000)
    with cache._lock(base_name("busy")):
        assert cache.cleanup([], max_age_s=100) == []
    assert cache.cleanup([], max_age_s=100) == [str(cache.path_for("busy"))]
    # The lock file went with it and a new download works.
    cache.get("busy", disk_format="raw")
    assert store.calls == ["busy", "busy"]


def test_cleanup_removes_stale_partial_downloads(cache: ImageCache) -> None:
    part = cache.base_dir / (base_name("dead") + ".part")
    part.write_bytes(b"half")
    assert cache.cleanup([], max_age_s=100) == []
    assert part.exists()  # young: may still be downloading
    _age(part, 7200)
    cache.cleanup([], max_age_s=100)
    assert not part.exists()
