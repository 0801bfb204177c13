"""``callport queues status [--json] [--url URL]``: the running server's queues.

Queues live in the server process, so the command asks it (``GET /api/queues``). It signs
in as an admin the way an operator with the database would: it mints an API token for the
first admin user that lasts a minute, uses it once and revokes it (the token store records
both). ``--url`` defaults to ``http://127.0.0.1:<server.port>``.

Text output, per queue: the callers in order (position, wait so far, caller id, state) and
the agents (state, calls taken, current call).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from callport.config import Settings

COMMANDS = ("queues",)
PATH = "/api/queues"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    queues = sub.add_parser("queues", help="queues of callers waiting for agents")
    qsub = queues.add_subparsers(dest="action", required=True)
    status = qsub.add_parser("status", help="waiting callers and agents of every queue")
    status.add_argument("--json", action="store_true", help="the JSON /api/queues gives")
    status.add_argument("--url", help="the server (default http://127.0.0.1:<server.port>)")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    url = (args.url or f"http://127.0.0.1:{settings.server.port}").rstrip("/")
    try:
        data = await fetch_status(settings, url)
    except StatusError as exc:
        print(f"callport: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        print(status_text(data))
    return 0


class StatusError(RuntimeError):
    """The server could not be asked (not running, no admin, refused)."""


async def fetch_status(settings: Settings, url: str, *, transport: Any = None) -> dict[str, Any]:
    """Ask the server at ``url`` as an admin (``transport``: an httpx transport, for tests)."""
    import httpx

    from callport.store.stores import open_stores

    db = open_stores(settings.server.db, owner=settings.identity.owner)
    try:
        admin = next((u for u in await db.users.list() if u.has_role("admin")), None)
        if admin is None:
            raise StatusError("no admin user to ask the server as (callport users add NAME "
                              "--role admin)")
        tokens = db.tokens
        issued = await tokens.create(admin.name, ttl_s=60.0, label="queues status",
                                     now=time.time())
        try:
            async with httpx.AsyncClient(timeout=10.0, transport=transport) as client:
                response = await client.get(url + PATH, headers={
                    "authorization": f"Bearer {issued.secret}"})
        except httpx.HTTPError as exc:
            raise StatusError(f"cannot reach the server at {url} ({exc}); is `callport "
                              "serve` running? (--url)") from None
        finally:
            await tokens.revoke(issued.info.id)
    finally:
        await db.close()
    if response.status_code != 200:
        raise StatusError(f"{url}{PATH}: HTTP {response.status_code} {response.text[:200]}")
    data: dict[str, Any] = response.json()
    return data


def status_text(data: dict[str, Any]) -> str:
    """The JSON of ``/api/queues`` as lines for people."""
    queues = data.get("queues", [])
    if not queues:
        return "no queues configured ([queues.NAME] in the configuration)"
    lines: list[str] = []
    for q in queues:
        waiting = q["waiting"]
        lines.append(f"{q['name']} ({q['strategy']}): {len(waiting)} waiting")
        for w in waiting:
            ringing = f" -> {', '.join(w['ringing'])}" if w["ringing"] else ""
            prio = f" priority {w['priority']}" if w["priority"] else ""
            node = f" (node {w['node']})" if w.get("node") else ""
            lines.append(f"  {w['position']:>3}. {w['caller'] or w['call_id']:<16} waited "
                         f"{_duration(w['waited_s'])}  {w['state']}{ringing}{prio}{node}")
        for a in q["agents"]:
            on = "" if a["online"] else " (offline)"
            current = f", on {a['current_call']}" if a["current_call"] else ""
            node = f", node {a['node']}" if a.get("node") else ""
            lines.append(f"  agent {a['name']:<12} {a['state']}{on}, {a['calls_taken']} calls"
                         f"{current}{node}")
        if not q["agents"]:
            lines.append("  no agents (callport users add NAME --role agent --queue "
                         f"{q['name']})")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"
