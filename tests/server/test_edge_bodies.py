"""Request bodies are bounded before they are read, on every POST the assembled app serves.

Driven at the ASGI level on the real ``create_app`` (every channel's routes): the test's
``receive`` counts what the app pulled, so "rejected before reading" is observed, not assumed.
Before ``server.limits`` every webhook, ``/api/tasks`` and ``/browser/offer`` read the whole
body first (+350 MB per 200 MB request).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from server_support import add_user, api_token, runtime_at

from callport.server.app import create_app
from callport.server.runtime import Runtime

LIMIT = 64 * 1024  # limits.body_bytes default
CHUNK = 16 * 1024
HUGE = 10 * 1024 * 1024

POSTS = [
    "/twilio/voice", "/twilio/status", "/twilio/after", "/twilio/calls",
    "/telnyx/webhook", "/telnyx/texml",
    "/api/tasks", "/api/tasks/", "/browser/offer", "/browser/token", "/browser/embed/grant",
    "/login", "/api/me/password", "/api/calls", "/logout",
]


class Client:
    """One request through the app; records what the app pulled and what it answered."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def post(self, path: str, *, chunks: int, declared: int | None,
                   token: str) -> tuple[int, int, dict[str, Any]]:
        headers = [(b"host", b"localhost:8080"), (b"content-type", b"application/json"),
                   (b"origin", b"http://localhost:8080"),
                   (b"authorization", f"Bearer {token}".encode())]
        if declared is not None:
            headers.append((b"content-length", str(declared).encode()))
        else:
            headers.append((b"transfer-encoding", b"chunked"))
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "root_path": "", "query_string": b"", "headers": headers,
                 "client": ("127.0.0.1", 50000), "server": ("localhost", 8080)}
        pulled = 0
        sent = 0
        answer: dict[str, Any] = {}

        async def receive() -> dict[str, Any]:
            nonlocal pulled, sent
            if sent >= chunks:
                await asyncio.sleep(3600)  # only http.disconnect would come now
            sent += 1
            body = b"[" * CHUNK
            pulled += len(body)
            return {"type": "http.request", "body": body, "more_body": sent < chunks}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answer["body"] = answer.get("body", b"") + message.get("body", b"")

        await asyncio.wait_for(self.app(scope, receive, send), 20)
        return int(answer["status"]), pulled, answer


@pytest.fixture
def app_and_token(tmp_path: Path) -> tuple[Any, str, Runtime]:
    runtime = runtime_at(tmp_path, env={"CALLPORT_TWILIO_AUTH_TOKEN": "f" * 32})
    add_user(runtime, "root", roles=("admin",))
    return create_app(runtime), api_token(runtime, "root"), runtime


@pytest.mark.parametrize("path", POSTS)
async def test_an_oversize_content_length_is_413_before_a_byte_is_read(
        app_and_token: tuple[Any, str, Runtime], path: str) -> None:
    app, token, _ = app_and_token
    status, pulled, answer = await Client(app).post(path, chunks=HUGE // CHUNK, declared=HUGE,
                                                    token=token)
    assert status == 413, answer
    assert pulled == 0
    assert "larger than" in json.loads(answer["body"])["error"]


@pytest.mark.parametrize("path", POSTS)
async def test_a_chunked_body_is_cut_off_at_the_limit(
        app_and_token: tuple[Any, str, Runtime], path: str) -> None:
    app, token, _ = app_and_token
    status, pulled, answer = await Client(app).post(path, chunks=HUGE // CHUNK, declared=None,
                                                    token=token)
    assert status < 500, answer  # cut off (413), refused before reading, or never read
    assert pulled <= LIMIT + CHUNK, f"{path} read {pulled} bytes of a {HUGE}-byte body"


async def test_a_chunked_body_the_app_reads_gets_413(
        app_and_token: tuple[Any, str, Runtime]) -> None:
    app, token, _ = app_and_token
    status, pulled, answer = await Client(app).post("/api/tasks", chunks=HUGE // CHUNK,
                                                    declared=None, token=token)
    assert (status, pulled) == (413, LIMIT + CHUNK), answer


async def test_a_body_within_the_limit_still_works(
        app_and_token: tuple[Any, str, Runtime]) -> None:
    app, token, _ = app_and_token
    status, _, answer = await Client(app).post("/api/tasks", chunks=1, declared=CHUNK,
                                               token=token)
    assert status == 400, answer  # read whole and refused as JSON: not a size problem
    assert "nested deeper" in json.loads(answer["body"])["error"]


def test_an_unreadable_content_length_is_refused() -> None:
    # Two different lengths (request smuggling), signs and junk: 400 before reading.
    from callport.server.limits import _content_length

    assert _content_length({"headers": [(b"content-length", b"5"),
                                        (b"content-length", b"6")]}) == "bad"
    assert _content_length({"headers": [(b"content-length", b"-1")]}) == "bad"
    assert _content_length({"headers": [(b"content-length", b"9" * 40)]}) == "bad"
    assert _content_length({"headers": [(b"content-length", b"12")]}) == 12
    assert _content_length({"headers": []}) is None
