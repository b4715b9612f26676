"""Store fixtures: one contract suite runs against SQLite and a real PostgreSQL.

PostgreSQL is started once per session from the installed binaries; each test gets a
fresh schema in it.  Without the binaries the PostgreSQL tests skip (saying how to
install them), except under CI=true, where they fail.
"""
from __future__ import annotations

import itertools
import os

import pytest

from blastwall.store.base import open_store
from tests.store.pgserver import INSTALL_HINT, PgServer, find_bindir

_db_names = itertools.count(1)


def require_pg_bindir():
    bindir = find_bindir()
    if bindir is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{INSTALL_HINT} (CI=true: the PostgreSQL tests must run, not skip)")
        pytest.skip(INSTALL_HINT)
    return bindir


@pytest.fixture(scope="session")
def pg_server():
    server = PgServer(require_pg_bindir())
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def pg_url(pg_server):
    return pg_server.create_schema(f"t{next(_db_names)}")


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def open_replica(store_url):
    """Open (and migrate) another Store on the same database: a second replica."""
    opened = []

    def open_():
        s = open_store(store_url)
        opened.append(s)
        s.migrate()
        return s

    yield open_
    for s in opened:
        s.close()


@pytest.fixture
def store(open_replica):
    return open_replica()
