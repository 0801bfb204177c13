"""Answering-machine detection (``callport.audio.amd``) in simulated time: the cadence
heuristics and the beep detector on synthetic frames."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from callport.audio.amd import AmdDetector, AmdResult, AmdSettings, BeepDetector

RATE = 8000
FRAME = 160  # 20 ms


def voiced(seconds: float, f0: float = 140.0, seed: int = 0) -> NDArray[np.int16]:
    """A vowel-like sound: a fundamental and its harmonics with jitter (not a pure tone)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    x = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 20))
    x = x + rng.normal(0, 0.3, len(t))
    return (x / np.max(np.abs(x)) * 9000).astype(np.int16)


def tone(seconds: float, hz: float) -> NDArray[np.int16]:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)


def silence(seconds: float) -> NDArray[np.int16]:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


class Feeder:
    def __init__(self, settings: AmdSettings | None = None) -> None:
        self.amd = AmdDetector(sample_rate=RATE, settings=settings)
        self.at = 0.0

    def feed(self, pcm: NDArray[np.int16], speech: bool) -> None:
        for i in range(0, len(pcm), FRAME):
            self.at += FRAME / RATE
            self.amd.feed(pcm[i:i + FRAME], speech, round(self.at, 4))

    def words(self, n: int, word_s: float = 0.35, gap_s: float = 0.25) -> None:
        for k in range(n):
            self.feed(voiced(word_s, seed=k), True)
            self.feed(silence(gap_s), False)


def test_a_short_hello_then_silence_is_human() -> None:
    f = Feeder()
    f.feed(silence(0.4), False)
    f.feed(voiced(0.5), True)  # "Hello?"
    f.feed(silence(1.5), False)
    v = f.amd.verdict
    assert v is not None and v.result is AmdResult.HUMAN
    assert v.words == 1 and 1.6 < v.at < 1.8  # 0.8 s of silence after the word
    assert not f.amd.message_ready  # only a machine gets a message


def test_many_words_are_a_machine_then_the_message_waits_for_the_beep() -> None:
    f = Feeder()
    f.feed(silence(0.3), False)
    f.words(5, word_s=0.2, gap_s=0.2)  # five quick words in 2 s: before the greeting limit
    v = f.amd.verdict
    assert v is not None and v.result is AmdResult.MACHINE and "words" in v.reason
    f.words(4)  # the greeting goes on: not yet the moment
    assert not f.amd.message_ready and f.amd.beep_at is None
    f.feed(silence(0.3), False)
    f.feed(tone(0.1, 1000), False)  # 100 ms: too short for a beep
    assert f.amd.beep_at is None
    f.feed(silence(0.1), False)
    f.feed(tone(0.4, 1000), False)
    assert f.amd.beep_at is not None and f.amd.message_ready
    assert f.amd.verdict is v  # the verdict never changes
    assert abs(f.amd.beeps.last_hz - 1000) <= 30


def test_one_long_greeting_is_a_machine() -> None:
    f = Feeder()
    f.feed(voiced(2.5), True)
    v = f.amd.verdict
    assert v is not None and v.result is AmdResult.MACHINE and v.reason.startswith("greeting")


def test_a_beep_decides_at_once() -> None:
    f = Feeder()
    f.feed(silence(0.2), False)
    f.feed(tone(0.3, 850), False)
    v = f.amd.verdict
    assert v is not None and v.result is AmdResult.MACHINE and v.reason.startswith("beep")
    assert f.amd.message_ready


def test_nothing_heard_is_unknown() -> None:
    f = Feeder()
    f.feed(silence(5.0), False)
    v = f.amd.verdict
    assert v is not None and v.result is AmdResult.UNKNOWN and "initial silence" in v.reason


def test_a_machine_that_never_beeps_gets_its_message_after_the_greeting() -> None:
    f = Feeder(AmdSettings(beep_timeout_s=30.0))
    f.words(6)
    assert f.amd.verdict is not None and f.amd.verdict.result is AmdResult.MACHINE
    f.words(3)
    assert not f.amd.message_ready
    f.feed(silence(2.0), False)
    assert f.amd.message_ready and f.amd.beep_at is None


def test_the_beep_detector_wants_a_pure_tone_in_the_band_held_long_enough() -> None:
    def beeps(pcm: NDArray[np.int16]) -> list[float]:
        b = BeepDetector(sample_rate=RATE)
        out = [b.feed(pcm[i:i + FRAME], i / RATE) for i in range(0, len(pcm), FRAME)]
        return [hz for hz in out if hz]

    for hz in (440, 1000, 1400, 1950):
        found = beeps(tone(0.5, hz))
        assert len(found) == 1 and abs(found[0] - hz) <= 30
    assert beeps(tone(0.5, 300)) == [] and beeps(tone(0.5, 2600)) == []  # out of band
    assert beeps(tone(0.12, 1000)) == []  # shorter than 150 ms
    assert beeps(voiced(1.0)) == []  # speech has harmonics: not a tone
    rng = np.random.default_rng(3)
    assert beeps(rng.normal(0, 4000, 8000).astype(np.int16)) == []
    assert beeps((tone(0.5, 1000) // 400).astype(np.int16)) == []  # too quiet (-50 dBFS)


def test_a_carriers_amd_lands_on_the_record_in_our_words() -> None:
    import asyncio

    from callport.audio.amd import provider_result
    from callport.channels.callbook import CallBook, ProviderCall
    from callport.channels.callrecords import CallRecords
    from callport.channels.provider import CallEnded, MachineDetected
    from callport.store.calls import MemoryCallStore

    assert [provider_result(x) for x in ("human", "machine_end_beep", "machine", "fax",
                                         "not_sure", "unknown")] == [
        "human", "machine", "machine", "machine", "unknown", "unknown"]

    async def run() -> str:
        store = MemoryCallStore()
        records = CallRecords(book=CallBook(provider="twilio"), store=store, clock=lambda: 0.0)
        await records.enter(ProviderCall(call_id="c1", provider="twilio",
                                         provider_call_id="CA1", direction="outbound"))
        await records.apply(MachineDetected(provider_call_id="CA1",
                                            answered_by="machine_end_beep"))
        await records.apply(CallEnded(provider_call_id="CA1", reason="completed"))
        record = await store.get("c1")
        assert record is not None and record.status == "completed"
        return record.amd

    assert asyncio.run(run()) == "machine"
