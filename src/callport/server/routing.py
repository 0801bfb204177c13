"""Routing in the server: the ``RoutingService`` over the running channels' Dialers, its API
(``GET /api/calls``, ``GET /api/routes``, ``POST /api/calls`` through the router) and the
health loop.

- ``build_routing(runtime, channels)``: when ``[routing.carriers.NAME]`` tables exist, every
  running carrier's neutral Dialer (a channel's ``outbound``: ``twilio``, ``telnyx``, ``sip``)
  plus each ``[sip.trunks.NAME]`` trunk of the SIP channel goes into a ``RoutingService``,
  which becomes ``runtime.routing`` (the runtime bills routed calls when they end).
- ``GET /api/calls[?since=24h&limit=N]``: call records as JSON; an admin sees every call, any
  other signed-in user or token holder only calls recorded under their own name.
- ``GET /api/routes?to=+E164[&via=NAME]`` (admin): ``routes explain`` with the live health.
- ``POST /api/calls`` with routing configured: ``{"to", "from"?, "via"?}`` through the router
  (rules, least cost, failover; ``via`` pins one carrier and still obeys the rules), with the
  shared handler of ``callport.channels.pstn_dial``.
- ``health_loop``: SIP OPTIONS to each trunk every ``options_ping_s`` and a provider API
  check (``provider_check``) for Twilio and Telnyx every ``routing.check_interval_s``; the
  results feed the breakers (a failed check counts like a failed call, a good one closes an
  open breaker).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callport.call.dial import Dialer, DialOptions, DialResult
from callport.routing.service import RoutingService
from callport.server.auth import user_of

__all__ = ["build_routing", "health_loop", "routing_routes"]

log = logging.getLogger(__name__)


def carrier_dialers(channels: Sequence[object]) -> dict[str, Dialer]:
    """Every running carrier's Dialer by carrier name (SIP trunks by their own names)."""
    out: dict[str, Dialer] = {}
    for channel in channels:
        name, dialer = getattr(channel, "name", ""), getattr(channel, "outbound", None)
        if name in ("twilio", "telnyx") and dialer is not None:
            out[name] = dialer
        if name == "sip":
            from callport.channels.sip.trunks import TelTargets, trunk_dialers

            if dialer is not None:
                out[name] = TelTargets(dialer)
            out.update(trunk_dialers(channel))
    return out


def build_routing(runtime: Any, channels: Sequence[object]) -> RoutingService | None:
    """The routing service for ``runtime`` (None when routing is not configured)."""
    if not runtime.settings.routing.carriers:
        return None
    service = RoutingService.build(runtime.settings, dialers=carrier_dialers(channels),
                                   calls=runtime.calls, clock=time.monotonic)
    runtime.routing = service
    return service


class _Pinned:
    """The router as a Dialer that pins ``via`` (empty: least cost)."""

    name = "routing"

    def __init__(self, service: RoutingService, via: str) -> None:
        self._service, self._via = service, via

    async def dial(self, target: str, caller_id: str = "",
                   options: DialOptions | None = None) -> DialResult:
        return await self._service.router.dial(target, caller_id, options, via=self._via)


class _RouterDialers(Mapping[str, Dialer]):
    """``routing`` and ``routing:<via>`` -> the router (the shared endpoint's lookup)."""

    def __init__(self, service: RoutingService) -> None:
        self._service = service

    def __getitem__(self, key: str) -> Dialer:
        kind, _, via = key.partition(":")
        if kind != "routing":
            raise KeyError(key)
        return _Pinned(self._service, via)

    def __iter__(self) -> Iterator[str]:
        return iter(("routing",))

    def __len__(self) -> int:
        return 1


def _since(text: str) -> datetime | None:
    from callport.routing.report import parse_since

    return parse_since(text, now=datetime.now().astimezone())


def routing_routes(runtime: Any, service: RoutingService | None) -> list[Route]:
    """``GET /api/calls``, and with routing ``GET /api/routes`` and ``POST /api/calls``."""
    from callport.routing.report import choice_json, record_json

    async def list_calls(request: Request) -> Response:
        user = user_of(request.scope)
        if user is None:  # the /api lock lets nobody through without one; be explicit
            return JSONResponse({"error": "sign in or send an API token"}, status_code=401)
        try:
            since = _since(request.query_params.get("since", ""))
            limit = min(int(request.query_params.get("limit", "100")), 10000)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        only = None if user.has_role("admin") else user.name
        records = await runtime.calls.list_calls(since=since, user=only, limit=limit)
        return JSONResponse({"calls": [record_json(r) for r in records]})

    async def explain(request: Request) -> Response:
        user = user_of(request.scope)
        if user is None or not user.has_role("admin"):
            return JSONResponse({"error": "routes need an admin"}, status_code=403)
        if service is None:
            return JSONResponse({"error": "routing is not configured"}, status_code=404)
        to = request.query_params.get("to", "")
        via = request.query_params.get("via", "")
        return JSONResponse({"number": to, "refused": service.router.refusal(to) or None,
                             "choices": [choice_json(c) for c in service.explain(to, via=via)],
                             "health": service.health_lines()})

    async def place(request: Request) -> Response:
        from callport.channels.pstn_dial import calls_endpoint

        assert service is not None
        return await calls_endpoint(
            request, dialers=_RouterDialers(service),
            choose=lambda to, via: f"routing:{via}" if via else "routing",
            tokens=runtime.tokens, static_token="", now=time.time())

    routes = [Route("/api/calls", list_calls, methods=["GET"]),
              Route("/api/routes", explain, methods=["GET"])]
    if service is not None:
        routes.append(Route("/api/calls", place, methods=["POST"]))
    return routes


async def provider_check(name: str, settings: Any, *,
                         transport: httpx.AsyncBaseTransport | None = None) -> tuple[bool, str]:
    """One API health check: Twilio ``GET /Accounts/{sid}.json``, Telnyx ``GET /v2/balance``.
    2xx is healthy; a 5xx, 401/403 (our credentials) or no connection is not."""
    if name == "twilio":
        s = settings.twilio
        url = f"{s.api_base_url.rstrip('/')}/2010-04-01/Accounts/{s.account_sid}.json"
        user = (s.api_key_sid, s.api_key_secret) if s.api_key_sid else (s.account_sid,
                                                                         s.auth_token)
        kw: dict[str, Any] = {"auth": user}
    else:
        s = settings.telnyx
        url = f"{s.api_base_url.rstrip('/')}/v2/balance"
        kw = {"headers": {"Authorization": f"Bearer {s.api_key}"}}
    try:
        async with httpx.AsyncClient(transport=transport, timeout=5.0) as http:
            response = await http.get(url, **kw)
    except httpx.HTTPError as exc:
        return False, f"API check: {exc!r}"
    return response.is_success, f"API check: HTTP {response.status_code}"


async def health_loop(service: RoutingService, settings: Any, resolver: Any = None, *,
                      transport: httpx.AsyncBaseTransport | None = None) -> None:
    """SIP OPTIONS to every trunk at its ``options_ping_s``, a provider API check for Twilio
    and Telnyx every ``routing.check_interval_s``; the results go to the breakers."""
    from callport.channels.sip.dnsresolver import DnsResolver
    from callport.channels.sip.trunks import ping

    names = {c.name for c in service.router.carriers if c.name in service.router.dialers}
    trunks = {t.name: t for t in settings.sip.trunks if t.options_ping_s > 0 and t.name in names}
    every = {name: t.options_ping_s for name, t in trunks.items()}
    if settings.routing.check_interval_s > 0:
        every.update({n: settings.routing.check_interval_s for n in ("twilio", "telnyx")
                      if n in names})
    if not every:
        return
    resolver = resolver or DnsResolver()
    due = dict.fromkeys(every, 0.0)
    while True:
        now = time.monotonic()
        for name, interval in every.items():
            if now < due[name]:
                continue
            due[name] = now + interval
            try:
                if name in trunks:
                    alive, detail = await ping(trunks[name], base=settings.sip,
                                               resolver=resolver)
                else:
                    alive, detail = await provider_check(name, settings, transport=transport)
            except OSError as exc:
                alive, detail = False, f"health check: {exc}"
            if not alive:
                log.warning("routing: %s failed its health check: %s", name, detail)
            service.probe(name, alive, "" if alive else detail)
        await asyncio.sleep(max(min(due.values()) - time.monotonic(), 0.5))
