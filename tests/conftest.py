"""Shared fixtures. Storage tests run twice: on SQLite and on the local PostgreSQL server.

PostgreSQL: each test session creates its own database on ``CITYOPS_TEST_PG`` (default: the local
server, user postgres, maintenance database ``test``) and drops it at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from cityops.services.cache import invalidate_all
from cityops.store.db import make_engine, session_factory
from cityops.store.migrate import upgrade
from cityops.store.schema import Base

PG_ADMIN_URL = os.environ.get(
    "CITYOPS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]


def _pg_conninfo(url: str) -> str:
    u = make_url(url)
    return f"host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}"


class PgDatabases:
    """Creates and drops throw-away PostgreSQL databases next to the admin database."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    def create(self) -> str:
        name = f"cityops_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(_pg_conninfo(self.admin_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with psycopg.connect(_pg_conninfo(self.admin_url), autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    dbs = PgDatabases(PG_ADMIN_URL)
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session")
def fresh_db_url(pg_databases: PgDatabases, tmp_path_factory: pytest.TempPathFactory) -> object:
    """A factory: ``fresh_db_url(backend)`` returns the URL of a new, empty database."""

    def make(backend: str) -> str:
        if backend == "sqlite":
            path = tmp_path_factory.mktemp("db") / "cityops.db"
            return f"sqlite:///{path}"
        return pg_databases.create()

    return make


@pytest.fixture(scope="session", params=BACKENDS)
def engine(request: pytest.FixtureRequest, fresh_db_url: object) -> Iterator[Engine]:
    """A migrated database per backend, shared by the session's storage tests."""
    url = fresh_db_url(request.param)  # type: ignore[operator]
    eng = make_engine(url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Session factory on a database emptied after the test."""
    yield session_factory(engine)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(delete(table))
    invalidate_all()  # cached indexes, calendars and rules of the emptied database


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One session; the test commits (or not) as the code under test would."""
    with sessions() as s:
        yield s


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "var"
    d.mkdir()
    return d
