"""The Leg protocol: one party's media connection, whatever the channel.

A leg speaks PCM16 mono at its own ``sample_rate`` in ``frame_ms`` frames; codecs, wire
framing and transport live behind it. The CallSession paces outgoing frames in real time
and may run ``lead_ms`` ahead of real time (a remote buffer such as Twilio's absorbs it);
an in-memory leg that plays into a file sets ``lead_ms = math.inf``.

Marks: ``mark(name)`` asks to be told (``Marked(name, played=...)``) once every frame sent
before it has been played. Legs with no remote buffer report ``played=True`` as soon as the
frames before the mark have been transmitted. ``clear()`` drops remote-buffered audio;
marks still pending come back with ``played=False``.

Controls (``transfer``, ``send_dtmf``, ``hold`` / ``resume``) are gated by ``capabilities``
and never raise for what the leg cannot do: they return ``Accepted()`` or
``Refused(control, refusal, detail)`` (``callport.call.controls``), so a flow or an agent asking
for too much gets an answer, not a crash; a control named in ``capabilities`` is one the leg
really carries out, and one not named is refused ``Refusal.UNSUPPORTED``.

Hold is callport-side where the channel has no better way: the leg stops delivering caller
audio (``AudioIn``) while held and reports ``HoldChanged(held)``; what the caller hears is the
session's audio source (hold music, silence). A SIP leg signals it too, with a re-INVITE
(``a=sendonly``, RFC 3264 §8.4 / RFC 6337 §5.3), and answers once the peer did. A far end that
holds *us* (a SIP peer's own hold re-INVITE) is reported as ``HeldByPeer(held)``.

Marks, clears and the end of a leg follow ``callport.call.marks.MarkBook`` (every leg composes
it): answers in order, ``clear()`` answers every pending mark ``played=False`` at once, marks
pending or placed at the end are answered ``played=False``, ``HungUp`` is the last event and
``hangup()`` is idempotent. ``tests/call/test_leg_contract.py`` runs these rules over every leg.

What a third channel has to supply: an object with the attributes and coroutines below,
usually built on ``callport.call.inbox.EventInbox`` for ``recv``.
"""

from __future__ import annotations

from typing import Protocol

from callport.call.controls import Capability as Capability  # re-exported: its old home
from callport.call.controls import ControlResult
from callport.call.events import PCM16, LegEvent


class UnsupportedControl(RuntimeError):
    """Kept for code that catches it; legs now return ``Refused`` instead of raising it."""


class Leg(Protocol):
    @property
    def call_id(self) -> str: ...

    @property
    def sample_rate(self) -> int: ...

    @property
    def frame_ms(self) -> int: ...

    @property
    def lead_ms(self) -> float: ...

    @property
    def capabilities(self) -> frozenset[Capability]: ...

    async def recv(self) -> LegEvent:
        """Next event. After ``HungUp`` every further call returns ``HungUp`` again."""
        ...

    async def send_audio(self, pcm: PCM16) -> None:
        """Transmit one frame now (the session does the pacing)."""
        ...

    async def mark(self, name: str) -> None: ...

    async def clear(self) -> None: ...

    async def hangup(self, reason: str = "normal") -> None:
        """End the call. Idempotent: hanging up an ended call succeeds."""
        ...

    async def transfer(self, target: str) -> ControlResult:
        """Blind transfer to ``tel:+...`` or ``sip:...``: ``Accepted()`` (``TransferStarted``
        follows) or ``Refused`` (not capable, a target it cannot reach, the carrier said no)."""
        ...

    async def send_dtmf(self, digits: str) -> ControlResult:
        """Send ``digits`` to the far end: ``Accepted()`` or ``Refused``."""
        ...

    async def hold(self) -> ControlResult:
        """Put the caller on hold: ``Accepted()`` (``HoldChanged(True)`` follows; holding a
        held call is accepted and changes nothing) or ``Refused``."""
        ...

    async def resume(self) -> ControlResult:
        """Take the caller off hold: ``Accepted()`` (``HoldChanged(False)`` follows when the
        call was held) or ``Refused``."""
        ...
