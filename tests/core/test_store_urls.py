"""``server.db`` picks the backend for every command: a SQLite path or a ``postgresql://`` URL
(tests/scale/test_scale_cli.py runs the commands on PostgreSQL). A URL of any other kind is
refused with one clear line, never taken for a file name (no ``mysql:`` folder appears), and
never echoes a password."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from callport.config import ConfigError, load_settings
from callport.server.runtime import build_runtime
from callport.store.stores import StoreUrlError, db_url_problem, open_stores

CALLPORT = str(Path(sys.executable).parent / "callport")
BAD = "mysql://callport:hunter2@db.example/callport"


def test_a_url_that_is_not_postgresql_is_refused_by_the_opener() -> None:
    for url in (BAD, "sqlite:///x.db", "redis://127.0.0.1:6379/0", "http://x/"):
        with pytest.raises(StoreUrlError, match="not a database callport can use") as err:
            open_stores(url, owner="owner")
        assert "hunter2" not in str(err.value)
    assert db_url_problem("postgresql://u@h/db") is None
    assert db_url_problem("postgres://u@h/db") is None
    assert db_url_problem("relative/dir/callport.db") is None


def test_build_runtime_refuses_it_as_a_configuration_error(tmp_path: Path) -> None:
    settings = load_settings(None, env={"CALLPORT_DB": str(tmp_path / "ok.db")})
    bad = dataclasses.replace(settings, server=dataclasses.replace(settings.server, db=BAD))
    with pytest.raises(ConfigError, match="mysql://"):
        build_runtime(bad)


def test_configuration_refuses_it() -> None:
    with pytest.raises(ConfigError, match=r"server\.db: mysql:// is not a database"):
        load_settings(None, env={"CALLPORT_DB": BAD})


@pytest.mark.parametrize("args", [
    ("users", "list"), ("users", "add", "alice"), ("tokens", "list"), ("tasks", "list"),
    ("calls", "list", "--json"), ("voicemail", "list", "--json"),
    ("privacy", "erase", "--user", "alice", "--yes"), ("queues", "status"), ("serve",),
])  # fmt: skip
def test_every_data_command_refuses_a_bad_scheme_and_makes_no_folder(
        tmp_path: Path, args: tuple[str, ...]) -> None:
    env = {**os.environ, "CALLPORT_DB": BAD, "CALLPORT_CONFIG": "",
           "XDG_DATA_HOME": str(tmp_path / "data")}
    for how in ("env", "flag"):
        argv = [CALLPORT, *(["--db", BAD] if how == "flag" else []), *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path,
                              env=env if how == "env" else {**env, "CALLPORT_DB": ""})
        assert done.returncode == 2, (how, done.stdout, done.stderr)
        assert "mysql:// is not a database callport can use" in done.stderr
        assert "hunter2" not in done.stdout + done.stderr and "Traceback" not in done.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == [], how  # no mysql: folder


def test_where_shows_a_postgresql_url_without_its_password(tmp_path: Path) -> None:
    url = "postgresql://callport:hunter2@db.example:5432/callport"
    done = subprocess.run([CALLPORT, "where"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env={**os.environ, "CALLPORT_DB": url,
                                             "CALLPORT_CONFIG": "",
                                             "XDG_DATA_HOME": str(tmp_path / "data")})
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("database"))
    shown = "postgresql://callport:***@db.example:5432/callport (PostgreSQL)"
    assert line.split(None, 1)[1] == shown
    assert "hunter2" not in done.stdout and list(tmp_path.iterdir()) == []


def test_a_sqlite_path_opens_every_store_in_one_file(tmp_path: Path) -> None:
    async def go() -> None:
        db = open_stores(str(tmp_path / "sub" / "c.db"), owner="owner")
        try:
            assert db.backend == "sqlite"
            await db.users.add("alice", phones=["+14155550100"])
            await db.tasks.of("alice").add("buy bananas")
            with pytest.raises(ValueError, match="a user or a phone"):
                await db.erase(user=None, phone=None)
        finally:
            await db.close()
        again = open_stores(str(tmp_path / "sub" / "c.db"), owner="owner")
        try:
            assert [u.name for u in await again.users.list()] == ["alice"]
            assert [t.title for t in await again.tasks.of("alice").list()] == ["buy bananas"]
        finally:
            await again.close()

    asyncio.run(go())
