"""Echo flow: the caller hears their own audio back. Used by benchmarks and transport tests."""

from __future__ import annotations

from callport.call.call import Call
from callport.call.events import AudioIn


async def echo_flow(call: Call) -> None:
    session = call.session
    rate = session.leg.sample_rate

    def tap(event: AudioIn) -> None:
        session.enqueue_audio(event.pcm, rate)

    session.on_pause = None  # nobody listens for turns here: no speculative STT
    session.taps.append(tap)
    try:
        await session.hung_up.wait()
    finally:
        session.taps.remove(tap)
