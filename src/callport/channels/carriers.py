"""Which carriers this configuration can place calls with, and which one a call goes by.

Used by ``callport call`` and ``POST /api/calls`` so neither branches on providers nor
silently picks one: a carrier counts as configured for outbound calls when

- ``twilio``: ``twilio.account_sid`` and ``twilio.auth_token`` (it signs the stream token);
- ``telnyx``: ``telnyx.api_key`` and ``telnyx.public_key`` (without it the server refuses
  Telnyx webhooks and streams);
- ``sip``: ``sip.trunk_address`` (``tel:`` numbers go to the trunk); a ``sip:`` URI can
  always be dialled over SIP directly.

``choose(settings, target, via)``: ``via`` when it is configured; else a ``sip:`` URI goes over
SIP; else the only configured carrier; else ``NoCarrier`` naming the configured ones (so
``callport call tel:+1...`` never goes to Twilio when SIP is what is configured).
``open_dialer`` gives a standalone ``callport.call.dial.Dialer`` of one carrier for a process
that does not run the channels (the CLI). ``callport call`` and ``POST /api/calls`` without
``[routing]`` dial through ``recorded``: a failed call leaves one closed call record too
(carrier, the attempt and its cause, disposition), like a routed call's single attempt.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Awaitable, Callable, Iterable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from callport.call.dial import Answered, Dialer
from callport.channels.provider import split_target
from callport.config import Settings
from callport.routing.failed import Unrouted
from callport.store.calls import CallStore
from callport.store.users import TokenStore

__all__ = ["API_CALLS_PATH", "CARRIERS", "NoCarrier", "api_calls_route", "choose", "configured",
           "open_dialer", "recorded"]

CARRIERS = ("twilio", "telnyx", "sip")
API_CALLS_PATH = "/api/calls"
HINTS = {
    "twilio": "set twilio.account_sid and twilio.auth_token (CALLPORT_TWILIO_*)",
    "telnyx": "set telnyx.api_key and telnyx.public_key (CALLPORT_TELNYX_*)",
    "sip": "set sip.trunk_address (CALLPORT_SIP_TRUNK_ADDRESS)",
}

Wait = Callable[[Answered], Awaitable[None]]


class NoCarrier(ValueError):
    """No (or no single) carrier is configured for this call; the message says what to do."""


def configured(settings: Settings) -> tuple[str, ...]:
    """The carriers this configuration can place calls with (see the module docstring)."""
    out = []
    if settings.twilio.account_sid and settings.twilio.auth_token:
        out.append("twilio")
    if settings.telnyx.api_key and settings.telnyx.public_key:
        out.append("telnyx")
    if settings.sip.trunk_address:
        out.append("sip")
    return tuple(out)


def choose(settings: Settings, target: str, via: str = "") -> str:
    """The carrier for ``target`` (``ValueError`` for a malformed target, ``NoCarrier``)."""
    kind, _ = split_target(target)
    carriers = configured(settings)
    names = ", ".join(carriers) or "none"
    if via:
        if via not in CARRIERS:
            raise NoCarrier(f"unknown carrier {via!r}: use one of {', '.join(CARRIERS)}")
        if via in carriers or (via == "sip" and kind == "sip"):
            return via
        raise NoCarrier(f"{via} is not configured for outbound calls (configured: {names}): "
                        f"{HINTS[via]}")
    if kind == "sip":
        return "sip"
    if len(carriers) == 1:
        return carriers[0]
    if not carriers:
        raise NoCarrier("no carrier is configured for outbound calls: "
                        + "; or ".join(HINTS.values()))
    raise NoCarrier(f"several carriers are configured ({names}): say which with --via "
                    f"(\"via\" in the API)")


# Each carrier's module with ``open_dialer(settings, runtime=...)`` (found by name, like
# ``CHANNEL_MODULES``: this package never imports a provider package).
DIALER_MODULES = {
    "twilio": "callport.channels.twilio.outbound",
    "telnyx": "callport.channels.telnyx.outbound",
    "sip": "callport.channels.sip.cli",
}


def recorded(dialer: Dialer, carrier: str,
             calls: Callable[[], CallStore | None]) -> Dialer:
    """``dialer`` as every call without ``[routing]`` dials: a failed dial leaves one closed
    record like a routed call's single attempt (``callport.routing.failed.Unrouted``);
    ``calls`` gives the store when one is needed."""
    return Unrouted(dialer, carrier=carrier, calls=calls)


def open_dialer(
    settings: Settings, carrier: str, *, runtime: Callable[[], object]
) -> contextlib.AbstractAsyncContextManager[tuple[Dialer, Wait]]:
    """A standalone Dialer of ``carrier`` and a ``wait`` that returns once an answered
    call ended (at once for Twilio/Telnyx, whose media goes to the server). ``runtime``
    builds the runtime a SIP call runs on (called only for SIP). An unrouted call dials
    through ``recorded(dialer, ...)``; the router records its own attempts."""
    if carrier not in DIALER_MODULES:
        raise NoCarrier(f"unknown carrier {carrier!r}")
    module = importlib.import_module(DIALER_MODULES[carrier])
    opened: contextlib.AbstractAsyncContextManager[tuple[Dialer, Wait]] = module.open_dialer(
        settings, runtime=runtime)
    return opened


def api_calls_route(
    path: str, *, settings: Settings, channels: Iterable[object],
    tokens: Callable[[], TokenStore | None], clock: Callable[[], float],
    calls: Callable[[], CallStore | None],
) -> Route:
    """``POST path`` (``/api/calls``): ``{"to", "from"?, "via"?}`` through the running
    channels' neutral Dialers (their ``outbound``), carrier by ``choose``; the admin bearer
    check of ``callport.channels.api_auth``; 201 ``{call_id, carrier, provider_call_id}``.
    A failed dial leaves its record in ``calls()`` (``recorded``)."""
    from callport.channels.pstn_dial import calls_endpoint

    dialers: dict[str, Dialer] = {}
    for channel in channels:
        name, dialer = getattr(channel, "name", ""), getattr(channel, "outbound", None)
        if name in CARRIERS and dialer is not None:
            dialers[name] = recorded(dialer, name, calls)

    async def endpoint(request: Request) -> Response:
        return await calls_endpoint(
            request, dialers=dialers, choose=lambda to, via: choose(settings, to, via),
            tokens=tokens(), static_token="", now=clock())

    return Route(path, endpoint, methods=["POST"])
