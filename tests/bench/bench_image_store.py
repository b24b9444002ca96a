"""Image file store throughput: numbers, not pass/fail.

    python tests/bench/bench_image_store.py [--size-mib 1024] [--dir DIR]

Streams a file of the given size into a ``FileStore`` (sync ``add`` and
``add_async``), and compares with ``cp`` + ``sync`` of the same file on the
same disk and with hashing alone (MD5 + SHA-512), the store's other cost.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from stratus.image.store import FileStore, iter_file

MIB = 1 << 20


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _timed(label: str, size: int, func: Callable[[], object]) -> dict[str, float | str]:
    start_rss = _rss()
    start = time.perf_counter()
    func()
    seconds = time.perf_counter() - start
    return {
        "case": label,
        "seconds": round(seconds, 2),
        "mb_per_s": round(size / seconds / 1e6, 1),
        "rss_growth_mib": round((_rss() - start_rss) / MIB, 1),
    }


def _hash_only(source: Path, chunk: int) -> None:
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha512()
    for data in iter_file(source, chunk):
        md5.update(data)
        sha.update(data)


async def _achunks(source: Path, chunk: int) -> AsyncIterator[bytes]:
    for data in iter_file(source, chunk):
        yield data
        await asyncio.sleep(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--chunk-kib", type=int, default=64, help="upload chunk size")
    parser.add_argument("--dir", default=None, help="directory on the disk to measure")
    args = parser.parse_args()

    size = args.size_mib * MIB
    chunk = args.chunk_kib * 1024
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        source = work / "source.img"
        # Random data written once, so neither side reads holes.
        with open(source, "wb") as f:
            block = os.urandom(MIB)
            for _ in range(args.size_mib):
                f.write(block)
        store = FileStore(work / "images", size_cap=size)
        results = []

        def cp() -> None:
            subprocess.run(["cp", str(source), str(work / "copy")], check=True)
            subprocess.run(["sync", str(work / "copy")], check=True)

        results.append(_timed("cp + sync", size, cp))
        results.append(_timed("md5+sha512 only", size, lambda: _hash_only(source, chunk)))
        results.append(
            _timed("FileStore.add", size, lambda: store.add("bench", iter_file(source, chunk)))
        )
        store.delete("bench")
        results.append(
            _timed(
                "FileStore.add_async",
                size,
                lambda: asyncio.run(store.add_async("bench", _achunks(source, chunk))),
            )
        )
        store.delete("bench")
        shutil.rmtree(work / "images", ignore_errors=True)
    print(json.dumps({"size_mib": args.size_mib, "chunk_kib": args.chunk_kib, "results": results}))
    for row in results:
        print(f"{row['case']:<22} {row['seconds']:>7}s {row['mb_per_s']:>8} MB/s")


if __name__ == "__main__":
    main()
