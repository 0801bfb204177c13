"""The voicemail API: a signed-in user's own messages, and only theirs.

- ``GET /api/voicemail``: ``{"voicemail": [...], "new": N}``, the messages left for the user
  (``Voicemail.for_user``), newest first: ``id``, ``at``, ``caller``, ``menu``, ``seconds``,
  ``transcript``, ``heard``; ``new`` counts the unheard ones.
- ``GET /api/voicemail/{id}/audio``: the message as ``audio/wav`` (a browser's ``<audio>``
  plays it).
- ``POST /api/voicemail/{id}/heard``: mark it heard (a JSON body, like every API write).

Voicemail is personal: an admin sees their own messages here too (``callport voicemail list``
on the server shows all). Another user's message is a 404, so its existence is not told; no
sign-in or API token is a 401.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callport.server.auth import user_of
from callport.store.voicemail import Voicemail, VoicemailStore

LIMIT = 200


def voicemail_json(message: Voicemail) -> dict[str, Any]:
    return {"id": message.id, "at": message.at.isoformat(), "caller": message.caller,
            "menu": message.menu, "seconds": round(message.seconds, 2),
            "transcript": message.transcript, "heard": message.heard}  # fmt: skip


def voicemail_routes(runtime: Any) -> list[Route]:
    """The routes over ``runtime.voicemail`` (none for a runtime without voicemail)."""
    store: VoicemailStore | None = getattr(runtime, "voicemail", None)
    if store is None:
        return []

    async def mine(request: Request) -> tuple[Voicemail | None, Response | None]:
        """The message in the path when it was left for the requester, else the refusal."""
        user = user_of(request.scope)
        if user is None:
            return None, JSONResponse({"error": "sign in or send an API token"},
                                      status_code=401)  # fmt: skip
        raw = request.path_params["message_id"]
        message = await store.get(int(raw)) if raw.isdigit() else None
        if message is None or message.for_user != user.name:
            return None, JSONResponse({"error": f"no voicemail {raw}"}, status_code=404)
        return message, None

    async def list_voicemail(request: Request) -> Response:
        user = user_of(request.scope)
        if user is None:
            return JSONResponse({"error": "sign in or send an API token"}, status_code=401)
        messages = await store.list(for_user=user.name, limit=LIMIT)
        return JSONResponse({"voicemail": [voicemail_json(m) for m in messages],
                             "new": sum(not m.heard for m in messages)},
                            headers={"cache-control": "no-store"})  # fmt: skip

    async def audio(request: Request) -> Response:
        message, refused = await mine(request)
        if message is None:
            return refused or Response(status_code=500)
        import numpy as np

        from callport.audio.wav import wav_bytes

        pcm = np.frombuffer(message.audio, dtype="<i2").astype(np.int16)
        return Response(wav_bytes(pcm, message.sample_rate), media_type="audio/wav",
                        headers={"cache-control": "no-store"})  # fmt: skip

    async def heard(request: Request) -> Response:
        message, refused = await mine(request)
        if message is None:
            return refused or Response(status_code=500)
        await store.mark_heard(message.id)
        return JSONResponse({"id": message.id, "heard": True})

    return [Route("/api/voicemail", list_voicemail),
            Route("/api/voicemail/{message_id}/audio", audio),
            Route("/api/voicemail/{message_id}/heard", heard, methods=["POST"])]
