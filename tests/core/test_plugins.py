"""Your own agent and flow, loaded from ``module:attribute`` (settings, env, CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from callport.agents.base import CallInfo, Say, TransferCall, UserPressed, UserSaid
from callport.config import ConfigError, ServerSettings, Settings, load_settings
from callport.plugins import load_reference
from callport.server.runtime import build_runtime

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "mybot.py").write_text(
        "from callport.agents.base import Say\n"
        "class Bot:\n"
        "    async def respond(self, event):\n"
        "        yield Say('hi')\n"
        "    def interrupted(self, heard):\n"
        "        pass\n"
        "def make_agent(info):\n"
        "    return Bot()\n"
        "NOT_CALLABLE = 3\n"
        "class Outer:\n"
        "    @staticmethod\n"
        "    def flow(call):\n"
        "        return None\n"
    )
    (tmp_path / "broken.py").write_text("raise RuntimeError('no database configured')\n")
    monkeypatch.chdir(tmp_path)  # the current directory is on the import path
    for name in ("mybot", "broken"):
        sys.modules.pop(name, None)
    return tmp_path


def test_references_load_from_the_current_directory(plugin_dir: Path) -> None:
    factory = load_reference("mybot:make_agent", setting="server.agent")
    assert type(factory(CallInfo(call_id="c", channel="t"))).__name__ == "Bot"
    assert callable(load_reference("mybot:Outer.flow", setting="server.flow"))


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("mybot", "expected 'package.module:attribute'"),
        ("mybot:make agent", "expected 'package.module:attribute'"),
        ("no_such_module_x:f", "cannot import 'no_such_module_x'"),
        ("mybot:missing", "has no attribute 'missing'"),
        ("mybot:NOT_CALLABLE", "is not callable"),
        ("broken:f", "RuntimeError: no database configured"),
    ],
)
def test_bad_references_say_what_is_wrong(plugin_dir: Path, ref: str, says: str) -> None:
    with pytest.raises(ConfigError, match=r"server\.agent=") as err:
        load_reference(ref, setting="server.agent")
    assert says in str(err.value)


def test_settings_take_agent_and_flow_from_env(
    plugin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLPORT_AGENT", "mybot:make_agent")
    monkeypatch.setenv("CALLPORT_FLOW", "mybot:Outer.flow")
    settings = load_settings(None)
    assert (settings.server.agent, settings.server.flow) == ("mybot:make_agent", "mybot:Outer.flow")
    monkeypatch.setenv("CALLPORT_FLOW", "just-a-name")
    with pytest.raises(ConfigError, match=r"server\.flow=.just-a-name."):
        load_settings(None)


def test_runtime_uses_the_configured_agent_and_flow(plugin_dir: Path) -> None:
    settings = Settings(server=ServerSettings(db=str(plugin_dir / "t.db"),
                                              agent="mybot:make_agent", flow="mybot:Outer.flow"))
    runtime = build_runtime(settings)
    agent = runtime.agent_factory(CallInfo(call_id="c", channel="t"))
    assert type(agent).__name__ == "Bot"
    assert runtime.flow is load_reference("mybot:Outer.flow", setting="x")
    with pytest.raises(ConfigError, match="cannot import"):
        build_runtime(Settings(server=ServerSettings(db=str(plugin_dir / "t.db"),
                                                     agent="nope_nope:make")))


def test_cli_rejects_an_agent_that_does_not_load(tmp_path: Path) -> None:
    wav = tmp_path / "x.wav"
    wav.write_bytes(b"")
    proc = subprocess.run(
        [sys.executable, "-m", "callport.cli", "--db", str(tmp_path / "t.db"), "talk",
         "--agent", "nope_nope:make_agent", str(wav)],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "CALLPORT_CONFIG": ""},
    )
    assert proc.returncode == 2, proc.stderr
    assert "server.agent='nope_nope:make_agent': cannot import 'nope_nope'" in proc.stderr


async def test_bakery_example_answers_transfers_and_hangs_up() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        agent = load_reference("examples.bakery_agent:make_agent", setting="server.agent")(
            CallInfo(call_id="c", channel="t"))
    finally:
        sys.path.remove(str(ROOT))
    hours = [o async for o in agent.respond(UserSaid("When do you open on Saturday?"))]
    assert any(isinstance(o, Say) and "7 am" in o.text for o in hours)
    person = [o async for o in agent.respond(UserPressed("0"))]
    assert any(isinstance(o, TransferCall) for o in person)


@pytest.mark.slow
def test_talk_runs_your_agent_end_to_end(tmp_path: Path) -> None:
    """`callport talk --agent ...` speaks to the example agent through the real speech stack."""
    wav = tmp_path / "ask.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav),
                    "What are your opening hours?"], check=True, timeout=30)
    proc = subprocess.run(
        [sys.executable, "-m", "callport.cli", "--db", str(tmp_path / "t.db"), "talk", "--json",
         "--agent", "examples.bakery_agent:make_agent", str(wav)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "CALLPORT_CONFIG": ""},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    [turn] = json.loads(proc.stdout)["turns"]
    assert turn["intent"] == "hours" and "7 am" in turn["reply"], turn
