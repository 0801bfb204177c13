"""``call.gather`` on live calls (MemoryLeg, energy VAD, scripted STT, tone TTS) and its pure
parts in simulated time (``DigitCollector`` fed digits and times; ``Understanding`` over a
deterministic word-overlap embedder). Every wait is bounded; nothing asserts durations."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS, tone
from numpy.typing import NDArray

from callport.call.call import Call
from callport.call.gather import Chosen, Digits, GatherResult, HungUp, NoInput, NoMatch, Said
from callport.call.memory import MemoryLeg
from callport.call.understand import (
    Choice,
    Command,
    Confirm,
    DigitCollector,
    Picked,
    Understanding,
    Unmatched,
    WhichOne,
    yes_or_no,
)
from callport.config import Settings
from callport.server.runtime import Runtime
from callport.store.calls import MemoryCallStore
from callport.store.memory_users import MemoryUserStore
from callport.store.tasks import MemoryTaskLists
from callport.types import CallInfo, User

TIMEOUT = 20.0


def words_embedder(texts: Sequence[str]) -> NDArray[np.float32]:
    """Unit bag-of-words vectors (each word hashed to one of 512 dimensions)."""
    out = np.zeros((len(texts), 512), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in text.lower().split():
            out[i, int(hashlib.sha1(word.encode()).hexdigest(), 16) % 512] += 1.0
        norm = float(np.linalg.norm(out[i]))
        if norm:
            out[i] /= norm
    return out


CHOICES = [
    Choice("sales", ("buy a new phone", "pricing and plans"), keys="1"),
    Choice("support", ("my phone is broken", "fix a problem"), keys="2"),
    Choice("billing", ("pay my bill", "a charge on my invoice"), keys="3"),
]


def understanding(**kw: Any) -> Understanding:
    """Thresholds suited to the word-overlap embedder's lower cosines."""
    return Understanding(choices=CHOICES, embedder=words_embedder,
                         **{"accept": 0.62, "confirm": 0.3, "margin": 0.06, **kw})


# ---- pure: understanding ------------------------------------------------------------------


def test_keys_pick_choices_star_repeats_zero_is_operator() -> None:
    u = understanding()
    assert u.key("2") == Picked(CHOICES[1], "dtmf", 1.0)
    assert u.key("*") == Command("repeat", "dtmf")
    assert u.key("0") == Command("operator", "dtmf")
    assert isinstance(u.key("7"), Unmatched)
    owned = Understanding(choices=[Choice("operator", keys="0")], embedder=words_embedder)
    assert isinstance(owned.key("0"), Picked)  # a choice that owns 0 wins over the command


def test_words_pick_confirm_which_one_and_commands() -> None:
    u = understanding()
    assert isinstance(u.words("pay my bill"), Picked)
    assert u.words("billing").choice.name == "billing"  # type: ignore[attr-defined]
    unsure = u.words("a question about my bill please")
    assert isinstance(unsure, Confirm) and unsure.choice.name == "billing"
    close = u.words("my phone pricing problem")
    assert isinstance(close, WhichOne)
    assert {close.first.name, close.second.name} == {"sales", "support"}
    assert u.words("say that again") == Command("repeat", "speech", 1.0)
    assert u.words("main menu") == Command("main", "speech", 1.0)
    assert isinstance(u.words("the weather in paris"), Unmatched)
    assert isinstance(u.words(""), Unmatched)


def test_which_one_answer_narrows_to_the_two() -> None:
    u = understanding()
    among = (CHOICES[0], CHOICES[1])
    assert u.words("support please", among=among) == Picked(CHOICES[1], "speech", 1.0)
    assert isinstance(u.words("pay my bill", among=among), Unmatched)


def test_yes_or_no() -> None:
    assert yes_or_no("Yes, please.") is True and yes_or_no("yeah") is True
    assert yes_or_no("No.") is False and yes_or_no("nope, wrong") is False
    assert yes_or_no("billing") is None


# ---- pure: digit collection in simulated time ---------------------------------------------


def test_digits_finish_on_key_length_and_inter_digit_timeout() -> None:
    c = DigitCollector(finish_on_key="#", inter_digit_s=3.0)
    assert not c.press("4", 0.0) and not c.press("2", 1.0)
    assert not c.tick(3.9)  # 2.9 s since the last key
    assert c.press("#", 3.9) and (c.digits, c.finished_by) == ("42", "key")
    n = DigitCollector(num_digits=3)
    for at, d in enumerate("123"):
        n.press(d, float(at))
    assert (n.digits, n.finished_by) == ("123", "length")
    t = DigitCollector(inter_digit_s=3.0)
    t.press("9", 10.0)
    assert not t.tick(12.5) and t.tick(13.0)
    assert (t.digits, t.finished_by) == ("9", "timeout")


# ---- live: gather on a MemoryLeg ----------------------------------------------------------


class PitchSTT(ScriptedSTT):
    """The n-th scripted phrase is spoken as a tone of 300 + 100 n Hz and heard by its pitch,
    so a speculative early pass and the final pass of one utterance agree."""

    async def transcribe(self, pcm: Any, sample_rate: int, *, hints: Sequence[str] = ()) -> Any:
        from callport.speech.base import Transcript

        self.hints.append(tuple(hints))
        spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
        if len(pcm) < sample_rate // 10 or spectrum.max() < 1e5:
            return Transcript(text="", seconds=0.001)
        pitch = float(np.argmax(spectrum)) * sample_rate / len(pcm)
        n = round((pitch - 300.0) / 100.0)
        return Transcript(text=self.phrases[n] if 0 <= n < len(self.phrases) else "",
                          seconds=0.001)


class Run:
    def __init__(self, transcripts: Sequence[str], gather: dict[str, Any],
                 *, realtime: bool = False) -> None:
        self.stt, self.tts = PitchSTT(()), ToneTTS()
        self.stt.phrases = list(transcripts)  # type: ignore[attr-defined]
        self.spoken = 0
        self.results: list[GatherResult] = []
        self.leg = MemoryLeg(call_id="g1", sample_rate=8000, realtime=realtime)
        self.holder: list[Call] = []
        options = {"choices": CHOICES, "timeout": 4.0, "inter_digit_timeout": 0.4,
                   "understanding": understanding(), **gather}

        async def flow(call: Call) -> None:
            prompt = options.pop("prompt", "Sales, support or billing?")
            self.results.append(await call.gather(prompt, **options))

        self.runtime = Runtime(settings=Settings(), calls=MemoryCallStore(),
                               users=MemoryUserStore(), tasks=MemoryTaskLists(), stt=self.stt,
                               tts=self.tts, vad=EnergyVad(),  # type: ignore[arg-type]
                               agent_factory=lambda info: EchoTextAgent(), flow=flow)  # fmt: skip
        info = CallInfo(call_id="g1", channel="memory", caller="+15550001111",
                        callee="", user=User(name="owner"))  # fmt: skip
        self.task = asyncio.create_task(self.runtime.run_call(self.leg, info,
                                                              on_call=self.holder.append))

    async def listening(self, times: int = 1) -> Call:
        """Wait until the call has listened ``times`` times since the start."""
        async with asyncio.timeout(TIMEOUT):
            while not (self.holder and self.holder[0].listening.is_set()):
                await asyncio.sleep(0.005)
        return self.holder[0]

    async def prompted(self, words: str, count: int = 1) -> None:
        """Wait until ``words`` were spoken ``count`` times and the call listens again."""
        async with asyncio.timeout(TIMEOUT):
            while not (sum(words in t for t in self.tts.spoken) >= count and self.holder
                       and self.holder[0].listening.is_set()):
                await asyncio.sleep(0.005)

    async def say(self) -> None:
        """The next scripted phrase (its own pitch)."""
        freq = 300.0 + 100.0 * self.spoken
        self.spoken += 1
        await self.leg.speak(tone(0.4, 8000, freq), 8000, trailing_silence_s=0.5)

    async def result(self) -> GatherResult:
        async with asyncio.timeout(TIMEOUT):
            while not self.results:
                await asyncio.sleep(0.005)
        self.leg.caller_hangup()
        await asyncio.wait_for(self.task, TIMEOUT)
        return self.results[0]


async def test_spoken_choice_with_hints_and_confidence() -> None:
    run = Run(["pay my bill"], {})
    await run.listening()
    await run.say()
    result = await run.result()
    assert isinstance(result, Chosen) and (result.choice, result.by) == ("billing", "speech")
    assert 0 < result.confidence <= 1 and result.heard == "pay my bill"
    assert "pay my bill" in run.stt.hints[-1] and "sales" in run.stt.hints[-1]  # STT hints


async def test_key_choice() -> None:
    run = Run([], {})
    await run.listening()
    run.leg.press("2")
    result = await run.result()
    assert result == Chosen("support", "dtmf", 1.0, "", "2")


async def test_no_input_ladder_prompts_again_then_gives_up() -> None:
    run = Run([], {"max_tries": 3, "timeout": 0.3})
    result = await run.result()
    assert result == NoInput(3)
    assert run.tts.spoken == ["Sales, support or billing?"] * 3  # the prompt again each time


async def test_no_match_ladder_says_the_choices_with_keys() -> None:
    run = Run(["the weather in paris", "elephants"], {"max_tries": 2})
    await run.prompted("Sales, support or billing")
    await run.say()
    await run.prompted("For sales, say sales or press 1")
    await run.say()
    result = await run.result()
    assert result == NoMatch(2, "elephants")
    assert any("For sales, say sales or press 1" in s for s in run.tts.spoken)


async def test_low_confidence_is_confirmed() -> None:
    run = Run(["a question about my bill please", "yes"], {})
    await run.prompted("Sales, support or billing")
    await run.say()
    await run.prompted("Did you want billing")
    await run.say()
    result = await run.result()
    assert isinstance(result, Chosen) and result.choice == "billing"
    assert "Did you want billing?" in run.tts.spoken


async def test_confirmation_refused_counts_a_miss_and_reprompts() -> None:
    run = Run(["a question about my bill please", "no"], {})
    await run.prompted("Sales, support or billing")
    await run.say()
    await run.prompted("Did you want billing")
    await run.say()
    await run.prompted("For sales, say sales or press 1")
    run.leg.press("1")
    result = await run.result()
    assert result == Chosen("sales", "dtmf", 1.0, "", "1")
    assert any("For sales, say sales or press 1" in s for s in run.tts.spoken)  # the no rung


async def test_close_choices_ask_which_one_and_a_key_answers() -> None:
    run = Run(["my phone pricing problem"], {})
    await run.prompted("Sales, support or billing")
    await run.say()
    await run.prompted("Did you want")
    run.leg.press("2")
    result = await run.result()
    assert result == Chosen("support", "dtmf", 1.0, "my phone pricing problem", "")
    assert any("Did you want" in s and "sales" in s and "support" in s for s in run.tts.spoken)


async def test_global_commands_star_repeats_and_operator_is_returned() -> None:
    run = Run(["operator"], {})
    await run.prompted("Sales, support or billing")
    run.leg.press("*")
    await run.prompted("Sales, support or billing", 2)
    await run.say()
    result = await run.result()
    assert result == Said("operator", "speech", "operator", "")
    assert sum("Sales, support or billing" in s for s in run.tts.spoken) == 2  # * repeated it


async def test_digit_collection_finish_on_key() -> None:
    run = Run([], {"choices": (), "understanding": Understanding(choices=()),
                   "finish_on_key": "#", "prompt": "Enter your account number."})
    await run.listening()
    for d in "4711#":
        run.leg.press(d)
    result = await run.result()
    assert result == Digits("4711", "key")


async def test_digit_collection_num_digits_and_inter_digit_timeout() -> None:
    run = Run([], {"choices": (), "understanding": Understanding(choices=()), "num_digits": 4})
    await run.listening()
    for d in "12":
        run.leg.press(d)
    result = await run.result()  # no more keys: the inter-digit timeout ends it
    assert result == Digits("12", "timeout")


async def test_hang_up_while_gathering() -> None:
    run = Run([], {"timeout": 5.0})
    await run.listening()
    run.leg.caller_hangup()
    async with asyncio.timeout(TIMEOUT):
        while not run.results:
            await asyncio.sleep(0.005)
    assert isinstance(run.results[0], HungUp)
    await asyncio.wait_for(run.task, TIMEOUT)


@pytest.mark.parametrize("by", ["speech", "key"])
async def test_barge_in_on_the_prompt(by: str) -> None:
    long_prompt = "Welcome. " + " ".join(["please listen to all of these options"] * 12) + "."
    run = Run(["billing"], {"prompt": long_prompt, "timeout": 2.0}, realtime=True)
    async with asyncio.timeout(TIMEOUT):
        while len(run.leg.sent) < 10:  # the prompt is playing
            await asyncio.sleep(0.005)
    call = run.holder[0]
    assert not call.listening.is_set()
    if by == "speech":
        await run.say()
    else:
        run.leg.press("3")
    result = await run.result()
    assert isinstance(result, Chosen) and result.choice == "billing"
    prompt_s = 0.1 * len(long_prompt.split())
    assert len(run.leg.sent) * run.leg.frame_ms / 1000.0 < prompt_s / 2  # cut short
