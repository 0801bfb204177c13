"""``callport call TARGET [--via CARRIER] [--from N] [--amd MODE --message TEXT]``: one
outbound call through the neutral ``Dialer`` (``channels.carriers``: Twilio, Telnyx or SIP;
with ``[routing]`` carriers, least-cost routing in ``cli_routing.call_routed``). Without
routing a failed call leaves its closed record in ``server.db`` all the same
(``channels.carriers.recorded``; ``callport calls list``). A SIP target
whose host does not resolve is said, with what to do, before any socket opens.
"""

from __future__ import annotations

import argparse
import functools
import sys
from typing import TYPE_CHECKING

from callport.config import Settings

if TYPE_CHECKING:
    from callport.server.runtime import Runtime


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """``callport call TARGET [--via CARRIER]`` through the neutral ``Dialer`` only."""
    from callport.call.dial import Answered, DialFailed, DialOptions
    from callport.channels.carriers import choose, open_dialer, recorded

    if getattr(args, "amd", None) or getattr(args, "message", None) is not None:
        from dataclasses import replace

        r = settings.routing
        routing = replace(r, amd=args.amd or r.amd,
                          amd_message=r.amd_message if args.message is None else args.message)
        problems = [p for p in routing.problems() if p.startswith("routing.amd")]
        if problems:
            print(f"callport: {problems[0]} (give --message)", file=sys.stderr)
            return 2
        settings = replace(settings, routing=routing)
    if settings.routing.carriers:  # least cost, failover, the rules: callport.cli_routing
        from callport import cli_routing

        return await cli_routing.call_routed(settings, args)

    try:
        via = choose(settings, args.to, args.via or "")
    except ValueError as exc:  # a malformed target, or no (single) carrier configured
        print(f"callport: {exc}", file=sys.stderr)
        return 2

    if via == "sip":  # a name that does not resolve is said before any socket opens
        problem = await _sip_target_problem(settings, args.to)
        if problem:
            print(f"callport: {problem}", file=sys.stderr)
            return 2

    @functools.cache
    def runtime() -> Runtime:  # one: the SIP call runs on it, a failed call is recorded in it
        from callport.server.runtime import build_runtime

        return build_runtime(settings)

    async with open_dialer(settings, via, runtime=runtime) as (raw, wait):
        print(f"callport: calling {args.to} via {via}", file=sys.stderr)
        dialer = recorded(raw, via, lambda: runtime().calls)
        result = await dialer.dial(args.to, args.from_, DialOptions())
        match result:
            case DialFailed():
                print(f"callport: call failed: {result.describe()}", file=sys.stderr)
                return 1
            case Answered():
                print(f"callport: answered; call {result.call_id} runs until hang-up",
                      file=sys.stderr)
                print(result.provider_call_id or result.call_id, flush=True)
                await wait(result)
            case _:
                print(f"callport: placed; the server at the public URL runs call "
                      f"{result.call_id} once answered", file=sys.stderr)
                print(result.provider_call_id or result.call_id)
    return 0


async def _sip_target_problem(settings: Settings, target: str) -> str:
    """What stops ``target`` from being routed over SIP (DNS SRV / A / AAAA, the trunk rules),
    with what to do; empty when it routes."""
    from callport.channels.sip.dnsresolver import DnsResolver
    from callport.channels.sip.targets import TargetError, TargetLocator

    try:
        await TargetLocator(settings=settings.sip, resolver=DnsResolver()).route(target)
    except TargetError as exc:
        text = str(exc)
        if not text.startswith("cannot resolve "):
            return f"cannot call {target}: {text}"
        host = text.removeprefix("cannot resolve ")
        return (f"cannot call {target}: the host {host!r} does not resolve (no DNS SRV, A or "
                "AAAA record); check the spelling, dial an IP address "
                "(sip:user@192.0.2.10:5060), or set sip.trunk_address to call through your "
                "trunk")
    return ""
