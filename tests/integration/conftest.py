"""Session fixtures for the cluster tests: throwaway redis-server, PostgreSQL and the nginx binary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.services import PostgresCluster, RedisServer, find_binary


@pytest.fixture(scope="session")
def redis_binary() -> str:
    """Path of redis-server (installed by `make test`)."""
    binary = find_binary("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run `make test`, which installs it")
    return binary


@pytest.fixture(scope="session")
def nginx_binary() -> str:
    """Path of nginx (installed by `make test`)."""
    binary = find_binary("nginx", "/usr/sbin/nginx")
    if binary is None:
        pytest.fail("nginx is not installed: run `make test`, which installs it")
    return binary


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory, redis_binary: str) -> Iterator[RedisServer]:
    """One redis-server on a free loopback port, without persistence."""
    server = RedisServer(tmp_path_factory.mktemp("redis"), redis_binary).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster made by initdb, listening on a free loopback port."""
    bindir = find_binary("pg_ctl", "/usr/lib/postgresql/*/bin/pg_ctl")
    if bindir is None:
        pytest.fail("PostgreSQL is not installed: run `make test`, which installs it")
    # Debian keeps initdb and friends next to the real pg_ctl, not on PATH.
    cluster = PostgresCluster(str(Path(bindir).resolve().parent)).start()
    yield cluster
    cluster.stop()
