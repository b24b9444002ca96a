"""Fixtures shared by every test tier."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.cloud import ControlPlane
from tests.support.mariadb import MariaDBServer


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
