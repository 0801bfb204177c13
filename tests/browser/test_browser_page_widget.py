"""The embeddable widget in headless Chromium: one script tag on a page of another site
(``localhost:<port>`` embedding callport on ``127.0.0.1:<port>``, so SameSite=Strict cookies do
not reach the iframe). The user grants the site once from callport's popup; the host page
then calls through the JS API and gets state, caption and reply events; a digit reaches the
agent. A site not in ``browser.allowed_origins`` cannot frame callport, and the grant
endpoint refuses foreign origins and unlisted sites. Writes docs/widget.png on request."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
from browser_harness import SESSION_COOKIE, chromium, synth_wav
from browser_page_support import HEARD, serve_on, shop_runtime, shop_settings, wait_for
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from callport.agents.base import UserPressed
from callport.channels.browser import create
from callport.server.app import create_app
from loadgen.ports import free_port

pytestmark = [pytest.mark.slow, pytest.mark.interop]
ROOT = Path(__file__).resolve().parent.parent.parent

HOST_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Corner Shop</title>
<style>body{font:16px system-ui;margin:0;background:#f6f1ea;color:#2b2118}
header{background:#e8590c;color:white;padding:24px 40px;font-size:26px;font-weight:700}
main{padding:30px 40px;max-width:640px;line-height:1.6}</style></head><body>
<header>Corner Shop</header><main><h2>Opening hours</h2><p>Monday to Saturday 9:00-18:00,
Sunday 10:00-16:00. Questions about an order? Call us from this page.</p>
<button id="api-call" type="button">Call through the API</button></main>
<script>window.events = [];
</script>
<script src="__CALLPORT__/browser/static/widget.js" data-callport="__CALLPORT__"
        data-label="Call the shop"></script>
<script>for (const n of ['ready', 'state', 'caption', 'reply', 'error'])
  Callport.on(n, (d) => window.events.push({ name: n, detail: d }));
document.getElementById('api-call').onclick = () => Callport.start();
</script></body></html>"""


def host_app(callport: str) -> Starlette:
    async def index(request: object) -> HTMLResponse:
        return HTMLResponse(HOST_PAGE.replace("__CALLPORT__", callport))

    return Starlette(routes=[Route("/", index)])


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("widget") / "hello.wav"
    synth_wav(path, [HEARD], lead_s=3.0, tail_s=4.0)  # looped: said every ~8 s
    return path


async def test_widget_on_another_site_grant_call_events_and_keypad(tmp_path: Path,
                                                                   speech_wav: Path) -> None:
    cp_port, host_port, evil_port = free_port(), free_port(), free_port()
    callport = f"http://127.0.0.1:{cp_port}"
    host = f"http://localhost:{host_port}"
    settings = shop_settings(tmp_path, allowed=(host,), name="Corner Shop",
                             accent="#e8590c")
    runtime, inputs = shop_runtime(settings)
    await runtime.users.add("caller")
    secret = (await runtime.tokens.create("caller", kind="session", ttl_s=3600,
                                          now=time.time())).secret
    app = create_app(runtime, channels=[create(runtime)])
    async with (serve_on(app, cp_port), serve_on(host_app(callport), host_port, "localhost"),
                serve_on(host_app(callport), evil_port, "localhost"),
                chromium(speech_wav, loop=True) as browser):
        # The grant endpoint: callport's own page only, signed in, for listed sites only.
        async with httpx.AsyncClient(base_url=callport) as client:
            cookie = {SESSION_COOKIE: secret}
            grant = "/browser/embed/grant"
            r = await client.post(grant, json={"host": host}, headers={"origin": host},
                                  cookies=cookie)
            assert r.status_code == 403  # the foreign page itself cannot mint a grant
            r = await client.post(grant, json={"host": host}, headers={"origin": callport})
            assert r.status_code == 401
            r = await client.post(grant, json={"host": f"http://localhost:{evil_port}"},
                                  headers={"origin": callport}, cookies=cookie)
            assert r.status_code == 403
            r = await client.get("/browser/embed", params={"host": "http://evil.example"})
            assert r.status_code == 403
            r = await client.get("/browser/embed", params={"host": host})
            assert r.headers["content-security-policy"] == f"frame-ancestors 'self' {host}"

        ctx = await browser.new_context(viewport={"width": 1100, "height": 720})
        await ctx.add_cookies([{"name": SESSION_COOKIE, "value": secret, "url": callport,
                                "httpOnly": True, "sameSite": "Strict"}])
        page = await ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{host}/")
        await wait_for(page, "window.events.some((e) => e.name === 'ready')")
        await page.click(".callport-launch")
        frame = page.frame_locator("iframe.callport-panel")
        await frame.locator("#connect").wait_for(state="visible")
        # The session cookie did not reach the cross-site iframe: it must be granted.
        async with ctx.expect_page() as popup_info:
            await frame.locator("#connect").click()
        popup = await popup_info.value
        await popup.wait_for_load_state()
        assert host in (await popup.text_content("#ask") or "")
        await popup.click("#allow")
        await frame.locator("#call").wait_for(state="visible")
        assert any(t.label == f"widget on {host}" for t in await runtime.tokens.list())
        # The host page starts the call through the API (a click on the host page).
        await page.click("#api-call")
        await wait_for(page, "window.events.some((e) => e.name === 'state' "
                             "&& e.detail.state === 'live')")
        caption = await wait_for(page, "window.events.find((e) => e.name === 'caption' "
                                       "&& e.detail.final)", 45_000)
        assert caption["detail"]["text"] == HEARD
        await wait_for(page, "window.events.some((e) => e.name === 'reply' "
                             "&& e.detail.text.startsWith('You said'))", 30_000)
        shot = (ROOT / "docs" / "widget.png" if os.environ.get("CALLPORT_UPDATE_SCREENSHOT")
                else ROOT / ".artifacts" / "widget.png")
        shot.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(shot))
        await page.evaluate("Callport.press('7')")
        await wait_for(page, "window.events.some((e) => e.name === 'reply' "
                             "&& e.detail.text === 'You pressed 7.')")
        assert UserPressed("7") in inputs
        await page.evaluate("Callport.hangup()")
        await wait_for(page, "window.events.some((e) => e.name === 'state' "
                             "&& e.detail.state === 'ended')")
        assert not errors, errors

        # A site that is not listed: the browser refuses to frame callport (CSP), so the
        # widget never becomes ready and no call can start there.
        other = await ctx.new_page()
        await other.goto(f"http://localhost:{evil_port}/")
        await other.wait_for_timeout(2000)
        assert not await other.evaluate("window.events.some((e) => e.name === 'ready')")
        await ctx.close()
