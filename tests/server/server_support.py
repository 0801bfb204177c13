"""The assembled app on a temporary SQLite database, with users and signed-in clients."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from starlette.testclient import TestClient

from callport.config import Settings, load_settings
from callport.server.app import create_app
from callport.server.runtime import Runtime, build_runtime
from callport.types import User

CALLPORT = str(Path(sys.executable).parent / "callport")
BASE = "http://localhost:8080"  # a default allowed Host (TestClient's "testserver" is not)
ORIGIN = BASE
JSON_ORIGIN = {"origin": ORIGIN}


def runtime_at(tmp_path: Path, env: dict[str, str] | None = None) -> Runtime:
    settings: Settings = load_settings(None, env={"CALLPORT_DB": str(tmp_path / "t.db"),
                                                  **(env or {})})
    return build_runtime(settings)


def client_of(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime), base_url=BASE)


def add_user(runtime: Runtime, name: str, *, password: str | None = None,
             roles: Iterable[str] = ("user",)) -> User:
    return asyncio.run(runtime.users.add(name, password=password, roles=roles))


def session_secret(runtime: Runtime, name: str, *, ttl_s: float = 3600.0) -> str:
    issued = asyncio.run(runtime.tokens.create(name, kind="session", ttl_s=ttl_s,
                                               now=time.time()))
    return issued.secret


def api_token(runtime: Runtime, name: str) -> str:
    return asyncio.run(runtime.tokens.create(name, kind="api", now=time.time())).secret


def sign_in(client: TestClient, runtime: Runtime, name: str) -> str:
    """Give ``client`` a live session cookie for ``name`` (made if new); returns the secret."""
    if asyncio.run(runtime.users.get(name)) is None:
        add_user(runtime, name)
    secret = session_secret(runtime, name)
    client.cookies.set("callport_session", secret)
    return secret


def titles(client: TestClient, **kw: object) -> list[str]:
    r = client.get("/api/tasks/", **kw)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    return [t["title"] for t in r.json()]


@contextmanager
def callport_serve(args: list[str], env: dict[str, str]) -> Iterator[list[str]]:
    """``callport ARGS`` (a ``serve``) with ``env`` over this environment, until uvicorn
    serves; yields its stderr lines so far; stopped with SIGTERM (then killed) on exit."""
    proc = subprocess.Popen([CALLPORT, *args], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CALLPORT_TURN_VAD": "webrtc", **env})
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "Uvicorn running" in line:
                started.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert started.wait(60), "callport did not start serving:\n" + "".join(lines)
        yield lines
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
