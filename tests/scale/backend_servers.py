"""Throwaway PostgreSQL and Redis servers on loopback, for the tests that run on both backends.

``postgres()`` and ``redis()`` start one server each per test process, the first time a test
asks (initdb into a temporary directory, then ``postgres`` on a free 127.0.0.1 port; or
``redis-server --save ''`` on a free port), and stop them by PID when the process exits. root
cannot run PostgreSQL, so as root the server runs as ``nobody``.

``make test`` installs the Debian packages (``postgresql``, ``redis-server``; see the
Makefile's ``APT_TEST_PACKAGES``). When a binary is missing the tests FAIL saying so, except
outside CI (``CI`` unset) with ``CALLPORT_TEST_NO_SERVERS=1``, where they are skipped.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadgen.ports import free_port

OPT_OUT = "CALLPORT_TEST_NO_SERVERS"
_started: dict[str, Server] = {}


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    home: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # PostgreSQL: "smart" shutdown; Redis: exits at once
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.home, ignore_errors=True)


def _missing(what: str, package: str) -> None:
    message = (f"{what} is not installed: `make test` installs the Debian package {package} "
               f"(apt-get install {package})")
    if os.environ.get(OPT_OUT) == "1" and not os.environ.get("CI"):
        pytest.skip(f"{message}; skipped because {OPT_OUT}=1")
    pytest.fail(f"{message}; outside CI, {OPT_OUT}=1 skips these tests", pytrace=False)


def _pg_bin() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                            key=lambda p: int(Path(p).parent.name), reverse=True):
        if Path(candidate, "initdb").is_file() and Path(candidate, "postgres").is_file():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found and Path(found).with_name("postgres").is_file() else None


def postgres() -> str:
    """The URL of this process's PostgreSQL server (database ``postgres``, user ``postgres``)."""
    if "pg" in _started:
        return _started["pg"].url
    bindir = _pg_bin()
    if bindir is None:
        _missing("PostgreSQL (initdb, postgres)", "postgresql")
        raise AssertionError("unreachable")
    try:
        import psycopg
    except ImportError:
        pytest.fail("psycopg is not installed: `make test` installs callport[postgres]",
                    pytrace=False)
    home = Path(tempfile.mkdtemp(prefix="callport-pg-"))
    as_root = os.geteuid() == 0
    user = "nobody" if as_root else None
    if as_root:
        shutil.chown(home, user="nobody")
    data = home / "data"
    subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                    "-E", "UTF8", "--no-sync", "--no-instructions"],
                   check=True, capture_output=True, user=user, cwd=home, timeout=120)  # fmt: skip
    port = free_port()
    log = open(home / "postgres.log", "wb")  # noqa: SIM115 - the server's lifetime
    proc = subprocess.Popen(
        [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(home),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
         "-c", "full_page_writes=off", "-c", "max_connections=200"],
        stdout=log, stderr=subprocess.STDOUT, user=user, cwd=home)  # fmt: skip
    server = Server(f"postgresql://postgres@127.0.0.1:{port}/postgres", proc, home)
    _started["pg"] = server
    for _ in range(300):  # bounded: up to ~30 s for the first start
        if proc.poll() is not None:
            break
        try:
            psycopg.connect(server.url, connect_timeout=2).close()
            return server.url
        except psycopg.OperationalError:
            time.sleep(0.1)
    text = (home / "postgres.log").read_text(errors="replace")[-2000:]
    _started.pop("pg").stop()
    pytest.fail(f"PostgreSQL did not start on port {port}:\n{text}", pytrace=False)


def redis() -> str:
    """The URL of this process's Redis server."""
    if "redis" in _started:
        return _started["redis"].url
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").is_file() else None)
    if binary is None:
        _missing("Redis (redis-server)", "redis-server")
        raise AssertionError("unreachable")
    home = Path(tempfile.mkdtemp(prefix="callport-redis-"))
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--daemonize", "no", "--dir", str(home)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=home)  # fmt: skip
    server = Server(f"redis://127.0.0.1:{port}/0", proc, home)
    _started["redis"] = server
    for _ in range(300):
        if proc.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return server.url
        except OSError:
            time.sleep(0.1)
    _started.pop("redis").stop()
    pytest.fail(f"redis-server did not start on port {port}", pytrace=False)


def fresh_schema(url: str) -> tuple[str, str]:
    """``(url, schema)``: a new empty schema on the server and a URL whose connections use it,
    so each test starts from nothing (and runs the migrations) without a new database."""
    import psycopg

    schema = f"t_{os.getpid()}_{time.monotonic_ns()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}".encode())
    return f"{url}?options=-csearch_path%3D{schema}", schema


def drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE".encode())


@atexit.register
def _stop_all() -> None:
    for server in _started.values():
        server.stop()
    _started.clear()
