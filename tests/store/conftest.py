"""The store contract suites also run on PostgreSQL: ``pg_url`` is a fresh, empty schema on a
throwaway server (tests/scale/backend_servers.py; ``make test`` installs the packages)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "scale"))

import backend_servers


@pytest.fixture
def pg_url() -> Iterator[str]:
    server = backend_servers.postgres()
    url, schema = backend_servers.fresh_schema(server)
    yield url
    backend_servers.drop_schema(server, schema)
