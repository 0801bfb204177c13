"""IVR menus: the file's validation (line, menu and option named), loops rejected, opening
hours with time zone and holidays, and examples/ivr/acme.toml run on a MemoryLeg (keys and
words) with its journal: every decision and the outcome."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from call_fakes import EchoTextAgent, EnergyVad, ToneTTS
from test_call_gather import PitchSTT, words_embedder  # tests/call (tests/flows/conftest.py)

from callport.call.call import Call
from callport.call.memory import MemoryLeg
from callport.config import Settings
from callport.flows.ivr import IvrError, IvrFlow, load_ivr, loads_ivr
from callport.flows.ivr.hours import is_open, start_menu
from callport.server.runtime import Runtime
from callport.store.calls import MemoryCallStore
from callport.store.memory_users import MemoryUserStore
from callport.store.tasks import MemoryTaskLists
from callport.store.voicemail import MemoryVoicemailStore
from callport.types import CallInfo, User

ACME = Path(__file__).parents[2] / "examples" / "ivr" / "acme.toml"
TIMEOUT = 20.0

GOOD = """
[ivr]
start = "main"

[menus.main]
prompt = "Sales or support?"

[[menus.main.options]]
name = "sales"
key = "1"
action = "transfer:sip:sales@example.com"

[[menus.main.options]]
name = "more"
key = "2"
action = "menu:more"

[menus.more]
prompt = "More?"

[[menus.more.options]]
name = "bye"
key = "1"
action = "hangup"
"""


def error(text: str) -> str:
    with pytest.raises(IvrError) as exc:
        loads_ivr(text, "menu.toml")
    return str(exc.value)


def test_good_file_loads() -> None:
    ivr = loads_ivr(GOOD)
    assert ivr.start == "main" and set(ivr.menus) == {"main", "more"}


@pytest.mark.parametrize(("change", "expected"), [
    (('action = "transfer:sip:sales@example.com"', 'action = "tranfer:sales"'),
     "menu.toml:11: menu 'main', option 'sales': unknown action 'tranfer:sales'"),
    (('action = "menu:more"', 'action = "menu:mroe"'),
     "menu.toml:16: menu 'main', option 'more': action 'menu:mroe': there is no menu 'mroe'"),
    (('key = "2"', 'key = "22"'),
     "menu.toml:15: menu 'main', option 'more': key '22' must be one of 0-9, * or #"),
    (('key = "2"', 'key = "1"'),
     "menu.toml:15: menu 'main', option 'more': key 1 is also option 'sales'"),
    (('prompt = "More?"', 'promt = "More?"'), "menu.toml:19: menu 'more': unknown setting 'promt'"),
    (('start = "main"', 'start = "mian"'), "menu.toml:3: [ivr]: start menu 'mian'"),
    (('action = "transfer:sip:sales@example.com"', 'action = "transfer:bob"'),
     "menu.toml:11: menu 'main', option 'sales': transfer target 'bob' is neither"),
    (('name = "more"', 'nmae = "more"'), "menu.toml:13: menu 'main', option 2: name must be"),
    (('[[menus.more.options]]', 'menus.more.options = ['), "menu.toml:22: not valid TOML"),
])
def test_mistakes_name_line_menu_and_option(change: tuple[str, str], expected: str) -> None:
    assert expected in error(GOOD.replace(*change, 1))


def test_announcement_cycle_is_rejected() -> None:
    text = GOOD + '\n[menus.a]\nprompt = "A"\naction = "menu:b"\n[menus.b]\nprompt = "B"\n' \
        'action = "menu:a"\n'
    assert "menu 'a': loops forever without asking the caller anything (a -> b -> a)" in error(text)


def test_menus_that_only_lead_to_each_other_are_rejected() -> None:
    text = GOOD.replace('action = "hangup"', 'action = "menu:main"').replace(
        'action = "transfer:sip:sales@example.com"', 'action = "menu:more"')
    message = error(text)
    assert "loops forever: every option leads only to other menus" in message
    assert message.startswith("menu.toml:5: menu 'main'")


def test_hours_with_zone_and_holidays() -> None:
    ivr = load_ivr(ACME)
    assert ivr.hours is not None
    assert is_open(ivr.hours, datetime.fromisoformat("2026-12-02T10:00"))  # a Wednesday
    assert not is_open(ivr.hours, datetime.fromisoformat("2026-12-02T18:00"))
    assert not is_open(ivr.hours, datetime.fromisoformat("2026-12-05T10:00"))  # Saturday
    assert not is_open(ivr.hours, datetime.fromisoformat("2026-12-25T10:00"))  # holiday
    # 15:00 UTC is 10:00 in New York; 23:00 UTC is 18:00 there
    assert is_open(ivr.hours, datetime.fromisoformat("2026-12-02T15:00+00:00"))
    assert not is_open(ivr.hours, datetime.fromisoformat("2026-12-02T23:00+00:00"))
    assert start_menu("main", ivr.hours, datetime.fromisoformat("2026-12-25T10:00")) == "closed"
    bad = ACME.read_text().replace('"America/New_York"', '"Mars/Olympus"')
    assert "[hours]: unknown time zone 'Mars/Olympus'" in error(bad)


class IvrRun:
    def __init__(self, phrases: list[str], at: str) -> None:
        self.stt, self.tts = PitchSTT(()), ToneTTS()
        self.stt.phrases = phrases  # type: ignore[attr-defined]
        self.spoken = 0
        self.voicemail = MemoryVoicemailStore()
        self.calls = MemoryCallStore()
        self.flow = IvrFlow(ivr=load_ivr(ACME), voicemail=self.voicemail,
                            embedder=words_embedder, calls=self.calls)  # fmt: skip
        self.flow.at = datetime.fromisoformat(at)
        self.agent = EchoTextAgent()
        self.leg = MemoryLeg(call_id="ivr1", sample_rate=8000)
        self.holder: list[Call] = []
        runtime = Runtime(settings=Settings(), calls=self.calls, users=MemoryUserStore(),
                          tasks=MemoryTaskLists(), stt=self.stt, tts=self.tts,
                          vad=EnergyVad(),  # type: ignore[arg-type]
                          agent_factory=lambda info: self.agent, flow=self.flow)  # fmt: skip
        info = CallInfo(call_id="ivr1", channel="memory", caller="+15550001111", callee="",
                        user=User(name="owner"))
        self.task = asyncio.create_task(runtime.run_call(self.leg, info,
                                                         on_call=self.holder.append))

    async def prompted(self, words: str, count: int = 1) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not (sum(words in t for t in self.tts.spoken) >= count and self.holder
                       and self.holder[0].listening.is_set()):
                await asyncio.sleep(0.005)

    async def say(self) -> None:
        from call_fakes import tone

        freq = 300.0 + 100.0 * self.spoken
        self.spoken += 1
        await self.leg.speak(tone(0.4, 8000, freq), 8000, trailing_silence_s=0.5)

    async def ended(self) -> dict[str, Any]:
        await asyncio.wait_for(self.task, TIMEOUT)
        journal = self.flow.journals["ivr1"]
        return {"ivr": journal.steps, "outcome": journal.outcome}


async def test_key_1_says_connecting_and_transfers_to_sales() -> None:
    run = IvrRun([], "2026-12-02T10:00")
    await run.prompted("Thanks for calling Acme")
    run.leg.press("1")
    report = await run.ended()
    assert report["outcome"] == "transfer:sip:sales@example.com"
    assert run.leg.transfers == ["sip:sales@example.com"]
    assert "Connecting you to sales" in run.tts.spoken  # (ToneTTS keeps sentences bare)
    assert report["ivr"] == [{"menu": "main", "heard": None, "digits": "1", "choice": "sales",
                              "by": "dtmf", "confidence": 1.0}]
    events = [(e.kind, e.detail) for e in await run.calls.events("ivr1")]
    assert ("ivr", "main: sales (dtmf 1) > transfer:sip:sales@example.com") in events


async def test_words_pick_the_task_manager() -> None:
    run = IvrRun(["check my tasks"], "2026-12-02T10:00")
    await run.prompted("Thanks for calling Acme")
    await run.say()
    async with asyncio.timeout(TIMEOUT):
        while not run.flow.journals.get("ivr1") or not run.flow.journals["ivr1"].outcome:
            await asyncio.sleep(0.005)
    run.leg.caller_hangup()
    report = await run.ended()
    assert report["outcome"] == "agent:taskmanager"
    step = report["ivr"][0]
    assert (step["choice"], step["by"], step["heard"]) == ("my tasks", "speech", "check my tasks")


async def test_support_is_the_queue_and_zero_the_operator() -> None:
    run = IvrRun([], "2026-12-02T10:00")
    await run.prompted("Thanks for calling Acme")
    run.leg.press("2")
    report = await run.ended()
    assert report["outcome"] == "queue:support"
    # no queue takes the call here (none configured, or no queue service): said politely
    assert any("not available yet" in s or "nobody can take your call" in s
               for s in run.tts.spoken), run.tts.spoken
    run = IvrRun([], "2026-12-02T10:00")
    await run.prompted("Thanks for calling Acme")
    run.leg.press("0")
    assert (await run.ended())["outcome"] == "transfer:sip:operator@example.com"


async def test_out_of_hours_takes_a_voicemail_with_transcript() -> None:
    run = IvrRun(["please call me back about my order"], "2026-12-25T10:00")
    await run.prompted("Press pound when you are done")
    await run.say()
    run.leg.press("#")
    report = await run.ended()
    assert report["outcome"] == "voicemail" and report["ivr"] == []
    [message] = await run.voicemail.list()
    assert message.transcript == "please call me back about my order"
    assert (message.caller, message.for_user, message.menu) == ("+15550001111", "owner",
                                                                 "closed")
    assert message.seconds >= 0.4 and "We are closed right now" in " ".join(run.tts.spoken)


def test_a_malformed_menu_file_fails_talk_at_start(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    bad = tmp_path / "menu.toml"
    bad.write_text(GOOD.replace('action = "menu:more"', 'action = "menu:mroe"'))
    wav = tmp_path / "x.wav"
    wav.write_bytes(b"")
    env = {**os.environ, "CALLPORT_DB": str(tmp_path / "x.db"), "CALLPORT_CONFIG": ""}
    proc = subprocess.run([sys.executable, "-m", "callport.cli", "talk", "--ivr", str(bad),
                           str(wav)], env=env, capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert f"{bad}:16: menu 'main', option 'more': action 'menu:mroe': there is no menu" \
        in proc.stderr
    assert "Traceback" not in proc.stderr
