"""Migrations build the schema the models describe, idempotently, on both databases."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from stratus.db import migration
from stratus.db.models import Base
from stratus.db.session import create_engine
from tests.conftest import database_url


@pytest.mark.parametrize("backend", ["sqlite", "mariadb"])
def test_sync_matches_models(backend: str, request: pytest.FixtureRequest, tmp_path) -> None:
    url = database_url(backend, request, "stratus_migrations") or f"sqlite:///{tmp_path}/m.db"
    engine = create_engine(url)
    try:
        assert migration.current(engine) is None
        migration.sync(engine)
        migration.sync(engine)
        assert migration.current(engine) == migration.head()
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()
