"""The echo flow with the pacer's send times written down (``bench_load``'s server flow).

``callport.flows.echo.echo_flow`` plus one outbound tap: the pacer emits every frame to its
outbound taps at the moment it hands it to the leg (``TapFrame.at``, the session's monotonic
clock, which is the system's ``CLOCK_MONOTONIC`` that the generator reads too). At the end of
the call the send times go to ``$BENCH_PACING_DIR/<call id>.f64``; ``bench_load`` keeps those
inside its measured window and reports the spacing of consecutive sends against the 20 ms
grid (its jitter, p99). The tap costs one list append per frame.
"""

from __future__ import annotations

import os
import re
from array import array
from pathlib import Path

from callport.call.call import Call
from callport.call.taps import Direction, TapFrame
from callport.flows.echo import echo_flow


class _SendTimes:
    def __init__(self) -> None:
        self.times = array("d")

    def on_frame(self, frame: TapFrame) -> None:
        self.times.append(frame.at)


async def timed_echo_flow(call: Call) -> None:
    tap = _SendTimes()
    call.session.add_tap(tap, Direction.OUT)
    try:
        await echo_flow(call)
    finally:
        call.session.remove_tap(tap, Direction.OUT)
        folder = os.environ.get("BENCH_PACING_DIR")
        if folder:
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", call.info.call_id)[:100]
            (Path(folder) / f"{name}.f64").write_bytes(tap.times.tobytes())
