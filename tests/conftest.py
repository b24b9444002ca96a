"""Fixtures shared by every test tier."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cloud import ControlPlane
from tests.support.libvirtd import ensure_libvirtd
from tests.support.mariadb import MariaDBServer
from tests.support.rabbitmq import RabbitMQServer


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDBServer]:
    """One real MariaDB server (Debian's package) for the whole run."""
    server = MariaDBServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session", params=["sqlite", "mariadb"])
def db_backend(request: pytest.FixtureRequest) -> str:
    return request.param


def database_url(backend: str, request: pytest.FixtureRequest, name: str) -> str | None:
    """A fresh database on ``backend``; None means the control plane's own SQLite file."""
    if backend == "sqlite":
        return None
    return request.getfixturevalue("mariadb").create_database(name)


@pytest.fixture(scope="module")
def control_plane(db_backend: str, request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    """stratus-api as a process, bootstrapped, on SQLite or on MariaDB."""
    name = f"stratus_{request.module.__name__.rsplit('.', 1)[-1]}"
    cloud = ControlPlane(database_url(db_backend, request, name))
    cloud.start()
    yield cloud
    cloud.stop()


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[RabbitMQServer]:
    """One real RabbitMQ broker (Debian's package) as a private node for the run."""
    server = RabbitMQServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def libvirtd() -> None:
    """libvirtd and virtlogd running, started by hand where there is no systemd."""
    ensure_libvirtd()


@pytest.fixture(scope="session")
def tiny_images() -> Path:
    """The bootable test images, built from Debian packages (cached between runs)."""
    cache = ROOT / "tests/images/cache"
    subprocess.run([str(ROOT / "tests/images/build-tiny-image"), str(cache)], check=True)
    return cache
