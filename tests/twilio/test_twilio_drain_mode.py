"""Drain mode on Twilio: a drained node's voice webhook answers ``<Reject reason="busy"/>``
(the capacity refusal), from the real runtime's ``refusal`` (``callport.server.capacity``)."""

from __future__ import annotations

from twilio_sim import call_params
from twilio_support import Server

from callport.config import ServerSettings, Settings
from callport.server.capacity import refusal
from callport.server.runtime import Runtime
from callport.store.calls import MemoryCallStore


async def test_a_drained_node_rejects_new_twilio_calls_busy(server: Server) -> None:
    real = Runtime(settings=Settings(server=ServerSettings(db=":memory:")),
                   calls=MemoryCallStore())
    server.runtime.refusal = lambda: refusal(real)  # type: ignore[attr-defined]
    admitted = await server.post_signed("/twilio/voice", call_params("CA" + "c" * 32))
    assert admitted.status_code == 200 and "<Stream" in admitted.text
    real.drained = True
    busy = await server.post_signed("/twilio/voice", call_params("CA" + "d" * 32))
    assert busy.status_code == 200
    assert '<Reject reason="busy"' in busy.text and "<Stream" not in busy.text
    call = server.channel.book.by_provider_id("CA" + "d" * 32)
    assert call is not None and call.ended
