"""``callport call ... --via twilio`` helpers and ``callport doctor``'s Twilio checks.

``place_call`` dials through the neutral ``Dialer`` of ``callport.channels.twilio.outbound``
(inline TwiML that streams the call to the running server at ``twilio.public_base_url``; the
stream token is stateless, signed with a key derived from the auth token, so the server admits
the call although another process placed it).
"""

from __future__ import annotations

import httpx

from callport.call.dial import DialFailed, DialOptions
from callport.channels.twilio.outbound import dialer
from callport.config import Settings

__all__ = ["doctor_checks", "place_call"]

Check = tuple[str, bool, str]


async def place_call(
    settings: Settings,
    to: str,
    from_: str = "",
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> str:
    """Dial ``to`` from ``from_`` (default: the first configured number); returns the CallSid
    as soon as Twilio accepted the call (``ValueError`` saying what failed)."""
    cfg = settings.twilio
    if not cfg.account_sid or not (cfg.auth_token or cfg.api_key_secret):
        raise ValueError("set CALLPORT_TWILIO_ACCOUNT_SID and CALLPORT_TWILIO_AUTH_TOKEN first")
    twilio, client = dialer(cfg, transport=transport)
    try:
        result = await twilio.dial(to, from_, DialOptions(until="placed"))
    finally:
        if client is not None:
            await client.aclose()
    if isinstance(result, DialFailed):
        raise ValueError(result.describe())
    return result.provider_call_id


def doctor_checks(settings: Settings) -> list[Check]:
    """(check, ok, detail) lines for ``callport doctor``; no network."""
    cfg = settings.twilio
    out: list[Check] = []
    sid_ok = cfg.account_sid.startswith("AC") and len(cfg.account_sid) == 34
    out.append(("twilio account SID", sid_ok,
                "set" if sid_ok else "CALLPORT_TWILIO_ACCOUNT_SID: AC followed by 32 hex digits"))
    token_ok = len(cfg.auth_token) == 32
    out.append(("twilio auth token", token_ok,
                "set (verifies webhooks, signs stream tokens)" if token_ok
                else "CALLPORT_TWILIO_AUTH_TOKEN is needed to verify X-Twilio-Signature: "
                "without it every Twilio webhook gets 403 and every media stream is refused"))
    if cfg.api_key_sid or cfg.api_key_secret:
        key_ok = cfg.api_key_sid.startswith("SK") and bool(cfg.api_key_secret)
        out.append(("twilio API key", key_ok,
                    "REST uses the API key" if key_ok
                    else "need both CALLPORT_TWILIO_API_KEY_SID (SK...) and _API_KEY_SECRET"))
    public = cfg.public_base_url
    if public.startswith("https://"):
        out.append(("twilio public URL", True, f"webhooks {public}{cfg.voice_path}, "
                    f"stream wss://{public.removeprefix('https://')}{cfg.media_path}"))
    elif cfg.trust_forwarded:
        out.append(("twilio public URL", True, "taken from X-Forwarded-Proto/Host (trusted)"))
    else:
        out.append(("twilio public URL", False,
                    "set CALLPORT_TWILIO_PUBLIC_BASE_URL=https://... (Twilio needs wss:// and "
                    "signatures are checked against the public URL)"))
    bad = [n for n in cfg.numbers if not (n.startswith("+") and n[1:].isdigit())]
    out.append(("twilio numbers", bool(cfg.numbers) and not bad,
                f"bad E.164: {', '.join(bad)}" if bad
                else (", ".join(cfg.numbers) or "none: outbound calls need --from")))
    out.append(("twilio calls API", True,
                f"{cfg.calls_path} needs an admin API token (`callport tokens create`)"
                + (" or twilio.calls_api_token" if cfg.calls_api_token else "")))
    api_ok = cfg.api_base_url.startswith("https://")
    out.append(("twilio REST base URL", api_ok or cfg.api_base_url.startswith("http://127."),
                cfg.api_base_url))
    return out
