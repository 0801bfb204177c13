"""`callport talk` with an agent that raises (the README's first draft had `my_llm`
undefined): the caller hears an apology, the error is shown, and talk exits 1 - on the real
speech stack (espeak-ng caller speech, Whisper, Piper/espeak)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BOT = """\
from callport.agents.base import Say

class Broken:
    greeting = "Hello."

    async def respond(self, event):
        yield Say(await my_llm(event.text))  # my_llm is not defined

    def interrupted(self, heard):
        pass

def make_agent(info):
    return Broken()
"""


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
def test_talk_exits_1_and_shows_the_agent_error(tmp_path: Path) -> None:
    (tmp_path / "brokenbot.py").write_text(BOT)
    wav = tmp_path / "q.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav),
                    "what are your hours"], check=True, timeout=30)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPORT_")}
    proc = subprocess.run(
        [sys.executable, "-m", "callport.cli", "--db", str(tmp_path / "t.db"), "talk",
         "--agent", "brokenbot:make_agent", "--out", str(tmp_path / "out.wav"), str(wav)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "NameError: name 'my_llm' is not defined" in proc.stderr
    assert "callport: the agent failed mid-call" in proc.stderr
    assert "Sorry, something went wrong" in proc.stdout  # the reply the caller heard
    assert (tmp_path / "out.wav").stat().st_size > 16000  # greeting + apology audio
