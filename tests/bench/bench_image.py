"""Image API data throughput: numbers, not pass/fail.

    python tests/bench/bench_image.py [--size-mib 1024] [--runs 1]

Starts a control plane (stratus-api on SQLite), writes a file of random data in
its work directory, and times on that one disk: ``cp`` + ``sync`` of the file,
the upload through ``PUT /image/v2/images/{id}/file`` (httpx streaming from the
file) and the download (streamed to a file, then fsync); then, if ``curl`` is
installed, the same two transfers with curl, whose own CPU cost is lower. Prints
MB/s for each and its ratio to ``cp``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.cloud import ControlPlane  # noqa: E402

MIB = 1 << 20
V2 = "/image/v2"


def _seconds(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def _write_random(path: Path, size_mib: int) -> None:
    with open(path, "wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(MIB))
        f.flush()
        os.fsync(f.fileno())


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(4 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def run(cloud: ControlPlane, source: Path, size: int) -> dict[str, float]:
    work = cloud.workdir
    copy, downloaded = work / "copy.bin", work / "download.bin"
    curl = shutil.which("curl")
    with cloud.client() as client:
        client.timeout = httpx.Timeout(600)
        token = client.headers["X-Auth-Token"]

        def new_image() -> str:
            created = client.post(
                f"{V2}/images",
                json={"name": "bench", "disk_format": "raw", "container_format": "bare"},
            )
            created.raise_for_status()
            return created.json()["id"]

        image_id = new_image()
        file_url = f"{cloud.url}{V2}/images/{image_id}/file"

        def cp() -> None:
            subprocess.run(["cp", str(source), str(copy)], check=True)
            subprocess.run(["sync", str(copy)], check=True)

        def upload() -> None:
            with open(source, "rb") as data:
                response = client.put(
                    file_url, content=data, headers={"Content-Type": "application/octet-stream"}
                )
            response.raise_for_status()

        def download() -> None:
            with client.stream("GET", file_url) as response, open(downloaded, "wb") as out:
                response.raise_for_status()
                for chunk in response.iter_raw(MIB):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())

        seconds = {"cp": _seconds(cp), "upload": _seconds(upload), "download": _seconds(download)}
        image = client.get(f"{V2}/images/{image_id}").json()
        if image["size"] != size or image["checksum"] != _md5(source):
            raise SystemExit(f"stored image does not match the source: {image}")
        if downloaded.stat().st_size != size:
            raise SystemExit("downloaded file has the wrong size")
        if curl:
            # The same transfers with a client that costs the machine less CPU.
            curl_id = new_image()
            auth = ["-H", f"X-Auth-Token: {token}"]
            seconds["upload (curl)"] = _seconds(
                lambda: subprocess.run(
                    [
                        curl,
                        "-sfS",
                        "-o",
                        "/dev/null",
                        "-T",
                        str(source),
                        *auth,
                        "-H",
                        "Content-Type: application/octet-stream",
                        f"{cloud.url}{V2}/images/{curl_id}/file",
                    ],
                    check=True,
                )
            )
            seconds["download (curl)"] = _seconds(
                lambda: subprocess.run(
                    f"{curl} -sfS -o {downloaded} -H 'X-Auth-Token: {token}' {file_url} && "
                    f"sync {downloaded}",
                    shell=True,
                    check=True,
                )
            )
            client.delete(f"{V2}/images/{curl_id}").raise_for_status()
        client.delete(f"{V2}/images/{image_id}").raise_for_status()
    copy.unlink()
    downloaded.unlink()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=1, help="repeat and keep the best of each")
    args = parser.parse_args()
    size = args.size_mib * MIB
    cloud = ControlPlane()
    cloud.start()
    try:
        source = cloud.workdir / "source.bin"
        _write_random(source, args.size_mib)
        best: dict[str, float] = {}
        for _ in range(args.runs):
            for case, secs in run(cloud, source, size).items():
                best[case] = min(best.get(case, secs), secs)
        source.unlink()
    finally:
        cloud.stop()
        shutil.rmtree(cloud.workdir, ignore_errors=True)
    rates = {case: size / secs / 1e6 for case, secs in best.items()}
    results = [
        {
            "case": case,
            "seconds": round(best[case], 2),
            "mb_per_s": round(rates[case], 1),
            "vs_cp": round(rates[case] / rates["cp"], 2),
        }
        for case in best
    ]
    print(json.dumps({"size_mib": args.size_mib, "runs": args.runs, "results": results}))
    for row in results:
        print(
            f"{row['case']:<16} {row['seconds']:>7}s {row['mb_per_s']:>8} MB/s "
            f"{row['vs_cp']:>6.0%} of cp"
        )


if __name__ == "__main__":
    main()
