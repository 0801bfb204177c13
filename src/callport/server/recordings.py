"""``GET /api/recordings`` and ``GET /api/recordings/{id}/audio``.

- ``/api/recordings``: the recordings' metadata (``recording.listing.COLUMNS``), newest first; an
  admin sees all, anyone else their own (``user``). 401 without a sign-in or API token.
- ``/api/recordings/{id}/audio``: the stereo WAV, decrypted, streamed in 64 KiB chunks as
  ``audio/wav`` (a browser's ``<audio>`` plays it); 404 for another user's recording, so its
  existence is not told.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from callport.server.auth import user_of

CHUNK = 64 * 1024


def recording_routes(runtime: Any) -> list[Route]:
    from callport.recording.crypt import load_key
    from callport.recording.listing import COLUMNS, recordings
    from callport.recording.run import open_recording, recording_store, recordings_dir

    directory = recordings_dir(runtime.settings)
    store = recording_store(runtime.settings)  # recording.store: local, s3 or PostgreSQL

    def visible(request: Request) -> tuple[list[dict[str, Any]] | None, Response | None]:
        user = user_of(request.scope)
        if user is None:
            return None, JSONResponse({"error": "sign in or send an API token"}, status_code=401)
        found = recordings(directory, store)
        if not user.has_role("admin"):
            found = [m for m in found if m.get("user") == user.name]
        return found, None

    async def list_recordings(request: Request) -> Response:
        found, refused = await asyncio.to_thread(visible, request)
        if refused is not None or found is None:
            return refused or Response(status_code=500)
        return JSONResponse({"recordings": [{k: m.get(k) for k in COLUMNS} for m in found]})

    async def audio(request: Request) -> Response:
        found, refused = await asyncio.to_thread(visible, request)
        if refused is not None or found is None:
            return refused or Response(status_code=500)
        rec_id = request.path_params["rec_id"]
        meta = next((m for m in found if m.get("id") == rec_id), None)
        if meta is None:
            return JSONResponse({"error": f"no recording {rec_id!r}"}, status_code=404)
        key = load_key(runtime.settings)
        wav, _words = await asyncio.to_thread(open_recording, meta, directory, key,
                                              store)

        async def body() -> AsyncIterator[bytes]:
            for at in range(0, len(wav), CHUNK):
                yield wav[at:at + CHUNK]

        return StreamingResponse(body(), media_type="audio/wav",
                                 headers={"content-length": str(len(wav)),
                                          "cache-control": "no-store"})

    return [Route("/api/recordings", list_recordings),
            Route("/api/recordings/{rec_id}/audio", audio)]
