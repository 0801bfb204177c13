"""The suite's ``--event-loop`` option (tests/conftest.py) really picks the loop: the SIP
tests under ``--event-loop=uvloop`` run on uvloop, as ``callport serve`` does (uvicorn's
``loop="auto"`` takes uvloop when it is installed)."""

from __future__ import annotations

import asyncio

import pytest


async def test_the_loop_is_the_one_asked_for(pytestconfig: pytest.Config) -> None:
    loop = asyncio.get_running_loop()
    on_uvloop = type(loop).__module__.startswith("uvloop")
    assert on_uvloop == (pytestconfig.getoption("--event-loop") == "uvloop")

