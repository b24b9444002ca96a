"""Direct database sessions for tests that play the part of another service."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy.orm import Session

from stratus.db.session import create_engine


@contextlib.contextmanager
def session_for(url: str) -> Iterator[Session]:
    engine = create_engine(url)
    try:
        with Session(engine) as session, session.begin():
            yield session
    finally:
        engine.dispose()
