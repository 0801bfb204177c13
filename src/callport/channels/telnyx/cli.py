"""``callport call ... --via telnyx`` helpers and ``callport doctor``'s Telnyx checks.

``place_call`` dials through the neutral ``Dialer`` of ``callport.channels.telnyx.outbound``
(Call Control with streaming requested at dial time, a stream token the running server
admits although another process placed the call).
"""

from __future__ import annotations

import httpx

from callport.call.dial import DialFailed, DialOptions
from callport.channels.telnyx.outbound import dialer, media_url
from callport.channels.telnyx.webhook import load_public_key
from callport.config import Settings

__all__ = ["doctor_checks", "place_call"]


async def place_call(
    settings: Settings, to: str, from_: str, *, http: httpx.AsyncClient | None = None
) -> str:
    """Dial ``to`` from ``from_`` (default: the first configured number); returns our call id
    (``ValueError`` saying what failed)."""
    telnyx, control = dialer(settings.telnyx, http=http)
    try:
        result = await telnyx.dial(to, from_, DialOptions(until="placed"))
    finally:
        await control.aclose()
    if isinstance(result, DialFailed):
        raise ValueError(result.describe())
    return result.call_id


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
