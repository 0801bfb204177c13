"""Echo flow: the caller hears their own audio back. Used by benchmarks and transport tests.

The caller's audio (an inbound tap) is pushed into a ``LiveSource`` the pacer plays back, so
the echo carries marks and is tapped outbound like any other audio.
"""

from __future__ import annotations

from callport.call.call import Call
from callport.call.sources import LiveSource
from callport.call.taps import Direction, TapFrame

ECHO_DEPTH_S = 0.02
ECHO_WINDOW_S = 0.2


class _Echo:
    def __init__(self, source: LiveSource) -> None:
        self._source = source

    def on_frame(self, frame: TapFrame) -> None:
        self._source.push(frame.pcm)


async def echo_flow(call: Call) -> None:
    session = call.session
    session.set_early_cuts(False)  # nobody listens for turns here: no speculative STT
    # A tight jitter bound: at most one frame of backlog kept past 0.2 s (a stall's backlog
    # is dropped, not carried as latency for the rest of the call).
    source = LiveSource(sample_rate=session.leg.sample_rate, label="echo", max_s=1.0,
                        depth_s=ECHO_DEPTH_S, window_s=ECHO_WINDOW_S)
    tap = _Echo(source)
    session.add_tap(tap, Direction.IN)
    session.play(source, interruptible=False)
    try:
        await session.wait_ended()
    finally:
        session.remove_tap(tap, Direction.IN)
        source.close()
