"""Logs keep secrets out (tokens in URLs, bearer credentials, PINs), carry the call id, and can
be JSON; what the caller said is DEBUG only while the agent's replies are INFO."""

from __future__ import annotations

import io
import json
import logging

import pytest
from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS, tone

from callport.config import ServerSettings, Settings
from callport.logs import REDACTED, current_call_id, make_handler, redact
from callport.server.runtime import Runtime
from callport.store.calls import MemoryCallStore
from callport.store.memory_users import MemoryUserStore
from callport.store.tasks import MemoryTaskLists
from callport.talk import run_talk


@pytest.mark.parametrize(("line", "secret"), [
    ('127.0.0.1:5000 - "GET /login?token=cp_12_abcdEF-xyz HTTP/1.1" 200', "cp_12_abcdEF-xyz"),
    ('"GET /browser/ws?call=1&token=eyJhbGciOi.x.y HTTP/1.1" 101', "eyJhbGciOi.x.y"),
    ("Authorization: Bearer cp_3_s3cr3t", "s3cr3t"),
    ("posted pin=2468 and password=hunter2", "2468"),
    ("sign in at http://127.0.0.1:8080/login?token=cp_1_zzz", "cp_1_zzz"),
])
def test_secrets_are_redacted(line: str, secret: str) -> None:
    clean = redact(line)
    assert secret not in clean and REDACTED in clean


def _capture(fmt: str) -> tuple[logging.Logger, io.StringIO]:
    handler = make_handler(fmt)
    out = io.StringIO()
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    logger = logging.getLogger(f"test.logs.{fmt}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, out


def test_uvicorn_style_access_log_args_are_redacted_too() -> None:
    logger, out = _capture("text")
    token = current_call_id.set("call-7")
    try:
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET",
                    "/login?token=cp_9_secret", "1.1", 200)
    finally:
        current_call_id.reset(token)
    text = out.getvalue()
    assert "cp_9_secret" not in text and "token=[redacted]" in text and "call=call-7" in text


def test_json_format_is_one_object_per_line() -> None:
    logger, out = _capture("json")
    logger.warning("call %s: agent replied %r", "c1", "Added: buy milk.")
    [line] = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["level"] == "warning" and record["message"].endswith("'Added: buy milk.'")
    assert set(record) >= {"time", "logger", "call_id", "message"}


async def test_caller_words_are_debug_and_agent_replies_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = Runtime(settings=Settings(server=ServerSettings(db=":memory:")),
                      calls=MemoryCallStore(), users=MemoryUserStore(), tasks=MemoryTaskLists(),
                      stt=ScriptedSTT(["my secret plans"]), tts=ToneTTS(), vad=EnergyVad(),
                      agent_factory=lambda info: EchoTextAgent())  # type: ignore[arg-type]  # fmt: skip
    with caplog.at_level(logging.INFO):
        await run_talk(runtime, [(tone(0.4, 16000), 16000)])
    info = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert not any("my secret plans'" in m and "said" in m for m in info), info
    assert any("agent replied" in m and "You said my secret plans" in m for m in info)
    assert any(": started on" in m for m in info) and any(": ended (" in m for m in info)
