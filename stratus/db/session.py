"""Engine and session factory for SQLite (embedded default) and MariaDB."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from stratus.conf import CONF


def create_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL mode and a busy timeout."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            url,
            connect_args={"timeout": CONF.database.sqlite_busy_timeout, "check_same_thread": False},
            # Busy services run many sessions at once: keep their connections (and the
            # pragmas below) instead of reopening one for each.
            pool_size=CONF.database.max_pool_size,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={CONF.database.sqlite_busy_timeout * 1000}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return sa.create_engine(
        url,
        pool_size=CONF.database.max_pool_size,
        pool_recycle=CONF.database.pool_recycle,
        pool_pre_ping=True,
        isolation_level="READ COMMITTED",
    )


class DatabaseForbidden(RuntimeError):
    """Raised in processes that must not touch the database (compute nodes)."""


_forbidden = False


def forbid() -> None:
    """Make every later database access in this process fail loudly."""
    global _forbidden
    _forbidden = True
    reset()


@functools.cache
def get_engine() -> Engine:
    if _forbidden:
        raise DatabaseForbidden(
            "this process has no database access: compute nodes reach "
            "the database only through the conductor"
        )
    return create_engine(CONF.database.connection)


@functools.cache
def _factory() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


def reset() -> None:
    """Forget the engine, e.g. after the configuration changed (tests, forks)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()
    _factory.cache_clear()


@contextlib.contextmanager
def transaction() -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error."""
    session = _factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
