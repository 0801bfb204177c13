"""Hold on a call and what the caller heard after a barge-in, in simulated time.

``Call.put_on_hold`` / ``take_off_hold`` over a leg that holds (the caller's voice neither
becomes a turn nor stops the music while held; the music runs until the line is back) and over
one that cannot (refused, the music plays anyway and the caller speaking ends it). A far end
with a playout buffer answers the marks of cut audio only after the clear reached it (a page's
player): the heard text of an interrupted reply counts what it played before the clear.
A far end that holds us is seen by the session (``peer_held``), its audio kept out.
"""

from __future__ import annotations

import asyncio

import numpy as np
from call_fakes import tone
from test_call_media import RATE, BufferLeg, SimClock, make, until

from callport.call.controls import Accepted, Capability, Refusal, Refused
from callport.call.events import AudioIn, HeldByPeer, Marked
from callport.call.memory import MemoryLeg
from callport.call.results import Heard, Timeout
from callport.call.sources import HoldMusic
from callport.channels.sip.leg import SipLeg
from callport.channels.sip.sdp import MediaPlan


async def test_put_on_hold_plays_music_keeps_the_caller_out_and_resumes_seamlessly() -> None:
    leg = MemoryLeg(call_id="h1", sample_rate=RATE)
    clock = SimClock()
    call = make(leg, ["I am back"], clock)
    call.session.start()
    assert await call.put_on_hold(HoldMusic(pcm=tone(0.1, RATE, 300.0), sample_rate=RATE)) \
        == Accepted()
    assert leg.held and call.session.holding
    await until(lambda: len(leg.sent) >= 30)
    # The caller talks while held: no turn, no barge-in, the music goes on.
    listen = asyncio.create_task(call.listen(timeout=0.5))
    await leg.speak(tone(0.4, RATE), RATE, trailing_silence_s=0.5)
    assert await asyncio.wait_for(listen, 5) == Timeout()
    assert call.session.stats.barge_ins == 0 and call.session.holding
    before = len(leg.sent)
    await until(lambda: len(leg.sent) >= before + 10)  # still playing
    music = leg.output()
    assert float(np.sqrt(np.mean(music.astype(np.float64) ** 2))) > 500  # music, not silence
    assert await call.take_off_hold() == Accepted()
    assert not leg.held and not call.session.holding
    n = len(leg.sent)
    await asyncio.sleep(0.02)
    assert len(leg.sent) <= n + 1  # the music stopped once the line was back
    # The caller is heard again.
    listen = asyncio.create_task(call.listen())
    await leg.speak(tone(0.4, RATE), RATE, trailing_silence_s=0.5)
    assert isinstance(await asyncio.wait_for(listen, 5), Heard)
    await call.session.close()


async def test_a_leg_without_hold_is_refused_but_the_caller_still_hears_music() -> None:
    leg = BufferLeg()  # no capabilities
    call = make(leg, ["hello"])
    call.session.start()
    refused = await call.put_on_hold()
    assert isinstance(refused, Refused)
    assert (refused.control, refused.refusal) == (Capability.HOLD, Refusal.UNSUPPORTED)
    await until(lambda: len(leg.sent) >= 20)
    assert call.session.holding  # callport-side hold: music all the same
    listen = asyncio.create_task(call.listen())
    await leg.speak(tone(0.4, RATE))  # the caller speaking ends a callport-side hold
    await until(lambda: leg.cleared == 1)
    await leg.speak(np.zeros(int(0.5 * RATE), np.int16))
    assert await asyncio.wait_for(listen, 5) == Heard("hello", started_at=0.0, ended_at=0.4)
    assert await call.take_off_hold() == Accepted()
    await call.session.close()


class LateLeg(BufferLeg):
    """A far end whose player is ahead of what it has reported: when a clear reaches it, it
    has already played ``ahead`` more frames, and says so (and what it dropped) a moment
    later, as a page's player confirming a clear does."""

    def __init__(self, ahead: int) -> None:
        super().__init__()
        self.ahead = ahead

    async def clear(self) -> None:
        self.cleared += 1
        played: list[str] = []
        frames = self.ahead
        while self.buffer and (frames > 0 or isinstance(self.buffer[0], str)):
            item = self.buffer.pop(0)
            if isinstance(item, str):
                played.append(item)
            else:
                frames -= 1
        dropped = [i for i in self.buffer if isinstance(i, str)]
        self.buffer.clear()

        def answer() -> None:
            for name in played:
                self.inbox.put(Marked(name, played=True))
            for name in dropped:
                self.inbox.put(Marked(name, played=False))

        asyncio.get_running_loop().call_later(0.05, answer)


async def test_a_barged_reply_counts_what_the_far_end_played_before_the_clear() -> None:
    leg = LateLeg(ahead=20)  # 0.4 s more than it had reported when the caller spoke
    call = make(leg)
    call.session.start()
    text = "one two three four five six seven eight nine ten"  # 1 s of tone at 0.1 s a word
    say = asyncio.create_task(call.say(text))
    await until(lambda: len(leg.sent) >= 50)
    leg.play(20)  # the far end reports 0.4 s played
    await until(lambda: call.session.heard()[0].played_frames == 20)
    await leg.speak(tone(0.4, RATE))  # the caller barges in
    result = await asyncio.wait_for(say, 5)
    assert result.interrupted and leg.cleared == 1
    # 0.4 s reported before the clear + 0.4 s the far end played before it got it: 8 words.
    assert result.heard == "one two three four five six seven eight"
    [segment] = call.session.heard()
    assert segment.played_frames == 40 and not segment.done
    await call.session.close()


class NoControl:
    def hangup_call(self, key: str, reason: str) -> None: ...

    def refer_call(self, key: str, target: str) -> bool:
        return False

    def reoffer_call(self, key: str, direction: str) -> bool:
        return False


class Datagrams:
    def sendto(self, data: bytes, addr: tuple[str, int]) -> None: ...

    def close(self) -> None: ...


async def test_a_far_end_holding_us_is_seen_by_the_session_and_its_audio_kept_out() -> None:
    plan = MediaPlan(codec="PCMU", payload_type=0, dtmf_payload_type=101,
                     remote_host="127.0.0.1", remote_port=40000, ptime=20,
                     direction="sendrecv")
    leg = SipLeg(key="k", call_id="sip-h", control=NoControl(), transport=Datagrams(),  # type: ignore[arg-type]
                 rtp_port=30000, plan=plan, now=0.0)
    call = make(leg)
    call.session.start()
    assert leg.expects_media()
    leg.peer_hold(True)
    await until(lambda: call.session.peer_held)
    assert not leg.expects_media()  # no media timeout while the peer holds us
    leg._inbox.put(AudioIn(tone(0.02, RATE), at=0.02))  # its music: not for the session
    await asyncio.sleep(0.01)
    assert call.session.stats.frames_in == 0
    leg.peer_hold(True)  # no change, no event
    leg.peer_hold(False)
    await until(lambda: not call.session.peer_held)
    assert leg.expects_media()
    assert await leg.hold() == Refused(Capability.HOLD, Refusal.ENDED, "no confirmed dialog")
    assert HeldByPeer(True) != HeldByPeer(False)
    await call.session.close()
