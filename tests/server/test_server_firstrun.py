"""First run: ``callport serve`` creates the owner and prints a one-time sign-in link."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import httpx
import pytest
from server_support import add_user, callport_serve, client_of, runtime_at

from callport.server.firstrun import base_url, owner_signin_link
from callport.store.users import UserError
from loadgen.ports import free_port


def test_base_url_for_wildcard_and_v6_binds() -> None:
    assert base_url("127.0.0.1", 8080) == "http://127.0.0.1:8080"
    assert base_url("0.0.0.0", 80) == "http://localhost:80"
    assert base_url("::1", 8080) == "http://[::1]:8080"


def test_owner_link_is_fresh_each_start_and_stops_once_a_password_is_set(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path)
    first = asyncio.run(owner_signin_link(rt.settings, users=rt.users, tokens=rt.tokens))
    second = asyncio.run(owner_signin_link(rt.settings, users=rt.users, tokens=rt.tokens))
    assert first and second and first != second
    assert first.startswith("http://127.0.0.1:8080/login?token=cp_")
    owner = asyncio.run(rt.users.get("owner"))
    assert owner is not None and owner.has_role("admin")
    with client_of(rt) as client:
        path = second.split("8080", 1)[1]
        assert client.get(path).status_code == 200
        assert client.get("/api/me").json()["user"]["name"] == "owner"
    asyncio.run(rt.users.set_password("owner", "a long password"))
    assert asyncio.run(owner_signin_link(rt.settings, users=rt.users, tokens=rt.tokens)) is None


def test_missing_owner_among_other_users_is_reported(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path)
    add_user(rt, "alice")
    with pytest.raises(UserError, match=r"identity\.owner"):
        asyncio.run(owner_signin_link(rt.settings, users=rt.users, tokens=rt.tokens))


@pytest.mark.slow
def test_serve_prints_a_link_that_signs_the_owner_in(tmp_path: Path) -> None:
    port = free_port()
    with callport_serve(["--db", str(tmp_path / "c.db"), "serve", "--no-warmup", "--port",
                         str(port)], {}) as lines:
        link = next(m.group(1) for line in lines
                    if (m := re.search(r"sign in at (\S+)", line)))
        assert link.startswith(f"http://127.0.0.1:{port}/login?token=cp_")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(200):
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    threading.Event().wait(0.05)
            assert client.get("/api/tasks/").status_code == 401
            r = client.get(link)
            assert r.status_code == 200 and "callport_session" in client.cookies
            assert client.get("/api/me").json()["user"]["name"] == "owner"
            assert client.get("/api/tasks/").json() == []
        with httpx.Client() as stranger:
            assert stranger.get(link).status_code == 401  # one time only
