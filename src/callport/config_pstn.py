"""``[twilio]`` and ``[telnyx]`` settings: the media-stream carriers (part of
``callport.config``, which re-exports them)."""

from __future__ import annotations

from dataclasses import dataclass


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
