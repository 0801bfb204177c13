"""The browser caller of bench_ear.py: headless Chromium on the product page.

The page signs in with the serve child's one-time owner link and calls over the WebSocket
transport with ``record=1``, which taps both its microphone frames and its playback
worklet's output, each stamped with the AudioContext frame of its first sample. The
microphone is the caller's voice: an init script makes ``getUserMedia`` return a
MediaStream fed by a Web Audio buffer source, so the bench can speak each request when the
conversation calls for it (Chromium's fake-microphone file plays on a fixed schedule and
cannot wait for the agent). Both figures are read on the page's own clock: each request's
onset and end where the page's recorded microphone has it, each 20 ms of the playback output
as a frame heard at that moment.
"""

from __future__ import annotations

import asyncio
import base64
import sys

import numpy as np
from numpy.typing import NDArray

from ear_common import HEARD_RMS, ROOT, SPEECH_RMS, Heard, Requests, Span, converse

sys.path[:0] = [str(ROOT / "tests" / "browser")]
from browser_harness import CHROMIUM, CHROMIUM_ARGS, dump, have_chromium  # noqa: E402

__all__ = ["browser_call", "have_chromium"]
RATE = 16_000  # the page's recordings
FRAME = 320  # 20 ms at 16 kHz
MIC = """(() => {
  const md = navigator.mediaDevices;
  if (!md) return;
  const ear = window.__ear = {};
  md.getUserMedia = async () => {
    const ctx = new AudioContext({ sampleRate: 48000 });
    await ctx.resume();
    const dest = ctx.createMediaStreamDestination();
    ear.say = (b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const pcm = new Int16Array(bytes.buffer);
      const buf = ctx.createBuffer(1, pcm.length, 48000);
      const ch = buf.getChannelData(0);
      for (let i = 0; i < pcm.length; i++) ch[i] = pcm[i] / 32768;
      const src = ctx.createBufferSource();
      src.buffer = buf;
      src.connect(dest);
      src.start();
      return buf.duration;
    };
    return dest.stream;
  };
})();"""
LEVEL = """() => {  // the quietest 20 ms RMS of the last 60 ms the playback worklet put out
  const r = window.callport && window.callport.call && window.callport.call.rec.remote;
  const rms = [0, 0, 0];
  let n = 0;
  for (let k = (r ? r.length : 0) - 1; k >= 0 && n < 960; k--)
    for (let i = r[k].length - 1; i >= 0 && n < 960; i--, n++)
      rms[Math.floor(n / 320)] += r[k][i] ** 2;
  return n < 960 ? 0 : Math.sqrt(Math.min(...rms) / 320);
}"""


async def browser_call(base: str, signin: str, requests: Requests) -> tuple[list[Span], Heard]:
    """One call from the product page in headless Chromium; the requests' spans and what the
    page played, on the page's AudioContext clock."""
    from playwright.async_api import async_playwright

    assert requests.rate == 48_000
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"])
        try:
            ctx = await browser.new_context()
            await ctx.add_init_script(MIC)
            page = await ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(signin)
            await page.wait_for_url(f"{base}/", timeout=30_000)
            await page.goto(f"{base}/?transport=ws&apm=0&record=1")
            await page.click("#call")
            await page.wait_for_function("window.callport.state === 'live'", timeout=30_000)

            async def say(pcm: NDArray[np.int16]) -> Span:
                b64 = base64.b64encode(pcm.astype("<i2").tobytes()).decode()
                seconds = float(await page.evaluate("(b) => window.__ear.say(b)", b64))
                await asyncio.sleep(seconds)
                return (0.0, seconds)  # the page's own recording says when (mic_spans)

            async def audible() -> bool:
                return float(await page.evaluate(LEVEL)) > HEARD_RMS

            await converse(requests, say, audible)
            rec = await dump(page)
            await page.click("#call")
            await asyncio.sleep(0.5)
        finally:
            await browser.close()
    if errors:
        raise RuntimeError(f"page errors: {errors}")
    mic = np.clip(rec.mic * 32767, -32768, 32767).astype(np.int16)
    spans = mic_spans(mic, rec.mic_start / rec.rate, len(requests.pcm))
    heard = Heard()
    pcm = np.clip(rec.remote * 32767, -32768, 32767).astype(np.int16)
    start = rec.remote_start / rec.rate
    for i in range(len(pcm) // FRAME):
        heard.add(start + i * FRAME / RATE, pcm[i * FRAME:(i + 1) * FRAME])
    return spans, heard


def mic_spans(mic: NDArray[np.int16], start: float, count: int) -> list[Span]:
    """The ``count`` requests in the page's microphone recording (16 kHz, first sample at
    ``start`` s): runs of 10 ms with speech, joined across their shortest gaps."""
    hop = RATE // 100
    frames = mic[: mic.size // hop * hop].reshape(-1, hop).astype(np.float64)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > SPEECH_RMS)
    if loud.size == 0:
        raise RuntimeError("the page's microphone recording holds no speech")
    runs = [[int(loud[0]), int(loud[0])]]
    for k in loud[1:]:
        if k - runs[-1][1] > 1:
            runs.append([int(k), int(k)])
        else:
            runs[-1][1] = int(k)
    while len(runs) > count:  # the pauses inside a request are shorter than those between
        gaps = [runs[i + 1][0] - runs[i][1] for i in range(len(runs) - 1)]
        i = int(np.argmin(gaps))
        runs[i:i + 2] = [[runs[i][0], runs[i + 1][1]]]
    if len(runs) != count:
        raise RuntimeError(f"found {len(runs)} requests in the page's microphone, not {count}")
    return [(start + a * hop / RATE, start + (b + 1) * hop / RATE) for a, b in runs]
