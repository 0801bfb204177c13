"""``[agent]`` and ``[recording]`` settings: what runs on a call (part of ``callport.config``,
which re-exports them)."""

from __future__ import annotations

from dataclasses import dataclass

from callport.config_server import is_db_url


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
    # twilio-ws / telnyx-ws: where callport serves the REST hang-up bots call (port 0: a free
    # one) and the account sid it hands them (empty: one per call); agent.api_key is the
    # auth token when set (else one per call)
    api_base_url: str = "http://127.0.0.1:0"
    account_sid: str = ""
    # openai-realtime / gemini-live: the service's WebSocket base URL (empty: the vendor's),
    # and the voice (empty: the service's default)
    base_url: str = ""
    voice: str = ""

    def problems(self) -> list[str]:
        out = []
        for name in ("connect_timeout_s", "reply_timeout_s"):
            if not 0 < getattr(self, name) <= 120:
                out.append(f"agent.{name}: use 0-120 seconds")
        scheme, sep, rest = self.api_base_url.partition("://")
        if scheme not in ("http", "https") or not sep or not rest.split("/")[0]:
            out.append(f"agent.api_base_url {self.api_base_url!r}: expected "
                       "http://host:port[/path] (port 0: a free one)")
        if self.base_url and not self.base_url.startswith(("ws://", "wss://")):
            out.append(f"agent.base_url {self.base_url!r}: expected a ws:// or wss:// URL")
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
    # where finished recordings are kept: "local" (recording.dir), "s3" (an S3-compatible
    # bucket, ``callport.recording.s3``; TOML ``[recording.s3]`` endpoint = ... fills s3_*);
    # empty: the PostgreSQL database when server.db is a postgresql:// URL, else local
    store: str = ""
    s3_endpoint: str = ""  # http(s)://host[:port], path-style requests
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""  # also CALLPORT_S3_SECRET_KEY
    s3_prefix: str = ""  # prepended to every object name ("site-a/")

    def kept_in(self, db: str) -> str:
        """Where finished recordings are kept with ``server.db = db``: ``local``, ``s3`` or
        ``postgres`` (``store`` left empty and ``db`` a database URL)."""
        if self.store:
            return self.store
        return "postgres" if is_db_url(db) else "local"

    def problems(self) -> list[str]:
        out = []
        if self.store not in {"", "local", "s3"}:
            out.append(f"recording.store={self.store!r}: use local or s3 (or leave it empty)")
        if self.store == "s3":
            for name in ("endpoint", "bucket", "region", "access_key", "secret_key"):
                if not getattr(self, f"s3_{name}"):
                    out.append(f"recording.s3.{name}: required when recording.store = \"s3\"")
            if self.s3_endpoint and not self.s3_endpoint.startswith(("http://", "https://")):
                out.append(f"recording.s3.endpoint {self.s3_endpoint!r}: expected an "
                           "http:// or https:// URL")
        if self.mode not in {"off", "notify", "consent"}:
            out.append(f"recording.mode={self.mode!r}: use off, notify or consent")
        if self.paused not in {"silence", "skip"}:
            out.append(f"recording.paused={self.paused!r}: use silence or skip")
        for name in ("answer_s", "stay_s"):
            if getattr(self, name) < 0:
                out.append(f"recording.{name}: must be >= 0")
        return out
