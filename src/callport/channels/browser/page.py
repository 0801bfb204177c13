"""The page as a product: branding from ``[page]``, the embed page and the widget's grant.

* ``page_config`` is what the page's JavaScript reads (``<script id="callport-config">``):
  routes, the name, tagline, logo, greeting, panels and language. ``render`` fills the HTML
  template: the language, the colours (CSS custom properties; values are validated hex in
  ``PageSettings``) and the configuration.
* The widget (``web/widget.js``, one ``<script>`` tag on another site) opens the page in an
  iframe at ``page.embed_path``. A cross-site iframe never receives callport's SameSite=Strict
  session cookie, so the iframe holds its own credential: a ``session`` token that the user
  grants to one host origin from a callport-origin popup (``embed_path/connect``), where the
  cookie does flow. The popup posts the grant to the iframe (its opener, callport's own origin
  only); the iframe sends it as ``Authorization: Bearer`` (token, offer) and as the
  WebSocket subprotocol ``callport.bearer.<secret>`` (browsers cannot set headers on a
  WebSocket). The host page never sees it.
* Who may embed: only the origins in ``browser.allowed_origins`` (``frame-ancestors`` in the
  embed page's Content-Security-Policy, checked again on the grant and in the iframe's
  ``postMessage`` handler). Without any, the page cannot be embedded at all.
"""

from __future__ import annotations

import html
import json
from typing import Any

from callport.config import PAGE_PANELS, Settings

TASK_MANAGER_NAME = "Task Manager"
NEUTRAL_NAME = "Voice assistant"
BEARER_PROTOCOL = "callport.bearer."  # WebSocket subprotocol prefix carrying a session token
WS_PROTOCOL = "callport"  # the subprotocol the server selects


def is_task_manager(settings: Settings) -> bool:
    """Is the configured agent callport's built-in Task Manager (no ``server.agent``)?"""
    return not settings.server.agent


def panels(settings: Settings) -> list[str]:
    """The panels shown: ``page.panels``, else all ("tasks" only with the Task Manager)."""
    if settings.page.panels:
        return list(settings.page.panels)
    tm = is_task_manager(settings)
    return [p for p in PAGE_PANELS if p != "tasks" or tm]


def logo_url(settings: Settings) -> str:
    logo = settings.page.logo
    if not logo or logo.startswith(("https://", "http://")):
        return logo
    return f"{settings.browser.static_path}/brand/{logo}"


def page_config(settings: Settings, *, vad: bool, embed: bool = False,
                host_origin: str = "") -> dict[str, Any]:
    cfg, page = settings.browser, settings.page
    tm = is_task_manager(settings)
    return {
        "static": cfg.static_path, "token": cfg.token_path, "ws": cfg.ws_path,
        "offer": cfg.offer_path, "tasks": settings.server.api_path,
        "me": "/api/me", "login": "/login", "logout": "/logout", "vad": vad,
        "name": page.name or (TASK_MANAGER_NAME if tm else NEUTRAL_NAME),
        "tagline": page.tagline or ("Talk to your to-do list · powered by callport" if tm
                                    else "Press call and start talking · powered by callport"),
        "greeting": page.greeting or (
            "Try “add a task to buy milk tomorrow”, “what’s on my list?” or “mark buy milk "
            "as done”." if tm else "Press call and say what you need."),
        "logo": logo_url(settings), "panels": panels(settings), "language": page.language,
        "task_manager": tm, "embed": embed, "host_origin": host_origin,
        "allowed_origins": list(cfg.allowed_origins), "embed_path": page.embed_path,
    }


def render(template: str, settings: Settings, config: dict[str, Any]) -> str:
    page = settings.page
    style = []
    if page.accent:
        style.append(f"--accent:{page.accent};")
    if page.background:
        style.append(f"--bg:{page.background};")
    css = f"<style>:root{{{''.join(style)}}}</style>" if style else ""
    return (template.replace("{{STATIC}}", settings.browser.static_path)
            .replace("{{LANG}}", html.escape(page.language, quote=True))
            .replace("{{TITLE}}", html.escape(str(config["name"])))
            .replace("{{STYLE}}", css)
            .replace("{{CONFIG}}", json.dumps(config).replace("<", "\\u003c")))


def frame_ancestors(settings: Settings) -> str:
    """The embed page's CSP: only callport itself and ``browser.allowed_origins`` may frame it."""
    allowed = [o.rstrip("/") for o in settings.browser.allowed_origins]
    sources = "*" if "*" in allowed else " ".join(["'self'", *allowed])
    return f"frame-ancestors {sources}"


def embed_allowed(origin: str, settings: Settings) -> bool:
    """May a page on ``origin`` embed callport (it is listed in ``browser.allowed_origins``)?"""
    allowed = {o.rstrip("/").lower() for o in settings.browser.allowed_origins}
    origin = origin.rstrip("/").lower()
    return bool(origin) and origin != "null" and ("*" in allowed or origin in allowed)


def bearer_of_protocols(header: str) -> str | None:
    """The session secret in a ``Sec-WebSocket-Protocol`` list (``callport.bearer.<secret>``)."""
    for item in header.split(","):
        item = item.strip()
        if item.startswith(BEARER_PROTOCOL) and len(item) > len(BEARER_PROTOCOL):
            return item[len(BEARER_PROTOCOL):]
    return None
