"""``[browser]`` and ``[page]`` settings: the browser channel and the page users ship (part
of ``callport.config``, which re-exports them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class BrowserSettings:
    enabled: bool = True
    ws_path: str = "/browser/ws"
    offer_path: str = "/browser/offer"
    token_path: str = "/browser/token"
    static_path: str = "/browser/static"
    ice_servers: tuple[str, ...] = ()  # stun:/turn: URLs; empty: host candidates only
    turn_username: str = ""
    turn_credential: str = ""
    allowed_origins: tuple[str, ...] = ()  # empty: same origin as the page only
    token_ttl_s: int = 60
    token_secret: str = ""  # empty: random per process (set it when several processes serve)
    lead_ms: int = 200  # how far agent audio may run ahead into the page's playback buffer
    max_calls: int = 20
    # Concurrent calls of one signed-in user (WebSocket and WebRTC together; >= 1). Over it
    # the WebSocket is closed 1013 and the offer answered 503, before any media.
    max_calls_per_user: int = 3

    def problems(self) -> list[str]:
        out = []
        for name in ("ws_path", "offer_path", "token_path", "static_path"):
            value = getattr(self, name)
            if not value.startswith("/") or value == "/":
                out.append(f"browser.{name}={value!r}: must be a path like /browser/x")
        for url in self.ice_servers:
            if not url.startswith(("stun:", "turn:", "turns:")):
                out.append(f"browser.ice_servers: {url!r} must start with stun:, turn: or turns:")
        if self.token_ttl_s <= 0:
            out.append(f"browser.token_ttl_s={self.token_ttl_s}: must be positive")
        if not 20 <= self.lead_ms <= 2000:
            out.append(f"browser.lead_ms={self.lead_ms}: use 20-2000")
        return out


PAGE_PANELS = ("transcript", "tasks", "keypad", "devices", "details")
_LOGO_TYPES = (".png", ".svg", ".jpg", ".jpeg", ".webp", ".gif", ".ico")


def _colour_ok(value: str) -> bool:
    hexpart = value[1:]
    return (value.startswith("#") and len(hexpart) in (3, 6)
            and all(c in "0123456789abcdefABCDEF" for c in hexpart))


@dataclass(frozen=True, slots=True, kw_only=True)
class PageSettings:
    """The browser page and widget as the product users ship (docs/configuration.md)."""

    name: str = ""  # empty: "Task Manager" with the built-in agent, else "Voice assistant"
    tagline: str = ""  # the line under the name; empty: a default for the agent
    logo: str = ""  # http(s) URL, or a file name inside assets_dir; empty: a coloured tile
    assets_dir: str = ""  # a directory served at <static_path>/brand/ (logo and friends)
    accent: str = ""  # "#rrggbb" or "#rgb": buttons, caller bubbles, focus
    background: str = ""  # "#rrggbb" or "#rgb": the page behind the panels
    greeting: str = ""  # shown in the conversation before the call; empty: a default
    panels: tuple[str, ...] = ()  # of PAGE_PANELS; empty: all, "tasks" only for Task Manager
    language: str = "en"  # BCP 47 tag; en, de, es and fr have the page's words, others en
    embed_path: str = "/browser/embed"  # the widget's iframe page and its grant endpoints

    def problems(self) -> list[str]:
        out = []
        for name in ("accent", "background"):
            value = getattr(self, name)
            if value and not _colour_ok(value):
                out.append(f"page.{name}={value!r}: use a hex colour like #5b8cff")
        for panel in self.panels:
            if panel not in PAGE_PANELS:
                out.append(f"page.panels: {panel!r} is not one of {', '.join(PAGE_PANELS)}")
        if self.logo and not self.logo.startswith(("https://", "http://")):
            if not self.assets_dir:
                out.append(f"page.logo={self.logo!r}: a file needs page.assets_dir (or use "
                           "an https:// URL)")
            elif "/" in self.logo or "\\" in self.logo or self.logo.startswith("."):
                out.append(f"page.logo={self.logo!r}: give a file name inside page.assets_dir")
            elif not self.logo.lower().endswith(_LOGO_TYPES):
                out.append(f"page.logo={self.logo!r}: use an image ({', '.join(_LOGO_TYPES)})")
            elif not (Path(self.assets_dir) / self.logo).is_file():
                out.append(f"page.logo={self.logo!r}: no such file in {self.assets_dir}")
        if self.assets_dir and not Path(self.assets_dir).is_dir():
            out.append(f"page.assets_dir={self.assets_dir!r}: not a directory")
        parts = self.language.split("-")
        if not (2 <= len(parts[0]) <= 3 and parts[0].isalpha()
                and all(0 < len(p) <= 8 and p.isalnum() for p in parts[1:])):
            out.append(f"page.language={self.language!r}: use a language tag like en or pt-BR")
        if not self.embed_path.startswith("/") or self.embed_path == "/":
            out.append(f"page.embed_path={self.embed_path!r}: must be a path like /browser/embed")
        for name in ("name", "tagline", "greeting"):
            if len(getattr(self, name)) > 300:
                out.append(f"page.{name}: at most 300 characters")
        return out
