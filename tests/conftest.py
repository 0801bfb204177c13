"""Suite-wide options: ``--event-loop=uvloop`` runs every asyncio test on uvloop.

``callport serve`` runs on uvicorn's default loop, which is uvloop when it is installed
(``loop="auto"``), so the SIP driver's timers and sockets must behave the same on both. The
default stays asyncio; ``CALLPORT_TEST_LOOP=uvloop`` does the same as the option (a CI step:
``pytest tests/sip tests/fuzz --event-loop=uvloop``)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--event-loop", choices=("asyncio", "uvloop"),
                     default=os.environ.get("CALLPORT_TEST_LOOP", "asyncio"),
                     help="event loop for asyncio tests (callport serve uses uvloop)")


def pytest_asyncio_loop_factories(config: pytest.Config,
                                  item: pytest.Item) -> Mapping[str, Callable[[], Any]]:
    if config.getoption("--event-loop") == "uvloop":
        import uvloop

        return {"uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}


def pytest_report_header(config: pytest.Config) -> str:
    return f"event loop: {config.getoption('--event-loop')}"
