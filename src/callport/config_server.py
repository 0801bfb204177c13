"""``[server]`` and ``[identity]`` settings (part of ``callport.config``, which re-exports them)."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from callport.agentref import AgentRefError, parse_agent_ref


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """The per-user data directory: ``$XDG_DATA_HOME/callport``, else
    ``~/.local/share/callport`` (the default home of ``callport.db``)."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "callport"


def is_db_url(db: str) -> bool:
    """Is ``server.db`` a database URL (``postgresql://...``) rather than a SQLite file?"""
    return "://" in db


def files_dir(db: str) -> Path:
    """Where files kept beside ``server.db`` go (recordings, the recording key): its folder,
    or the data directory when ``server.db`` is a URL."""
    return data_dir() if is_db_url(db) else Path(db).expanduser().parent


def default_db(env: Mapping[str, str] | None = None) -> str:
    """``server.db`` when nothing sets it: ``callport.db`` in the per-user data directory."""
    return str(data_dir(env) / "callport.db")


_NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def valid_node_id(name: str) -> bool:
    """A node id names Redis keys and channels: 1-64 of ``A-Za-z0-9._-``, not starting with
    a punctuation mark."""
    return _NODE_ID.fullmatch(name) is not None


def default_node_id(port: int, hostname: str | None = None) -> str:
    """``server.node_id`` when none is set: the host name and HTTP port (``box1-8080``),
    stable across restarts of the same node, distinct for two nodes on one machine."""
    if hostname is None:
        import socket  # here: config is imported by pure cores that must not load sockets

        hostname = socket.gethostname()
    host = hostname
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", host.split(".")[0]).strip("-._") or "node"
    return f"{cleaned[:56]}-{port}"


def proxy_problems(proxies: tuple[str, ...]) -> list[str]:
    """What is wrong with ``server.trusted_proxies``: every entry an IP address or a CIDR
    network; ``*`` (every peer may claim any address) is refused."""
    out = []
    for entry in proxies:
        if entry.strip() == "*":
            out.append("server.trusted_proxies: '*' would let any client claim any address "
                       "(X-Forwarded-For); name the load balancers' addresses or networks")
            continue
        try:
            ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            out.append(f"server.trusted_proxies: {entry!r} is not an IP address or network "
                       "(e.g. 10.0.0.5, 172.28.0.0/24, fd00::/8)")
    return out


def forwarded_allow_ips(proxies: tuple[str, ...]) -> list[str]:
    """uvicorn's ``forwarded_allow_ips`` for ``server.trusted_proxies``: the list as given,
    or loopback alone when it is empty (never uvicorn's FORWARDED_ALLOW_IPS variable)."""
    return [p.strip() for p in proxies if p.strip()] or ["127.0.0.1", "::1"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    db: str = field(default_factory=default_db)  # the data directory's callport.db
    # Shared live state across nodes (spent one-time tokens, call ownership): a redis:// URL;
    # empty: this process only (docs/scale-out.md).
    redis: str = ""
    # This node's name among several (CALLPORT_NODE_ID, --node-id): in /healthz, /metrics and
    # the shared live state (call owners, the bus); empty: hostname-port (default_node_id).
    node_id: str = ""
    # With server.redis: the node beats every third of this; a node silent this long is lost
    # and another node closes its calls' records (cause "node-lost").
    node_ttl_s: float = 15.0
    # With server.redis: the secret every node of the deployment shares (CALLPORT_NODE_SECRET);
    # set, queues span the nodes and the node-to-node relay door opens (docs/scale-out.md).
    node_secret: str = ""
    # Where the other nodes reach this node's HTTP port (CALLPORT_NODE_URL); empty:
    # http://server.host:server.port (the host name when bound to every address).
    node_url: str = ""
    log_level: str = "info"
    log_format: str = "text"  # text, or json: one JSON object per line
    # What a caller hears after an apology when the agent or flow fails mid-call:
    # "goodbye" (hang up), "voicemail" (leave a message for the owner), "operator" (transfer
    # to server.operator, else the menu file's operator) or "transfer:<target>" (tel:+1555...,
    # sip:...); goodbye when a transfer is refused.
    fallback: str = "goodbye"
    operator: str = ""  # the operator's tel:/sip: target (fallback "operator")
    web_path: str = "/"
    api_path: str = "/api/tasks"
    agent: str = ""  # "module:attribute" of your agent factory; empty: the Task Manager
    flow: str = ""  # "module:attribute" of your call flow; empty: greet, then the agent
    ivr: str = ""  # a menu file (TOML, docs/configuration.md "IVR menus"); runs instead of flow
    # Host headers answered; others get 421. Empty: the bind host, localhost, 127.0.0.1, ::1
    # and the hosts of every configured public URL (twilio/telnyx public_base_url).
    allowed_hosts: tuple[str, ...] = ()
    # The load balancers whose X-Forwarded-For names the client (CALLPORT_TRUSTED_PROXIES):
    # IP addresses or CIDR networks; empty: loopback only. From any other peer it is ignored.
    trusted_proxies: tuple[str, ...] = ()
    metrics_public: bool = False  # false: /metrics needs an API token (Prometheus bearer_token)
    shutdown_grace_s: float = 5.0  # SIGTERM: stop admitting, hang up live calls, exit by then
    # Every call on every channel (SIP, Twilio, Telnyx, browser) is hung up after this long
    # (cause "max-duration"); 0: no limit.
    max_call_s: float = 4 * 3600.0
    # Admission by capacity (callport.server.admission): conversations at once, 0: automatic
    # (cores x the measured cost with the embedded Whisper; no limit with another STT); new
    # callers are also turned away while the oldest queued STT/TTS job waited this long (0:
    # not checked); refusals tell the caller's side to retry after busy_retry_after_s.
    max_conversations: int = 0
    backlog_age_s: float = 3.0
    busy_retry_after_s: int = 30

    @property
    def node(self) -> str:
        """This node's id: ``node_id``, else :func:`default_node_id`."""
        return self.node_id or default_node_id(self.port)

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
        if self.node_id and not valid_node_id(self.node_id):
            out.append(f"server.node_id={self.node_id!r}: use 1-64 letters, digits, '.', '_' "
                       "or '-'")
        if is_db_url(self.db) and not self.db.startswith(("postgresql://", "postgres://")):
            out.append(f"server.db: {self.db.split('://', 1)[0]}:// is not a database callport "
                       "can use; give a SQLite file path or a postgresql:// URL")
        out += proxy_problems(self.trusted_proxies)
        if self.log_level.lower() not in {"debug", "info", "warning", "error"}:
            out.append(f"server.log_level={self.log_level!r}: use debug, info, warning or error")
        if not 0 < self.shutdown_grace_s <= 60:
            out.append("server.shutdown_grace_s: use 0-60 seconds")
        if self.log_format not in {"text", "json"}:
            out.append(f"server.log_format={self.log_format!r}: use text or json")
        if not (self.fallback in ("goodbye", "voicemail", "operator")
                or (self.fallback.startswith("transfer:") and len(self.fallback) > 9)):
            out.append(f"server.fallback={self.fallback!r}: use goodbye, voicemail, operator "
                       "or transfer:<target>")
        if self.fallback == "operator" and not (self.operator or self.ivr):
            out.append("server.fallback='operator' needs server.operator (tel:+1555... or "
                       "sip:desk@pbx.example.com), or a menu file with an operator")
        if self.operator and not self.operator.startswith(("tel:", "sip:", "sips:")):
            out.append(f"server.operator={self.operator!r}: use a tel: or sip: target")
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
