"""Fixtures for the image tests: real image files made by qemu-img."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

QEMU_IMG = shutil.which("qemu-img")


def qemu_img(*args: str, cwd: Path) -> str:
    if QEMU_IMG is None:
        pytest.skip("qemu-img is not installed (Debian package qemu-utils)")
    done = subprocess.run([QEMU_IMG, *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


MakeImage = Callable[..., Path]


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("images")


@pytest.fixture(scope="session")
def make_image(image_dir: Path) -> MakeImage:
    """``make_image(name, fmt, size, *options)``: ``qemu-img create`` once per name."""

    def make(name: str, fmt: str, size: str, *options: str) -> Path:
        path = image_dir / name
        if not path.exists():
            qemu_img("create", "-q", "-f", fmt, *options, name, size, cwd=image_dir)
        return path

    return make


@pytest.fixture(scope="session")
def virtual_size(image_dir: Path) -> Callable[[Path, str], int]:
    """What ``qemu-img info -f FMT`` says a file's virtual size is."""

    def info(path: Path, fmt: str) -> int:
        out = qemu_img("info", "--output=json", "-f", fmt, str(path), cwd=image_dir)
        return int(json.loads(out)["virtual-size"])

    return info
