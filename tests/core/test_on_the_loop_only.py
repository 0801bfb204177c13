"""``--on-the-loop-only`` (the asyncio rerun of ``make test``) keeps every test the event loop
option changes and drops only plain tests: a coroutine test and a plain test with an async
fixture stay, a plain test (even one that runs ``asyncio.run`` itself) goes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

SAMPLE = '''
import asyncio
import pytest


@pytest.fixture
async def served():
    yield 1


async def test_a_coroutine():
    await asyncio.sleep(0)


def test_plain_with_an_async_fixture(served):
    assert served == 1


def test_plain():
    assert asyncio.run(asyncio.sleep(0, 2)) == 2
'''


def _collected(tmp_path: Path, *args: str) -> set[str]:
    shutil.copy(Path(__file__).resolve().parents[1] / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {line.split("::")[1] for line in proc.stdout.splitlines() if "::" in line}


def test_the_option_keeps_what_the_loop_changes(tmp_path: Path) -> None:
    assert _collected(tmp_path, "--on-the-loop-only") == {
        "test_a_coroutine", "test_plain_with_an_async_fixture"}


def test_without_it_every_test_runs(tmp_path: Path) -> None:
    assert _collected(tmp_path) == {
        "test_a_coroutine", "test_plain_with_an_async_fixture", "test_plain"}
