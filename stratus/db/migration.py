"""Schema migrations: ``stratus-manage db sync`` and ``db version``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(engine: Engine, connection=None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def sync(engine: Engine, revision: str = "heads") -> None:
    """Upgrade the schema to ``revision``; a no-op when it is already there."""
    with engine.begin() as connection:
        command.upgrade(_config(engine, connection), revision)


def current(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head() -> str:
    return ScriptDirectory.from_config(_config(None)).get_current_head()  # type: ignore[arg-type]


def autogenerate(engine: Engine, message: str) -> None:
    """Developer helper: write a new revision from the difference to the models."""
    with engine.begin() as connection:
        command.revision(_config(engine, connection), message=message, autogenerate=True)
