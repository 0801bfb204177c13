"""End to end: two users through `callport talk --caller`, on the real embedded stack
(Silero VAD, Whisper, MiniLM intents, SQLite) with espeak-ng caller speech.

alice has a PIN and says it ("one two three four"); bob has none. Each adds a task and lists
the list: each hears only their own task, and `callport tasks list --user` agrees. Three wrong
PINs as keypad tones (`--phone`: in-band DTMF) end alice's next call politely.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callport.audio.tones import dtmf_sequence
from callport.audio.wav import write_wav

pytestmark = pytest.mark.slow

ALICE, BOB = "+15550001111", "+15550002222"


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callport.cli", *args], env=env,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip


def _speak(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(path), text],
                   check=True, timeout=30)  # fmt: skip
    return path


def _talk(env: dict[str, str], *args: str) -> dict[str, Any]:
    proc = _cli("talk", "--json", *args, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _titles(env: dict[str, str], user: str) -> list[str]:
    proc = _cli("tasks", "list", "--user", user, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return [t["title"] for t in json.loads(proc.stdout)]


def test_two_users_each_see_only_their_own_tasks(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    env = {**os.environ, "CALLPORT_DB": str(tmp_path / "t.db"), "CALLPORT_CONFIG": "",
           "CALLPORT_SPEECH_TTS": "espeak"}  # fmt: skip
    for args in (["alice", "--phone", ALICE, "--pin", "1234"], ["bob", "--phone", BOB]):
        proc = _cli("users", "add", *args, env=env)
        assert proc.returncode == 0, proc.stderr
    pin = _speak(tmp_path, "pin", "one two three four")
    milk = _speak(tmp_path, "milk", "Add a task to buy milk.")
    dog = _speak(tmp_path, "dog", "Add a task to walk the dog.")
    listing = _speak(tmp_path, "list", "What is on my list?")

    alice = _talk(env, "--caller", ALICE, str(pin), str(milk), str(listing))
    assert alice["user"] == "alice", alice
    said_pin, added, listed = alice["turns"]
    assert said_pin["secret"] and said_pin["transcript"] is None  # the PIN is not reported
    assert added["intent"] == "add" and "milk" in added["reply"].lower(), added
    assert "milk" in listed["reply"].lower() and "dog" not in listed["reply"].lower(), listed

    bob = _talk(env, "--caller", BOB, str(dog), str(listing))
    assert bob["user"] == "bob", bob
    added, listed = bob["turns"]
    assert added["intent"] == "add" and not added["secret"], added
    assert "dog" in listed["reply"].lower() and "milk" not in listed["reply"].lower(), listed

    # each list holds its own one task (as Whisper heard it: "buy milk" or "my milk")
    [milk_task] = _titles(env, "alice")
    [dog_task] = _titles(env, "bob")
    assert "milk" in milk_task and "dog" not in milk_task, milk_task
    assert "dog" in dog_task and "milk" not in dog_task, dog_task

    wrong = tmp_path / "wrong.wav"
    write_wav(wrong, np.concatenate([np.zeros(4000, np.int16),
                                     dtmf_sequence("9999#", sample_rate=8000)]), 8000)  # fmt: skip
    failed = _talk(env, "--phone", "--caller", ALICE, *[str(wrong)] * 3, str(listing))
    assert failed["user"] is None and failed["hangup"] == "pin-failed", failed
    assert all(t["secret"] or t["transcript"] is None for t in failed["turns"]), failed
    assert _titles(env, "alice") == [milk_task]
