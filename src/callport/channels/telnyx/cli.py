"""``callport call ... --via telnyx`` and ``callport doctor``'s Telnyx checks.

``place_call`` dials through Call Control with streaming requested at dial time, so the
running server's media route gets the call as soon as it is answered; the stream token is
signed with the secret the server shares (``stream_secret``) and expires after
``telnyx.token_ttl_s``, so this can run in another process than the server. The server takes
Telnyx calls only with ``telnyx.public_key`` set, so dialling without one is refused here.
"""

from __future__ import annotations

import time

import httpx

from callport.channels.provider import DialRequest, StreamTarget
from callport.channels.telnyx import tokens
from callport.channels.telnyx.channel import media_url
from callport.channels.telnyx.rest import PARAM_CALL_ID, PARAM_TOKEN, TelnyxCallControl
from callport.channels.telnyx.webhook import load_public_key
from callport.config import Settings

__all__ = ["doctor_checks", "place_call"]


async def place_call(
    settings: Settings, to: str, from_: str, *, http: httpx.AsyncClient | None = None
) -> str:
    """Dial ``to`` from ``from_`` (default: the first configured number); returns our call id."""
    cfg = settings.telnyx
    if not cfg.api_key or not cfg.public_base_url:
        raise ValueError("set CALLPORT_TELNYX_API_KEY and CALLPORT_TELNYX_PUBLIC_BASE_URL first")
    if not cfg.public_key:
        raise ValueError("set CALLPORT_TELNYX_PUBLIC_KEY first: the server refuses Telnyx "
                         "webhooks and streams without it")
    caller = from_ or (cfg.numbers[0] if cfg.numbers else "")
    if not caller:
        raise ValueError("no caller id: pass --from or set CALLPORT_TELNYX_NUMBERS")
    call_id = tokens.new_call_id()
    token = tokens.mint(tokens.stream_secret(cfg), call_id,
                        expires_at=time.time() + cfg.token_ttl_s)
    control = TelnyxCallControl(api_key=cfg.api_key, base_url=cfg.api_base_url,
                                connection_id=cfg.connection_id, codec=cfg.codec, http=http)
    try:
        await control.dial(DialRequest(
            to=to, from_=caller,
            stream=StreamTarget(url=media_url(cfg),
                                parameters={PARAM_CALL_ID: call_id, PARAM_TOKEN: token}),
            status_url=cfg.public_base_url.rstrip("/") + cfg.webhook_path,
            machine_detection=False,
        ))
    finally:
        await control.aclose()
    return call_id


def doctor_checks(settings: Settings) -> list[tuple[str, bool, str]]:
    """(check, ok, detail) lines for ``callport doctor``; no network."""
    cfg = settings.telnyx
    out: list[tuple[str, bool, str]] = []
    out.append(("telnyx api key", bool(cfg.api_key),
                "set" if cfg.api_key else "CALLPORT_TELNYX_API_KEY is empty"))
    try:
        load_public_key(cfg.public_key)
        out.append(("telnyx public key", True, "Ed25519 key loaded"))
    except ValueError as exc:
        detail = str(exc) if cfg.public_key else "CALLPORT_TELNYX_PUBLIC_KEY is empty"
        out.append(("telnyx public key", False,
                    detail + ": every webhook will get 403 and every media stream is refused"))
    base = cfg.public_base_url
    out.append(("telnyx public url", base.startswith("https://"),
                f"webhook {base}{cfg.webhook_path}, media {media_url(cfg)}" if base
                else "CALLPORT_TELNYX_PUBLIC_BASE_URL is empty (Telnyx must reach this server)"))
    out.append(("telnyx connection id", bool(cfg.connection_id),
                cfg.connection_id or "CALLPORT_TELNYX_CONNECTION_ID is empty (outbound calls)"))
    shared = bool(cfg.stream_secret or cfg.api_key)
    out.append(("telnyx stream tokens", shared,
                "signed with a configured secret" if shared
                else "random per process: `callport call --via telnyx` streams will be refused"))
    out.append(("telnyx stream token ttl", True,
                f"{cfg.token_ttl_s} s, single use (telnyx.token_ttl_s)"))
    out.append(("telnyx codec", True, f"{cfg.codec} ({'16' if cfg.codec == 'L16' else '8'} kHz)"))
    return out
