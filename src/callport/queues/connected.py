"""A caller connected to an agent: the bridge, and what the agent may do with it.

``Connected.run()`` bridges the caller's session to the agent's (``call.bridge.Bridge``) and
keeps it up until one of them hangs up. Meanwhile the agent (the ``/agent`` page, through
``QueueService.hold`` / ``transfer``) may

- **hold** the caller: the bridge stops, the caller hears the queue's hold music (never
  silence) and the agent hears nothing; **resume** bridges them again;
- **transfer** the caller: blind to a number or SIP URI (``call.transfer_blind``: REFER or the
  provider's transfer where the leg has one, else callport dials and bridges; the caller hears
  music meanwhile), or ``queue:NAME`` (the caller waits in that queue next). When it works the
  agent's call ends; when it does not the caller is bridged back to the agent, and the agent
  is told why.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from callport.call.bridge import Bridge, PartyLeft
from callport.call.call import Call
from callport.call.session import CallSession

log = logging.getLogger(__name__)

__all__ = ["Connected", "Ended"]


@dataclass(frozen=True, slots=True)
class Ended:
    """How a connected call ended: ``by`` "caller", "agent" or "transfer"; ``queue`` is set
    when the agent sent the caller to another queue."""

    by: str
    queue: str = ""


class Connected:
    """One caller and one agent, bridged (see the module docstring)."""

    def __init__(self, *, call: Call, agent: str, other: CallSession,
                 music: Callable[[], None]) -> None:
        self.call = call
        self.agent = agent
        self.other = other
        self._music = music  # plays the caller's hold music
        self._bridge: Bridge | None = None
        self._wake = asyncio.Event()
        self.held = False
        self._transfer: tuple[str, asyncio.Future[str]] | None = None

    # ---- what the agent asks for -----------------------------------------------------

    def hold(self, held: bool) -> str:
        """Hold or resume the caller; "" when done, else why not."""
        if self._transfer is not None:
            return "a transfer is under way"
        if held != self.held:
            self.held = held
            self._poke()
        return ""

    async def transfer(self, target: str) -> str:
        """Send the caller to ``target`` (``tel:``/``sip:``/a number, or ``queue:NAME``);
        "" when it went through, else why not (the caller is back with the agent)."""
        if self._transfer is not None:
            return "a transfer is under way"
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._transfer = (target, done)
        self._poke()
        return await done

    def _poke(self) -> None:
        self._wake.set()
        if self._bridge is not None:
            self._bridge.stop()

    # ---- the call ----------------------------------------------------------------------

    async def run(self) -> Ended:
        call, other = self.call, self.other
        while True:
            self._wake.clear()
            if not self.held and self._transfer is None:
                self._bridge = Bridge(a=call.session, b=other)
                result = await self._bridge.run()
                self._bridge = None
                if isinstance(result, PartyLeft):
                    return Ended(by="agent" if result.side == "b" else "caller")
            if call.ended or other.ended:
                return await self._hang_up_both()
            if self._transfer is not None:
                ended = await self._do_transfer()
                if ended is not None:
                    return ended
                continue
            if self.held:
                ended = await self._on_hold()
                if ended is not None:
                    return ended

    async def _on_hold(self) -> Ended | None:
        """Music for the caller until the agent resumes (or someone hangs up)."""
        self.call.session.set_turns(False)
        self._music()
        waits = [asyncio.ensure_future(w) for w in (
            self._wake.wait(), self.call.session.wait_ended(), self.other.wait_ended())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        if self.call.ended or self.other.ended:
            return await self._hang_up_both()
        if not self.held:
            await self.call.session.stop_audio()
        return None

    async def _do_transfer(self) -> Ended | None:
        assert self._transfer is not None
        target, done = self._transfer
        try:
            if target.startswith("queue:"):
                done.set_result("")
                await self.other.hangup("transferred")
                return Ended(by="transfer", queue=target.removeprefix("queue:"))
            self._music()
            result = await self.call.transfer_blind(target)
            if result.ok:
                done.set_result("")
                if not self.other.ended:
                    await self.other.hangup("transferred")
                return Ended(by="transfer")
            reason = result.detail or result.outcome.value
            log.info("queue: %s's transfer of %s to %s: %s", self.agent, self.call.info.call_id,
                     target, reason)
            done.set_result(reason)
            if self.call.session.holding and not self.call.ended:
                await self.call.session.stop_audio()
            return None  # back to the agent (or on hold, if they held before)
        except Exception as exc:
            if not done.done():
                done.set_result(f"failed: {exc}")
            raise
        finally:
            self._transfer = None

    async def _hang_up_both(self) -> Ended:
        by = "caller" if self.call.ended else "agent"
        for session in (self.call.session, self.other):
            if not session.ended:
                await session.hangup("bridge-ended")
        return Ended(by=by)
