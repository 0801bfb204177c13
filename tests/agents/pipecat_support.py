"""The Pipecat bot (tests/agents/pipecat_bot/bot.py) in its own venv (.venv-pipecat, made by
``make install-test``): started once per test module on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadgen.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
PIPECAT_PY = ROOT / ".venv-pipecat" / "bin" / "python"
BOT = Path(__file__).resolve().parent / "pipecat_bot" / "bot.py"

needs_pipecat = pytest.mark.skipif(
    not PIPECAT_PY.exists() and not os.environ.get("CI"),
    reason="needs .venv-pipecat (make install-test)")


class PipecatBot:
    def __init__(self, proc: subprocess.Popen[str], port: int, log: Path) -> None:
        self.proc = proc
        self.url = f"ws://127.0.0.1:{port}/ws"
        self._log = log

    def output(self) -> str:
        return self._log.read_text(errors="replace")


@pytest.fixture(scope="module")
def pipecat_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipecatBot]:
    port = free_port()
    log = tmp_path_factory.mktemp("pipecat") / "bot.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(PIPECAT_PY), str(BOT), "--port", str(port)], stdout=out,
                                stderr=subprocess.STDOUT, text=True)
    bot = PipecatBot(proc, port, log)
    try:
        deadline = time.monotonic() + 60  # importing pipecat takes a few seconds
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError as exc:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the pipecat bot did not start:\n{bot.output()}") from exc
                time.sleep(0.2)
        yield bot
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
