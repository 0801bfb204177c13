#!/usr/bin/env python3
"""Load the capture and playback AudioWorklets (assets/) in headless Chromium and check frames.

Serves ``assets/`` on 127.0.0.1 (a secure context, so getUserMedia and AudioWorklet work),
opens ``index.html`` with Chromium's fake microphone, runs the page's ``smokeTest()`` and checks:

- the capture worklet posts 20 ms frames (320 samples of Int16 at 16 kHz), about 50 a second,
  whatever rate the AudioContext runs at (headless Chromium picks 44.1 kHz, hardware often 48);
- a 440 Hz tone sent to the playback worklet comes out (a second capture node taps it) and the
  mark after it is reported as played;
- ``clear`` drops queued audio at once and reports the mark it dropped as not played;
- with the ``websockets`` package installed, ``voice-page.js`` end to end against a local echo
  server: binary 640-byte frames arrive, the echoed audio plays, and a server ``mark`` comes
  back as ``{"type": "mark", "played": true}``.

Needs Python Playwright and a Chromium (``--chromium``, ``$CHROMIUM`` or /usr/bin/chromium; the
browser Playwright downloads also works). Nothing leaves the machine. Exit status: 0 all checks
pass, 1 a check failed, 2 Playwright or Chromium is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import http.server
import json
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ASSETS = Path(__file__).resolve().parent.parent / "assets"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class EchoServer:
    """A WebSocket server on 127.0.0.1 that echoes binary frames and sends one mark."""

    def __init__(self) -> None:
        self.frames: list[int] = []  # sizes of binary frames received
        self.replies: list[dict[str, Any]] = []  # JSON text frames from the page
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Future[None] | None = None

    async def _handler(self, ws: Any) -> None:
        async for message in ws:
            if isinstance(message, bytes):
                self.frames.append(len(message))
                await ws.send(message)
                if len(self.frames) == 25:
                    await ws.send(json.dumps({"type": "mark", "name": "echo-25"}))
            else:
                self.replies.append(json.loads(message))

    async def _main(self) -> None:
        import websockets

        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with websockets.serve(self._handler, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}/audio"
            self._ready.set()
            await self._stop

    @contextlib.contextmanager
    def running(self) -> Iterator[EchoServer]:
        thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
        thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the echo server did not start")
        try:
            yield self
        finally:
            if self._loop and self._stop:
                self._loop.call_soon_threadsafe(self._stop.set_result, None)
            thread.join(10)


def have_websockets() -> bool:
    try:
        import websockets  # noqa: F401
    except ImportError:
        return False
    return True


def find_chromium(explicit: str) -> str | None:
    for candidate in (explicit, os.environ.get("CHROMIUM", ""), "/usr/bin/chromium",
                      shutil.which("chromium") or "", shutil.which("chromium-browser") or ""):
        if candidate and Path(candidate).exists():
            return candidate
    return None  # let Playwright use its own download, if any


def run(chromium: str | None, timeout_s: float) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with serve(ASSETS) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(timeout_s * 1000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{base}/index.html")
            result: dict[str, Any] = page.evaluate(
                "() => window.smokeTest({captureSeconds: 1.0})")
            if have_websockets():
                with EchoServer().running() as echo:
                    states = page.evaluate("(url) => window.wsTest(url, 1.5)", echo.url)
                result["websocket"] = {"framesIn": len(echo.frames),
                                       "frameSizes": sorted(set(echo.frames)),
                                       "markReplies": echo.replies, "states": states}
            result["pageErrors"] = errors
        finally:
            browser.close()
    return result


def failures(r: dict[str, Any]) -> list[str]:
    out = []
    if r.get("pageErrors"):
        out.append(f"page errors: {r['pageErrors']}")
    if not 25 <= r.get("framesPerSecond", 0) <= 75:
        out.append(f"capture: {r.get('framesPerSecond')} frames/s, expected about 50")
    if r.get("badFrames"):
        out.append(f"capture: {r['badFrames']} frames were not 320 Int16 samples")
    if not r.get("markPlayed"):
        out.append("playback: the mark after the tone was never reported played")
    if r.get("tapPeak", 0) < 0.1:
        out.append(f"playback: tapped output peak {r.get('tapPeak')}, the tone did not come out")
    if r.get("clearDropped") != ["long"] or r.get("longPlayed"):
        out.append(f"clear: dropped {r.get('clearDropped')}, long played {r.get('longPlayed')}")
    ws = r.get("websocket")
    if ws is not None:
        if ws["framesIn"] < 30 or ws["frameSizes"] != [640]:
            out.append(f"websocket: {ws['framesIn']} frames of sizes {ws['frameSizes']} "
                       "(expected about 75 frames of 640 bytes)")
        if {"type": "mark", "name": "echo-25", "played": True} not in ws["markReplies"]:
            out.append(f"websocket: the server's mark came back as {ws['markReplies']}")
        if "speaking" not in ws["states"]:
            out.append(f"websocket: echoed audio never played (states {ws['states']})")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="headless Chromium smoke test of the worklets")
    p.add_argument("--chromium", default="", help="Chromium executable")
    p.add_argument("--timeout", type=float, default=60.0)
    args = p.parse_args(argv)
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("worklet_smoke: Python Playwright is not installed (pip install playwright)",
              file=sys.stderr)
        return 2
    chromium = find_chromium(args.chromium)
    try:
        result = run(chromium, args.timeout)
    except Exception as exc:  # a missing browser surfaces as Playwright's own error
        if "Executable doesn't exist" in str(exc):
            print(f"worklet_smoke: no Chromium found ({exc})", file=sys.stderr)
            return 2
        raise
    bad = failures(result)
    print(json.dumps({"ok": not bad, "failures": bad, **result}, indent=2))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
