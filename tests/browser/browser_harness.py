"""Shared by the browser tests and bench/bench_browser.py: a real server on loopback, headless
Debian Chromium with a fake microphone, and audio alignment maths.

Never runs ``playwright install``: Chromium is /usr/bin/chromium.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
import subprocess
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
from starlette.applications import Starlette

from loadgen.ports import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
]


def have_chromium() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists()


def synth_wav(path: Path, sentences: list[str], *, lead_s: float = 1.0, gap_s: float = 2.0,
              tail_s: float = 1.0, rate: int = 48_000, voice: str = "espeak"
              ) -> list[tuple[float, float]]:
    """Write a 48 kHz mono WAV of speech padded with silence; returns speech spans.

    ``voice="piper"`` uses callport's Piper voice (closer to a person, for STT tests).
    """
    if voice == "espeak" and not shutil.which("espeak-ng"):
        raise RuntimeError("espeak-ng is not installed")
    parts: list[np.ndarray] = [np.zeros(int(lead_s * rate), np.int16)]
    spans: list[tuple[float, float]] = []
    t = lead_s
    for i, text in enumerate(sentences):
        if voice == "piper":
            pcm = _piper(text, rate)
        else:
            raw = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "165", "--stdout", text],
                                 check=True, capture_output=True).stdout
            pcm = _wav_bytes_to_pcm(raw, rate)
        spans.append((t, t + len(pcm) / rate))
        parts.append(pcm)
        t += len(pcm) / rate
        pad = gap_s if i < len(sentences) - 1 else tail_s
        parts.append(np.zeros(int(pad * rate), np.int16))
        t += pad
    write_wav(path, np.concatenate(parts), rate)
    return spans


def _piper(text: str, rate: int) -> np.ndarray:
    import soxr

    from callport.config import SpeechSettings
    from callport.speech.factory import make_tts

    tts = make_tts(SpeechSettings(tts="piper", piper_variation=False))  # repeatable

    async def run() -> list[np.ndarray]:
        return [chunk.pcm async for chunk in tts.synthesize(text)]

    pcm = np.concatenate(asyncio.run(run())).astype(np.float32) / 32768
    out = soxr.resample(pcm, tts.sample_rate, rate)
    return np.clip(out * 32767, -32768, 32767).astype(np.int16)


def _wav_bytes_to_pcm(raw: bytes, rate: int) -> np.ndarray:
    import io

    import soxr

    with wave.open(io.BytesIO(raw)) as w:
        src_rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    out = soxr.resample(pcm.astype(np.float32) / 32768, src_rate, rate)
    return np.clip(out * 32767 * 0.9, -32768, 32767).astype(np.int16)


def write_wav(path: Path, pcm: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())


def read_wav_16k(path: Path) -> np.ndarray:
    import soxr

    with wave.open(str(path)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    return soxr.resample(pcm, rate, 16_000).astype(np.float32)


@contextlib.asynccontextmanager
async def serve(app: Starlette, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Run ``app`` with uvicorn on a free port in this event loop; yields the base URL."""
    port = free_port(host=host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(task, 5)


@contextlib.asynccontextmanager
async def chromium(wav: Path, *, loop: bool = False) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    capture = str(wav) + ("" if loop else "%noloop")  # wav must be an absolute path
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={capture}"])
        try:
            yield browser
        finally:
            await browser.close()


SESSION_COOKIE = "callport_session"


async def session_page(browser: Any, base: str, secret: str, **context: Any) -> Any:
    """A page in a fresh browser context signed in with the session ``secret`` (the cookie a
    sign-in sets), for apps serving only the browser channel's routes (no ``/login``)."""
    ctx = await browser.new_context(**context)
    await ctx.add_cookies([{"name": SESSION_COOKIE, "value": secret, "url": base,
                            "httpOnly": True, "sameSite": "Strict"}])
    return await ctx.new_page()


async def sign_in_by_link(page: Any, base: str, runtime: Any, name: str) -> None:
    """Sign ``page`` in as ``name`` the way the owner does on first run: visit a one-time
    ``/login?token=`` link (minted here), which lands on the Task Manager page."""
    import time

    issued = await runtime.tokens.create(name, kind="signin", ttl_s=300, now=time.time())
    await page.goto(f"{base}/login?token={issued.secret}")
    await page.wait_for_url(f"{base}/", timeout=15_000)
    await page.wait_for_function("window.callport && window.callport.user", timeout=15_000)


@dataclass(frozen=True, slots=True)
class Recording:
    rate: int
    mic: np.ndarray  # float32 at 16 kHz
    mic_start: float  # context frame of mic[0]
    remote: np.ndarray
    remote_start: float


async def dump(page: Any) -> Recording:
    raw = await page.evaluate("window.callport.call.dump()")

    def dec(text: str) -> np.ndarray:
        return np.frombuffer(base64.b64decode(text), "<i2").astype(np.float32) / 32768

    return Recording(int(raw["rate"]), dec(raw["mic"]), float(raw["micStart"] or 0),
                     dec(raw["remote"]), float(raw["remoteStart"] or 0))


def best_lag(ref: np.ndarray, sig: np.ndarray, max_lag: int) -> int:
    """Lag (samples) by which ``sig`` is delayed relative to ``ref``, by FFT cross-correlation."""
    n = len(ref) + len(sig)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(sig, size) * np.conj(np.fft.rfft(ref, size)), size)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    values = np.concatenate([corr[: max_lag + 1], corr[size - max_lag:]])
    return int(lags[int(np.argmax(values))])


def aligned_r(ref: np.ndarray, sig: np.ndarray, max_lag: int) -> tuple[float, int, float]:
    """Pearson r after the best alignment, the lag, and the gain (rms sig / rms ref)."""
    lag = best_lag(ref, sig, max_lag)
    if lag >= 0:
        a, b = ref, sig[lag:]
    else:
        a, b = ref[-lag:], sig
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    active = np.abs(a) > 1e-4
    if n == 0 or active.sum() < 100:
        return 0.0, lag, 0.0
    r = float(np.corrcoef(a, b)[0, 1])
    gain = float(np.sqrt(np.mean(b[active] ** 2) / np.mean(a[active] ** 2)))
    return r, lag, gain


def window_delays_ms(rec: Recording, *, win: int = 16_000, max_lag: int = 8_000,
                     min_r: float = 0.6) -> list[float]:
    """Echo delay per 1 s window with speech: where each mic window reappears in the remote tap.

    Both recordings are stamped with the AudioContext frame of their first sample, so the
    delay is measured on one clock (the page's), from capture to playback output.
    """
    return echo_windows(rec, win=win, max_lag=max_lag, min_r=min_r)[1]


def echo_windows(rec: Recording, *, win: int = 16_000, max_lag: int = 8_000,
                 min_r: float = 0.6) -> tuple[int, list[float]]:
    """How many mic windows carry speech and could have come back, and each found one's delay.

    A window counts as found when the remote tap holds it with Pearson r >= ``min_r`` at its
    own best lag: WebRTC's jitter buffer time-stretches, so one alignment for the whole call
    says little, while each second on its own is still a faithful copy.
    """
    shift = round((rec.mic_start - rec.remote_start) / rec.rate * 16_000)
    speech = 0
    out: list[float] = []
    for i in range(0, len(rec.mic) - win, win // 2):
        ref = rec.mic[i: i + win]
        if float(np.sqrt(np.mean(ref**2))) < 0.01:
            continue
        j0 = i + shift
        if j0 < 0 or j0 + win + max_lag > len(rec.remote):
            continue
        speech += 1
        seg = rec.remote[j0: j0 + win + max_lag]
        lag = best_lag(ref, seg, max_lag)
        if lag < 0:
            continue
        cand = seg[lag: lag + win]
        if float(np.std(cand)) > 0 and float(np.corrcoef(ref, cand)[0, 1]) >= min_r:
            out.append(lag / 16)
    return speech, out


def windowed_r(ref: np.ndarray, sig: np.ndarray, *, win: int = 16_000,
               max_lag: int = 16_000) -> list[float]:
    """Pearson r of each 1 s window of ``sig`` with speech, aligned to ``ref`` on its own.

    A loaded machine can drop an AudioWorklet render quantum now and then, which shifts
    everything after it; per-window alignment measures fidelity rather than that jitter.
    """
    out: list[float] = []
    for i in range(0, len(sig) - win, win):
        seg = sig[i: i + win]
        if float(np.sqrt(np.mean(seg**2))) < 0.01:
            continue
        lo = max(0, i - max_lag)
        area = ref[lo: i + win + max_lag]
        lag = best_lag(seg, area, len(area) - 1)  # where seg sits in area
        if lag < 0 or lag + win > len(area):
            continue
        cand = area[lag: lag + win]
        if float(np.std(cand)) > 0:
            out.append(float(np.corrcoef(seg, cand)[0, 1]))
    return out
