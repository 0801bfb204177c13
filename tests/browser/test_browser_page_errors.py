"""The page's error states in headless Chromium: microphone denied, server unreachable."""

from __future__ import annotations

import pytest
from browser_harness import CHROMIUM, have_chromium, serve, session_page
from starlette.applications import Starlette

from callport.channels.browser import create
from callport.channels.browser.echo import EchoRuntime
from callport.config import Settings

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(not have_chromium(), reason="needs chromium + playwright")]

ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--use-fake-device-for-media-stream"]  # no fake-ui flag: permission prompts are denied


async def test_microphone_denied_and_server_unreachable_are_explained() -> None:
    from playwright.async_api import async_playwright

    runtime = EchoRuntime(settings=Settings())
    app = Starlette(routes=list(create(runtime).routes()))
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            async with serve(app) as base:
                page = await session_page(browser, base, await runtime.sign_in())
                await page.goto(f"{base}/")
                await page.click("#call")
                await page.wait_for_selector("#error:not([hidden])", timeout=15_000)
                assert "denied" in (await page.text_content("#error") or "").lower()
                assert await page.text_content("#status") == "Microphone blocked"
                page2 = await session_page(browser, base, await runtime.sign_in(),
                                           permissions=["microphone"])
                await page2.goto(f"{base}/")
            # The server is gone now; the page is still open.
            await page2.click("#call")
            await page2.wait_for_selector("#error:not([hidden])", timeout=15_000)
            assert "reach" in (await page2.text_content("#error") or "").lower()
            assert runtime.calls == []
        finally:
            await browser.close()
