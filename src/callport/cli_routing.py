"""``callport routes explain`` and ``callport calls list|export``.

- ``routes explain +E164 [--via NAME] [--json]``: the carriers ``[routing]`` would try for the
  number, in order, with the rate matched, the price of a call of
  ``routing.expected_duration_s``, breaker health and why each skipped one is skipped (and
  whether the rules refuse the number first). Health here is this process's view: a fresh
  process has every breaker closed; the server's live view is ``GET /api/routes?to=+E164``.
- ``calls list [--since WHEN] [--user NAME] [--limit N] [--json]``: the call records, newest
  first; ``calls export --csv [--since WHEN]``: the same as CSV (``CSV_COLUMNS``) on stdout.
  ``WHEN`` is an ISO date/time (``2026-01-06``, ``2026-01-06T12:00``) or an age (``30m``,
  ``24h``, ``7d``).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from callport.config import Settings
from callport.routing.report import choice_json, parse_since, record_json
from callport.store.calls import CallRecord

COMMANDS = ("routes", "calls")
CSV_COLUMNS = ("call_id", "channel", "direction", "caller", "callee", "user", "started_at",
               "answered_at", "ended_at", "duration_s", "disposition", "hangup_cause",
               "carrier", "attempts", "billable_s", "cost", "currency", "status", "amd")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    routes = sub.add_parser("routes", help="outbound routing: explain the choice for a number")
    rsub = routes.add_subparsers(dest="action", required=True)
    explain = rsub.add_parser("explain", help="ranked carriers for +E164 with price, health "
                              "and skip reasons")
    explain.add_argument("number", help="+E164 number")
    explain.add_argument("--via", default="", help="pin one carrier")
    explain.add_argument("--json", action="store_true")
    calls = sub.add_parser("calls", help="call records of every channel")
    csub = calls.add_subparsers(dest="action", required=True)
    listing = csub.add_parser("list", help="recent calls, newest first")
    export = csub.add_parser("export", help="calls as CSV on stdout")
    export.add_argument("--csv", action="store_true", required=True, help="CSV (the format)")
    for p in (listing, export):
        p.add_argument("--since", default="", help="ISO date/time or an age: 30m, 24h, 7d")
        p.add_argument("--user", default=None, help="only this user's calls")
        p.add_argument("--limit", type=int, default=100 if p is listing else 100000,
                       help="at most this many calls, newest first (default %(default)s)")
    listing.add_argument("--json", action="store_true")


def _csv_row(r: CallRecord) -> list[str]:
    doc = record_json(r)
    doc["attempts"] = "; ".join(f"{a.carrier}: {a.cause or a.outcome}" for a in r.attempts)
    return ["" if doc[k] is None else str(doc[k]) for k in CSV_COLUMNS]


def available_carriers(settings: Settings) -> set[str]:
    """Carriers this configuration could dial with (for ``explain`` outside the server)."""
    from callport.channels.carriers import configured

    return set(configured(settings)) | {t.name for t in settings.sip.trunks}


async def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "routes":
        return _explain(settings, args)
    return await _calls(settings, args)


def _explain(settings: Settings, args: argparse.Namespace) -> int:
    from callport.config import ConfigError
    from callport.routing.service import RoutingService

    if not settings.routing.carriers:
        print("callport: routing is not configured (add [routing.carriers.NAME] tables, see "
              "docs/configuration.md)", file=sys.stderr)
        return 2
    try:
        service = RoutingService.build(settings, dialers={}, calls=None, clock=time.monotonic)
    except ConfigError as exc:
        print(f"callport: {exc}", file=sys.stderr)
        return 2
    refused = service.router.refusal(args.number)
    choices = service.explain(args.number, via=args.via,
                              available=available_carriers(settings))
    if args.json:
        print(json.dumps({"number": args.number, "refused": refused or None,
                          "expected_duration_s": settings.routing.expected_duration_s,
                          "choices": [choice_json(c) for c in choices]}, indent=2))
        return 0
    if refused:
        print(f"refused before any dial: {refused}")
    print(f"{args.number}: a {settings.routing.expected_duration_s:g} s call")
    for n, c in enumerate(choices, start=1):
        price = (f"{c.rate.per_minute}/min {c.rate.minimum_s}/{c.rate.increment_s} "
                 f"+{c.rate.connection_fee} {c.rate.currency} (prefix {c.rate.prefix}) "
                 f"= {c.cost}" if c.rate else "price unknown")
        head = f"{n}." if c.usable else "--"
        pin = " pinned" if c.pinned else ""
        tail = f"  skipped: {c.skip}" if c.skip else ""
        print(f"{head} {c.carrier} [{c.kind}{pin}] {price}, health {c.health}{tail}")
    return 0


async def _calls(settings: Settings, args: argparse.Namespace) -> int:
    from callport.store.stores import open_stores

    try:
        since = parse_since(args.since, now=datetime.now().astimezone())
    except ValueError as exc:
        print(f"callport: {exc}", file=sys.stderr)
        return 2
    db = open_stores(settings.server.db, owner=settings.identity.owner)
    try:
        records = await db.calls.list_calls(since=since, user=args.user, limit=args.limit)
    finally:
        await db.close()
    if args.action == "export":
        writer = csv.writer(sys.stdout)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(_csv_row(r) for r in records)
        return 0
    if args.json:
        print(json.dumps([record_json(r) for r in records], indent=2))
        return 0
    for r in records:
        cost = f" {r.cost} {r.currency}" if r.cost is not None else ""
        via = f" via {r.carrier}" if r.carrier else ""
        tries = f" ({len(r.attempts)} attempts)" if len(r.attempts) > 1 else ""
        who = f" [{r.user}]" if r.user else ""
        amd = f" amd={r.amd}" if r.amd else ""
        print(f"{r.started_at:%Y-%m-%d %H:%M:%S} {r.channel:<7} {r.direction:<8} "
              f"{r.caller or '-'} -> {r.callee or '-'}{who} {r.outcome}{via}{tries} "
              f"{r.duration_s:.0f}s{cost}{amd}  {r.call_id}")
    if not records:
        print("no calls", file=sys.stderr)
    return 0


async def call_routed(settings: Settings, args: argparse.Namespace) -> int:
    """``callport call +E164 [--via NAME]`` with ``[routing]``: the router over every
    configured carrier (standalone dialers; SIP and its trunks on one SIP channel), the call
    recorded in ``server.db``. 0 answered or placed, 1 failed or refused."""
    import contextlib
    from dataclasses import replace

    from callport.call.dial import Answered, Dialer, DialFailed, DialOptions
    from callport.channels.carriers import configured, open_dialer
    from callport.config import ConfigError
    from callport.routing.service import RoutingService
    from callport.server.runtime import build_runtime

    runtime = build_runtime(settings)
    names = {c.name for c in settings.routing.carriers}
    waits: dict[str, Callable[[Answered], Awaitable[None]]] = {}
    dialers: dict[str, Dialer] = {}
    async with contextlib.AsyncExitStack() as stack:
        for carrier in ("twilio", "telnyx"):
            if carrier in names and carrier in configured(settings):
                dialer, wait = await stack.enter_async_context(
                    open_dialer(settings, carrier, runtime=lambda: runtime))
                dialers[carrier], waits[carrier] = dialer, wait
        if names & ({"sip"} | {t.name for t in settings.sip.trunks}):
            from callport.channels.sip.channel import SipChannel
            from callport.channels.sip.trunks import TelTargets, trunk_dialers

            channel = SipChannel(runtime, settings=replace(settings.sip, enabled=True, port=0))
            await channel.start()
            stack.push_async_callback(channel.stop)
            sip: dict[str, Any] = ({"sip": TelTargets(channel.outbound)}
                                   if settings.sip.trunk_address else {})
            sip.update(trunk_dialers(channel))
            dialers.update(sip)
            for name, out in sip.items():
                waits[name] = _finished(out)
        try:
            service = RoutingService.build(settings, dialers=dialers, calls=runtime.calls,
                                           clock=time.monotonic)
        except ConfigError as exc:
            print(f"callport: {exc}", file=sys.stderr)
            return 2
        runtime.routing = service
        print(f"callport: calling {args.to} by least-cost routing"
              + (f" via {args.via}" if args.via else ""), file=sys.stderr)
        result = await service.router.dial(args.to, args.from_, DialOptions(),
                                           via=args.via or "")
        outcome = service.router.last
        for attempt in outcome.attempts if outcome else []:
            print(f"callport: {attempt.carrier}: {attempt.cause or attempt.outcome}",
                  file=sys.stderr)
        if isinstance(result, DialFailed):
            print(f"callport: call failed: {result.describe()}", file=sys.stderr)
            return 1
        print(result.provider_call_id or result.call_id, flush=True)
        if isinstance(result, Answered):
            print(f"callport: answered via {result.carrier}; call {result.call_id} runs until "
                  "hang-up", file=sys.stderr)
            until_end = waits.get(result.carrier)
            if until_end is not None:
                await until_end(result)
        else:
            print(f"callport: placed via {result.carrier}; the server runs call "
                  f"{result.call_id} once answered", file=sys.stderr)
    return 0


def _finished(dialer: Any) -> Callable[[Any], Awaitable[None]]:
    """A SIP dialer's wait: until the answered call's flow has ended."""

    async def wait(answered: Any) -> None:
        await dialer.finished(answered.call_id)

    return wait
