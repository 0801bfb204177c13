"""Settings: one frozen tree, loaded once at start from a TOML file and ``CALLPORT_*`` variables.

Precedence: built-in defaults < TOML file < environment. Environment names are
``CALLPORT_<SECTION>_<FIELD>`` (``CALLPORT_TWILIO_AUTH_TOKEN``), except the ``server``
section whose fields are ``CALLPORT_<FIELD>`` (``CALLPORT_DB``, ``CALLPORT_PORT``).
Lists in the environment are comma-separated. Every problem is reported at once as a
``ConfigError`` naming the key and what is expected.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callport.agentref import AgentRefError, parse_agent_ref
from callport.config_routing import RoutingSettings, SipTrunk


class ConfigError(ValueError):
    """Configuration is invalid; the message lists every problem and how to fix it."""


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """The per-user data directory: ``$XDG_DATA_HOME/callport``, else
    ``~/.local/share/callport`` (the default home of ``callport.db``)."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "callport"


def default_db(env: Mapping[str, str] | None = None) -> str:
    """``server.db`` when nothing sets it: ``callport.db`` in the per-user data directory."""
    return str(data_dir(env) / "callport.db")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    db: str = field(default_factory=default_db)  # the data directory's callport.db
    log_level: str = "info"
    log_format: str = "text"  # text, or json: one JSON object per line
    # What a caller hears after an apology when the agent or flow fails mid-call:
    # "goodbye" (hang up) or "transfer:<target>" (tel:+1555..., sip:...; goodbye if refused).
    fallback: str = "goodbye"
    web_path: str = "/"
    api_path: str = "/api/tasks"
    agent: str = ""  # "module:attribute" of your agent factory; empty: the Task Manager
    flow: str = ""  # "module:attribute" of your call flow; empty: greet, then the agent
    ivr: str = ""  # a menu file (TOML, docs/configuration.md "IVR menus"); runs instead of flow
    # Host headers answered; others get 421. Empty: the bind host, localhost, 127.0.0.1, ::1
    # and the hosts of every configured public URL (twilio/telnyx public_base_url).
    allowed_hosts: tuple[str, ...] = ()
    metrics_public: bool = False  # false: /metrics needs an API token (Prometheus bearer_token)
    shutdown_grace_s: float = 5.0  # SIGTERM: stop admitting, hang up live calls, exit by then

    def problems(self) -> list[str]:
        out = []
        if not 0 <= self.port <= 65535:
            out.append(f"server.port={self.port}: must be 0-65535")
        module, sep, attr = self.flow.partition(":")
        if self.flow and not (sep and module and attr):
            out.append(f"server.flow={self.flow!r}: expected 'package.module:attribute'")
        if self.ivr and self.flow:
            out.append("server.ivr and server.flow: set one (the menu file is the call flow)")
        if self.agent:
            try:
                parse_agent_ref(self.agent)
            except AgentRefError as exc:
                out.append(f"server.agent={exc}")
        if self.log_level.lower() not in {"debug", "info", "warning", "error"}:
            out.append(f"server.log_level={self.log_level!r}: use debug, info, warning or error")
        if not 0 < self.shutdown_grace_s <= 60:
            out.append("server.shutdown_grace_s: use 0-60 seconds")
        if self.log_format not in {"text", "json"}:
            out.append(f"server.log_format={self.log_format!r}: use text or json")
        if not (self.fallback == "goodbye" or (self.fallback.startswith("transfer:")
                                               and len(self.fallback) > len("transfer:"))):
            out.append(f"server.fallback={self.fallback!r}: use goodbye or transfer:<target>")
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentitySettings:
    """Who a caller is: phone callers by caller ID (then PIN), browsers by signing in."""

    # A caller whose number no user has: "reject" (a polite goodbye), "guest" (a throw-away
    # list for this call only) or "owner" (single-user mode: every caller acts as the owner).
    unknown: str = "reject"
    owner: str = "owner"  # the account `serve` creates on first run; talk/tasks default to it
    pin_attempts: int = 3  # wrong PINs before the call ends
    pin_timeout_s: float = 10.0  # silence while a PIN is asked for counts as a wrong attempt
    session_ttl_s: int = 12 * 3600  # a signed-in browser's cookie
    signin_ttl_s: int = 24 * 3600  # the one-time sign-in link

    def problems(self) -> list[str]:
        out = []
        if self.unknown not in {"reject", "guest", "owner"}:
            out.append(f"identity.unknown={self.unknown!r}: use reject, guest or owner")
        if not self.owner:
            out.append("identity.owner: must not be empty")
        if not 1 <= self.pin_attempts <= 10:
            out.append("identity.pin_attempts: use 1-10")
        if self.pin_timeout_s <= 0:
            out.append("identity.pin_timeout_s: must be > 0")
        for name in ("session_ttl_s", "signin_ttl_s"):
            if getattr(self, name) <= 0:
                out.append(f"identity.{name}: must be positive")
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechSettings:
    stt: str = "whisper"  # whisper
    tts: str = "auto"  # auto (piper, else espeak), piper, espeak
    whisper_threads: int = 2
    tts_threads: int = 1
    espeak_voice: str = "en-us"
    piper_variation: bool = True  # false: identical text renders identically (tests, benches)

    def problems(self) -> list[str]:
        out = []
        if self.stt not in {"whisper"}:
            out.append(f"speech.stt={self.stt!r}: supported: whisper")
        if self.tts not in {"auto", "piper", "espeak"}:
            out.append(f"speech.tts={self.tts!r}: use auto, piper or espeak")
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnSettings:
    vad: str = "silero"  # silero, webrtc
    start_threshold: float = 0.5
    stop_threshold: float = 0.35
    min_speech_ms: int = 120
    end_of_turn_ms: int = 500
    barge_in_ms: int = 160

    def problems(self) -> list[str]:
        out = []
        if self.vad not in {"silero", "webrtc"}:
            out.append(f"turn.vad={self.vad!r}: use silero or webrtc")
        if not 0.0 < self.stop_threshold <= self.start_threshold < 1.0:
            out.append("turn: need 0 < stop_threshold <= start_threshold < 1")
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class TwilioSettings:
    account_sid: str = ""
    auth_token: str = ""
    api_key_sid: str = ""
    api_key_secret: str = ""
    numbers: tuple[str, ...] = ()
    public_base_url: str = ""
    trust_forwarded: bool = False
    api_base_url: str = "https://api.twilio.com"
    voice_path: str = "/twilio/voice"
    media_path: str = "/twilio/media"
    status_path: str = "/twilio/status"  # call, stream and AMD status callbacks
    after_path: str = "/twilio/after"  # <Connect action>: what to do when the stream ends
    calls_path: str = "/twilio/calls"  # JSON API placing outbound calls
    calls_api_token: str = ""  # extra static bearer token for calls_path (API tokens also work)
    token_ttl_s: int = 120  # how long a stream token minted for a call stays valid

    def problems(self) -> list[str]:
        out = []
        for name in ("public_base_url", "api_base_url"):
            value = getattr(self, name)
            if value and not value.startswith(("https://", "http://")):
                out.append(f"twilio.{name}={value!r}: must start with https:// or http://")
        for name in ("voice_path", "media_path", "status_path", "after_path", "calls_path"):
            if not getattr(self, name).startswith("/"):
                out.append(f"twilio.{name}: must start with /")
        if self.token_ttl_s <= 0:
            out.append("twilio.token_ttl_s: must be positive")
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class TelnyxSettings:
    api_key: str = ""
    public_key: str = ""  # base64 Ed25519 key from the portal: verifies every webhook
    connection_id: str = ""  # Call Control application id (outbound dial)
    numbers: tuple[str, ...] = ()
    public_base_url: str = ""  # https://gw.example.com; empty: the Host of each webhook
    api_base_url: str = "https://api.telnyx.com"
    webhook_path: str = "/telnyx/webhook"
    texml_path: str = "/telnyx/texml"  # TeXML set-up path (alternative to Call Control)
    media_path: str = "/telnyx/media"
    codec: str = "PCMU"  # PCMU (8 kHz) or L16 (16 kHz)
    stream_secret: str = ""  # signs per-call stream tokens; empty: derived from api_key
    token_ttl_s: int = 120  # a stream token must be used this soon after the answer or dial

    def problems(self) -> list[str]:
        out = []
        if self.token_ttl_s <= 0:
            out.append("telnyx.token_ttl_s: must be positive")
        if self.codec not in {"PCMU", "L16"}:
            out.append(f"telnyx.codec={self.codec!r}: use PCMU or L16")
        for name in ("public_base_url", "api_base_url"):
            value = getattr(self, name)
            if value and not value.startswith(("https://", "http://")):
                out.append(f"telnyx.{name}={value!r}: must start with https:// or http://")
        for name in ("webhook_path", "texml_path", "media_path"):
            if not getattr(self, name).startswith("/"):
                out.append(f"telnyx.{name}: must start with /")
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class SipSettings:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 5060
    public_host: str = ""
    rtp_port_min: int = 20000
    rtp_port_max: int = 20999
    user: str = "callport"  # user part of our Contact / From
    max_calls: int = 200
    media_timeout_s: float = 30.0  # no RTP for this long (while expected) -> BYE
    answer_delay_ms: int = 0  # ring (180) this long before answering inbound calls
    # Inbound trunk: IP/CIDR allowlist (empty: anyone) and/or digest users "name:password".
    allow_from: tuple[str, ...] = ()
    auth_realm: str = "callport"
    auth_users: tuple[str, ...] = ()
    # Outbound trunk: "host[:port]" that tel: numbers and bare sip: URIs go to, digest
    # credentials answered on 401/407, and the caller ID user part.
    trunk_address: str = ""
    trunk_username: str = ""
    trunk_password: str = ""
    caller_id: str = ""
    # Transport to the trunk: "udp", "tcp", or "" (RFC 3263: SRV _sip._udp, then _sip._tcp).
    # A target URI's own ;transport= parameter wins.
    trunk_transport: str = ""
    # No response at all from one resolved target for this long (INVITE Timer B, REGISTER
    # Timer F): try the next SRV/A target; the last one failing fails the call (408).
    target_timeout_s: float = 8.0
    # REGISTER client: keep this AOR (sip:user@domain) bound at trunk_address (PBX extensions,
    # Telnyx credential connections), with the trunk credentials.
    register_aor: str = ""
    register_expires_s: int = 300
    # REFER we are asked to follow: targets (fnmatch patterns over the Refer-To URI, e.g.
    # "sip:*@pbx.example.com", "tel:+4420*") we may dial; empty: every REFER is refused (603).
    # A REFER is followed only from a trusted peer (in allow_from, or digest-authenticated).
    refer_allow: tuple[str, ...] = ()
    # More outbound trunks, [sip.trunks.NAME] tables (callport.config_routing.SipTrunk):
    # routing carriers with their own address, transport, credentials and caller ID.
    trunks: tuple[SipTrunk, ...] = ()

    def problems(self) -> list[str]:
        import ipaddress

        out = []
        if not 0 <= self.port <= 65535:
            out.append(f"sip.port={self.port}: must be 0-65535")
        if not 1024 <= self.rtp_port_min < self.rtp_port_max <= 65535:
            out.append("sip: need 1024 <= rtp_port_min < rtp_port_max <= 65535")
        if self.media_timeout_s <= 0:
            out.append("sip.media_timeout_s: must be > 0")
        if self.max_calls < 1:
            out.append("sip.max_calls: must be >= 1")
        if self.trunk_transport.lower() not in ("", "udp", "tcp"):
            out.append(f"sip.trunk_transport={self.trunk_transport!r}: use udp, tcp or empty")
        if self.target_timeout_s <= 0:
            out.append("sip.target_timeout_s: must be > 0")
        for net in self.allow_from:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                out.append(f"sip.allow_from: {net!r} is not an IP address or CIDR")
        for user in self.auth_users:
            if ":" not in user or not user.split(":", 1)[0]:
                out.append(f"sip.auth_users: {user!r} must be name:password")
        if self.register_aor and not (self.register_aor.startswith("sip:")
                                      and "@" in self.register_aor and self.trunk_address):
            out.append("sip.register_aor: use sip:user@domain and set sip.trunk_address")
        if self.trunk_address:
            host, _, port = self.trunk_address.rpartition(":")
            if port and host and not (port.isdigit() and 0 < int(port) < 65536):
                out.append(f"sip.trunk_address={self.trunk_address!r}: use host[:port]")
        return out


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


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSettings:
    """The adapters ``server.agent`` may name (``relay:wss://...``, ``llm:http://host/v1``)."""

    api_key: str = ""  # llm: sent as "Authorization: Bearer"; relay: none is sent when empty
    model: str = ""  # llm: the chat model ("llama3.2", "gpt-4o-mini"); empty: the server's choice
    system_prompt: str = ""  # llm: instructions; empty: a short phone-assistant prompt
    greeting: str = ""  # first words (ConversationRelay's welcomeGreeting); empty: the default
    connect_timeout_s: float = 5.0  # opening the agent's WebSocket / HTTP connection
    reply_timeout_s: float = 15.0  # caller's turn to the agent's first words (or an action)
    handoff: str = ""  # relay `end` whose handoffData names no target: transfer here; else bye

    def problems(self) -> list[str]:
        out = []
        for name in ("connect_timeout_s", "reply_timeout_s"):
            if not 0 < getattr(self, name) <= 120:
                out.append(f"agent.{name}: use 0-120 seconds")
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


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingSettings:
    """Call recording with consent (``callport.recording``)."""

    # off: nothing recorded; notify: a notice, staying on the line is consent; consent: the
    # caller must say yes. A party in an all-party-consent place makes notify act as consent.
    mode: str = "off"
    notice: str = "This call may be recorded for quality."  # after the automated-assistant line
    question: str = "Do you agree to the recording? Please say yes or no."
    answer_s: float = 6.0  # consent: how long to wait for the answer
    stay_s: float = 2.0  # notify: how long after the notice staying on the line is consent
    paused: str = "silence"  # a paused span is written as silence or skipped
    dir: str = ""  # where recordings go; empty = recordings/ beside server.db
    # outbound calls always open with "This is an automated call from BEHALF..." (FCC 24-17,
    # EU AI Act art. 50): whose behalf; empty = page.name, else "callport"
    behalf: str = ""
    key: str = ""  # AES-256-GCM key, base64; empty = generated once into the data directory
    retention_days: int = 30  # recordings older than this are purged (0 = kept until erased)

    def problems(self) -> list[str]:
        out = []
        if self.mode not in {"off", "notify", "consent"}:
            out.append(f"recording.mode={self.mode!r}: use off, notify or consent")
        if self.paused not in {"silence", "skip"}:
            out.append(f"recording.paused={self.paused!r}: use silence or skip")
        for name in ("answer_s", "stay_s"):
            if getattr(self, name) < 0:
                out.append(f"recording.{name}: must be >= 0")
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    turn: TurnSettings = field(default_factory=TurnSettings)
    twilio: TwilioSettings = field(default_factory=TwilioSettings)
    telnyx: TelnyxSettings = field(default_factory=TelnyxSettings)
    sip: SipSettings = field(default_factory=SipSettings)
    browser: BrowserSettings = field(default_factory=BrowserSettings)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    page: PageSettings = field(default_factory=PageSettings)
    agent: AgentSettings = field(default_factory=AgentSettings)
    recording: RecordingSettings = field(default_factory=RecordingSettings)


def _convert(raw: Any, typ: Any, key: str, problems: list[str]) -> Any:
    origin = typing.get_origin(typ)
    try:
        if typ is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError("expected true or false")
        if typ is int:
            if isinstance(raw, bool):
                raise ValueError("expected an integer")
            return int(raw)
        if typ is float:
            return float(raw)
        if typ is str:
            if not isinstance(raw, str | int | float):
                raise ValueError("expected a string")
            return str(raw)
        if origin is tuple and dataclasses.is_dataclass(typing.get_args(typ)[0]):
            return _tables(raw, typing.get_args(typ)[0], key, problems)
        if origin is tuple:
            if isinstance(raw, str):
                return tuple(part.strip() for part in raw.split(",") if part.strip())
            if isinstance(raw, list):
                return tuple(str(x) for x in raw)
            raise ValueError("expected a list")
    except ValueError as exc:
        problems.append(f"{key}={raw!r}: {exc}")
        return None
    problems.append(f"{key}: unsupported type {typ}")
    return None


def _tables(raw: Any, item: Any, key: str, problems: list[str]) -> tuple[Any, ...] | None:
    """``[key.NAME]`` tables -> a tuple of ``item`` dataclasses (``name`` = NAME), each checked
    with its ``problems(key)``; TOML only."""
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        problems.append(f"{key}: use [{key}.NAME] tables in the TOML file")
        return None
    hints = typing.get_type_hints(item)
    out = []
    for name, table in raw.items():
        where = f"{key}.{name}"
        values: dict[str, Any] = {"name": str(name)}
        for f in dataclasses.fields(item):
            if f.name != "name" and f.name in table:
                values[f.name] = _convert(table.pop(f.name), hints[f.name], f"{where}.{f.name}",
                                          problems)
        problems.extend(f"{where}.{unknown}: unknown setting" for unknown in table)
        entry = item(**{k: v for k, v in values.items() if v is not None})
        problems.extend(entry.problems(where))
        out.append(entry)
    return tuple(out)


def load_settings(
    path: Path | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Build Settings from defaults, an optional TOML file and the environment."""
    env = os.environ if env is None else env
    if path is None and env.get("CALLPORT_CONFIG"):
        path = Path(env["CALLPORT_CONFIG"])
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found: create it or drop --config") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    from callport.config_check import range_problems, unknown_variables

    problems: list[str] = []
    known_env: list[str] = []
    sections: dict[str, Any] = {}
    hints = typing.get_type_hints(Settings)
    for top in dataclasses.fields(Settings):
        cls = hints[top.name]
        table = data.pop(top.name, {})
        if not isinstance(table, dict):
            problems.append(f"[{top.name}] must be a table")
            table = {}
        field_hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for f in dataclasses.fields(cls):
            prefix = "CALLPORT_" if top.name == "server" else f"CALLPORT_{top.name.upper()}_"
            env_name = prefix + f.name.upper()
            key = f"{top.name}.{f.name}"
            known_env.append(env_name)
            if f.name in table:
                sources[f.name] = key
                values[f.name] = _convert(table.pop(f.name), field_hints[f.name], key, problems)
            if env_name in env:
                sources[f.name] = env_name
                values[f.name] = _convert(env[env_name], field_hints[f.name], env_name, problems)
        if top.name == "server" and "db" not in values:  # the data directory of this env
            values["db"] = default_db(env)
        for unknown in table:
            problems.append(f"{top.name}.{unknown}: unknown setting")
        try:
            section = cls(**{k: v for k, v in values.items() if v is not None})
        except TypeError as exc:  # pragma: no cover - guarded by the field loop
            problems.append(str(exc))
            section = cls()
        problems.extend(range_problems(top.name, section, sources, own=section.problems()))
        sections[top.name] = section
    for unknown in data:
        problems.append(f"[{unknown}]: unknown section")
    problems.extend(unknown_variables(env, known_env))
    if problems:
        where = f" in {path}" if path else ""
        if len(problems) == 1:  # one mistake, one line
            raise ConfigError(f"invalid configuration{where}: {problems[0]} "
                              "(see docs/configuration.md)")
        raise ConfigError(
            f"invalid configuration{where}:\n  - " + "\n  - ".join(problems)
            + "\nSee docs/configuration.md for every setting."
        )
    return Settings(**sections)


def _type_name(typ: Any) -> str:
    if isinstance(typ, types.GenericAlias):
        return "list"
    return getattr(typ, "__name__", str(typ))
