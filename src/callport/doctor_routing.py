"""``callport doctor``'s routing checks: every ``[routing.carriers.NAME]`` loads (its rate
deck, its trunk), and each SIP trunk answers an OPTIONS ping now (its health as routing
would see it: a 5xx, silence or an unresolvable name is a failure). Nothing here places a
call."""

from __future__ import annotations

import asyncio

from callport.config import ConfigError, Settings

Check = tuple[str, bool, str]


def routing_checks(settings: Settings, *, resolver: object = None,
                   timeout_s: float = 2.0) -> list[Check]:
    if not settings.routing.carriers:
        return [("routing (optional)", True, "not configured: add [routing.carriers.NAME] "
                 "for least-cost routing with failover")]
    from callport.routing.service import load_carriers

    try:
        carriers = load_carriers(settings)
    except ConfigError as exc:
        return [("routing", False, str(exc))]
    trunks = {t.name: t for t in settings.sip.trunks}
    out: list[Check] = []
    for carrier in carriers:
        rates = (f"{len(carrier.rates)} rates" if carrier.rates is not None
                 else "no rate deck (price unknown)")
        trunk = trunks.get(carrier.name)
        if trunk is None:
            out.append((f"routing: {carrier.name}", True, f"{carrier.kind}, {rates}"))
            continue
        alive, detail = asyncio.run(_ping(settings, trunk, resolver, timeout_s))
        out.append((f"routing: {carrier.name}", alive,
                    f"SIP trunk {trunk.address}, {rates}, health check: {detail}"))
    return out


async def _ping(settings: Settings, trunk: object, resolver: object,
                timeout_s: float) -> tuple[bool, str]:
    from callport.channels.sip.dnsresolver import DnsResolver
    from callport.channels.sip.trunks import ping

    try:
        return await ping(trunk, base=settings.sip, resolver=resolver or DnsResolver(),  # type: ignore[arg-type]
                          timeout_s=timeout_s)
    except OSError as exc:
        return False, f"OPTIONS: {exc}"
