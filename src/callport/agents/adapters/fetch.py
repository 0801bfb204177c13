"""Fetch a WAV file an agent asks to play (a relay ``play`` source) as PCM16."""

from __future__ import annotations

import httpx

from callport.audio.wav import read_wav
from callport.types import PCM16

MAX_BYTES = 8 * 2**20  # a prompt or a jingle, not an album


async def fetch_wav(url: str, *, timeout: float) -> tuple[PCM16, int]:
    """``(pcm, sample_rate)`` of the WAV at ``url``; ``ValueError`` saying why not."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{url!r}: only http(s) sources can be played")
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        raise ValueError(f"{url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise ValueError(f"{url}: HTTP {response.status_code}")
    if len(response.content) > MAX_BYTES:
        raise ValueError(f"{url}: larger than {MAX_BYTES // 2**20} MiB")
    try:
        pcm, rate = read_wav(response.content)
    except Exception as exc:  # not a WAV we can read (mp3 needs a decoder callport lacks)
        raise ValueError(f"{url}: not a PCM WAV file ({exc})") from exc
    return pcm, rate
