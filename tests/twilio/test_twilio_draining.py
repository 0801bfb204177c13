"""SIGTERM draining on the Twilio channel: a new call's voice webhook gets 503 (Twilio then
tries the number's fallback URL), and nothing is entered or started."""

from __future__ import annotations

from twilio_sim import call_params
from twilio_support import Server


async def test_voice_webhook_while_draining_is_503_and_starts_nothing(server: Server) -> None:
    server.runtime.draining = True  # type: ignore[attr-defined]
    response = await server.post_signed("/twilio/voice", call_params("CA" + "d" * 32))
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert len(server.channel.book) == 0 and server.runtime.started == []
    # an unsigned webhook is still refused first (403), draining or not
    assert (await server.http.post(server.base + "/twilio/voice", data={"CallSid": "CA1"})
            ).status_code == 403
