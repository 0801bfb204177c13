"""Two people in headless Chromium: each signs in and sees only their own tasks; a page on
another origin (same site, so the browser attaches the cookie) cannot write; sign-out ends it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from browser_harness import CHROMIUM, CHROMIUM_ARGS, have_chromium, serve, sign_in_by_link
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from callport.channels.browser import create
from callport.config import ServerSettings, Settings
from callport.server.app import create_app
from callport.server.runtime import build_runtime

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(not have_chromium(), reason="needs chromium + playwright")]

ADD = """async (title) => {
  const r = await fetch('/api/tasks/', {method: 'POST',
    headers: {'content-type': 'application/json'}, body: JSON.stringify({title})});
  return r.status;
}"""

FORGE = """async (target) => {
  const out = [];
  for (const [type, mode] of [['text/plain', 'no-cors'], ['application/json', 'cors']]) {
    try {
      const r = await fetch(target, {method: 'POST', mode, credentials: 'include',
                                     headers: {'content-type': type}, body: '{"title": "pwned"}'});
      out.push(r.type === 'opaque' ? 'opaque' : r.status);
    } catch (e) { out.push('blocked'); }
  }
  return out;
}"""


def titles_shown(tasks: list[dict[str, object]]) -> list[object]:
    return sorted(t["title"] for t in tasks)


async def test_two_users_each_see_only_their_own_tasks(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    runtime = build_runtime(Settings(server=ServerSettings(db=str(tmp_path / "t.db"))))
    await runtime.users.add("alice", display_name="Alice", password="alice's password")
    await runtime.users.add("bob", display_name="Bob")
    app = create_app(runtime, channels=[create(runtime)])
    evil = Starlette(routes=[Route("/", lambda r: HTMLResponse("<h1>cute cats</h1>"))])
    async with serve(app) as base, serve(evil) as foreign, async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=CHROMIUM_ARGS)
        try:
            alice = await (await browser.new_context()).new_page()
            await alice.goto(f"{base}/")
            await alice.wait_for_url(f"{base}/login")  # not signed in: the sign-in page
            shot = os.environ.get("CALLPORT_LOGIN_SCREENSHOT")
            if shot:
                await alice.set_viewport_size({"width": 900, "height": 560})
                await alice.screenshot(path=shot)
            await alice.fill("#name", "alice")
            await alice.fill("#password", "wrong password")
            await alice.click("#submit")
            await alice.wait_for_selector("#error:not([hidden])")
            assert "do not match" in (await alice.text_content("#error") or "")
            await alice.fill("#password", "alice's password")
            await alice.click("#submit")
            await alice.wait_for_url(f"{base}/")
            await alice.wait_for_function("window.callport.user !== null", timeout=15_000)
            assert await alice.text_content("#who-name") == "Alice"

            bob = await (await browser.new_context()).new_page()
            await sign_in_by_link(bob, base, runtime, "bob")
            assert await bob.text_content("#who-name") == "Bob"
            # Bob came in by link and has no password yet: he sets one on the page.
            assert await bob.text_content("#password-open") == "Set a password"
            assert await bob.is_hidden("#password-dialog")
            await bob.click("#password-open")
            assert await bob.is_hidden("#current-field")
            await bob.fill("#new-password", "bob's new password")
            await bob.click("#password-save")
            await bob.wait_for_function("window.callport.user.has_password === true")
            assert await bob.is_hidden("#password-dialog")
            assert await runtime.users.check_password("bob", "bob's new password") is not None

            assert await alice.evaluate(ADD, "alice: buy milk") == 201
            assert await bob.evaluate(ADD, "bob: call mom") == 201
            assert await bob.evaluate(ADD, "bob: pay rent") == 201
            await alice.wait_for_function(
                "window.callport.tasks.length === 1", timeout=15_000)
            await bob.wait_for_function(
                "window.callport.tasks.length === 2", timeout=15_000)
            await asyncio.sleep(1.5)  # another poll: still only their own
            assert titles_shown(await alice.evaluate("window.callport.tasks")) == [
                "alice: buy milk"]
            assert titles_shown(await bob.evaluate("window.callport.tasks")) == [
                "bob: call mom", "bob: pay rent"]
            assert "alice" not in (await bob.text_content("#tasks") or "")

            # A page on another port of the same host: same site, so Chromium sends Alice's
            # SameSite=Strict cookie along; the Origin and content-type rules refuse it.
            lure = await alice.context.new_page()
            await lure.goto(f"{foreign}/")
            results = await lure.evaluate(FORGE, f"{base}/api/tasks/")
            assert results[0] == "opaque" and results[1] in ("blocked", 403), results
            assert [t.title for t in await runtime.tasks.of("alice").list()] == [
                "alice: buy milk"]

            # Sign out: back to the sign-in page, and the session is dead on the server.
            await alice.click("#logout")
            await alice.wait_for_url(f"{base}/login")
            await alice.goto(f"{base}/")
            await alice.wait_for_url(f"{base}/login")
            assert await alice.evaluate("fetch('/api/tasks/').then((r) => r.status)") == 401
            sessions = [t for t in await runtime.tokens.list(user="alice")
                        if t.kind == "session"]
            assert sessions and all(t.revoked for t in sessions)
        finally:
            await browser.close()
    assert [t.title for t in await runtime.tasks.of("bob").list()] == [
        "bob: call mom", "bob: pay rent"]
