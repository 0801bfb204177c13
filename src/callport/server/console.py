"""The operator console: ``/console``, its assets and its live event stream.

- ``GET /console`` (and ``/console/...`` deep links such as ``/console/calls/ID``): the page
  (``web/console/index.html``), for a signed-in ``admin`` or ``agent``; not signed in ->
  ``/login?next=/console``; anyone else 403. No build step: plain HTML, CSS and ES modules.
- ``GET /console/assets/NAME``: the page's modules and styles (``web/console/``) and the
  shared design system (``web/theme.css``, also linked by the Task Manager and agent pages).
- ``GET /api/console/events``: Server-Sent Events. First a ``snapshot`` (the live calls the
  viewer may see), then each hub event (``server.events``) for those calls as it happens, and
  a fresh ``snapshot`` whenever a live call's state changed (checked every
  ``SNAPSHOT_EVERY_S`` on the server; the browser never polls).
- The JSON API: ``server.console_api`` (live, history, a call), ``server.console_stats``
  (queues, quality) and ``server.console_admin`` (users, tokens, configuration).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import BaseRoute, Route

from callport.server.auth import user_of
from callport.server.console_api import console_api_routes, viewer
from callport.server.console_live import live_json
from callport.server.events import CallEnded, CallStarted, LiveEvent, event_json

if TYPE_CHECKING:
    from callport.server.runtime import Runtime
    from callport.types import User

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
CONSOLE_DIR = WEB_DIR / "console"
PAGE_PATH = "/console"
ASSETS = PAGE_PATH + "/assets"
SNAPSHOT_EVERY_S = 1.0
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
HEADERS = {"Cache-Control": "no-store", "Content-Security-Policy": "frame-ancestors 'none'",
           "X-Content-Type-Options": "nosniff"}


def _sse(kind: str, data: object) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _fingerprint(calls: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(c["call_id"], c["state"], c["detail"], c["user"], c["agent"]) for c in calls]


def console_routes(runtime: Runtime) -> list[BaseRoute]:
    from callport.server.console_admin import console_admin_routes
    from callport.server.console_listen import console_listen_routes
    from callport.server.console_stats import console_stats_routes

    async def page(request: Request) -> Response:
        user = user_of(request.scope)
        if user is None:
            return RedirectResponse(f"/login?next={PAGE_PATH}", status_code=303,
                                    headers={"Cache-Control": "no-store"})
        if not (user.has_role("admin") or user.has_role("agent")):
            return HTMLResponse(
                "<!doctype html><meta charset=utf-8><title>callport</title><p>The console is "
                "for admins and agents.</p>", status_code=403, headers=HEADERS)
        config = {"user": {"name": user.name, "display_name": user.display_name or user.name,
                           "roles": sorted(user.roles), "queues": list(user.queues)},
                  "admin": user.has_role("admin"), "assets": ASSETS, "logout": "/logout",
                  # listen-in's audio runs on the browser page's own Call class (call.js)
                  "listen": runtime.settings.browser.enabled,
                  "static": runtime.settings.browser.static_path,
                  "name": runtime.settings.page.name or "callport"}
        text = (CONSOLE_DIR / "index.html").read_text(encoding="utf-8")
        safe = json.dumps(config).replace("<", "\\u003c").replace(">", "\\u003e")
        text = text.replace("{{ASSETS}}", ASSETS).replace("{{CONFIG}}", safe)
        return HTMLResponse(text, headers=HEADERS)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        path = WEB_DIR / "theme.css" if name == "theme.css" else CONSOLE_DIR / name
        if "/" in name or name.startswith(".") or path.suffix not in TYPES or not path.is_file():
            return Response("not found\n", status_code=404)
        return FileResponse(path, media_type=TYPES[path.suffix],
                            headers={"Cache-Control": "no-cache"})

    async def events(request: Request) -> Response:
        who, refused = viewer(request)
        if refused is not None or who is None:
            return refused or Response(status_code=500)
        return StreamingResponse(_stream(runtime, who), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    async def me(request: Request) -> Response:
        who, refused = viewer(request)
        if refused is not None or who is None:
            return refused or Response(status_code=500)
        return JSONResponse({"user": who.name, "roles": sorted(who.roles),
                             "queues": list(who.queues)})

    return [
        Route(PAGE_PATH, page, methods=["GET"]),
        Route(PAGE_PATH + "/assets/{name}", asset, methods=["GET"]),
        Route(PAGE_PATH + "/{rest:path}", page, methods=["GET"]),
        Route("/api/console/events", events, methods=["GET"]),
        Route("/api/console/me", me, methods=["GET"]),
        *console_listen_routes(runtime),  # before .../{action}: listen, whisper
        *console_api_routes(runtime),
        *console_stats_routes(runtime),
        *console_admin_routes(runtime),
    ]


async def _stream(runtime: Runtime, who: User) -> AsyncIterator[bytes]:
    sub = runtime.events.subscribe()
    try:
        calls = live_json(runtime, who)
        seen = {str(c["call_id"]) for c in calls}
        last = _fingerprint(calls)
        yield _sse("snapshot", {"calls": calls})
        while True:
            event = await sub.next(timeout=SNAPSHOT_EVERY_S)
            if event is not None:
                if isinstance(event, CallStarted | CallEnded) or event.call_id not in seen:
                    calls = live_json(runtime, who)  # who may see it: decided on the live call
                    seen |= {str(c["call_id"]) for c in calls}
                if _visible(event, seen):
                    yield _sse("call", event_json(event))
                if isinstance(event, CallEnded):
                    seen.discard(event.call_id)
                    continue
            calls = live_json(runtime, who)
            now = _fingerprint(calls)
            if now != last:
                seen |= {str(c["call_id"]) for c in calls}
                last = now
                yield _sse("snapshot", {"calls": calls})
    finally:
        sub.close()


def _visible(event: LiveEvent, seen: set[str]) -> bool:
    return event.call_id in seen
