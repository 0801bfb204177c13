"""``callport drain [--url URL] [--token TOKEN] [--resume] [--wait]``: put a running node in
drain mode for a rolling upgrade (``POST /api/admin/drain``, ``callport.server.drain``): its
live calls finish, new ones are refused, ``/readyz`` turns 503. ``--resume`` takes it out
again; ``--wait`` waits until its last live call ended (then stop it with SIGTERM).

The token is an admin's API token (``--token``, else ``CALLPORT_ADMIN_TOKEN``); ``--url``
defaults to ``http://127.0.0.1:<server.port>``. The same as ``kill -USR1 <pid>`` on the node's
own machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from callport.config import Settings

COMMANDS = ("drain",)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    drain = sub.add_parser("drain", help="put a running node in drain mode (rolling upgrades)")
    drain.add_argument("--url", help="the node (default http://127.0.0.1:<server.port>)")
    drain.add_argument("--token", help="an admin's API token (env CALLPORT_ADMIN_TOKEN)")
    drain.add_argument("--resume", action="store_true", help="leave drain mode: take calls")
    drain.add_argument("--wait", type=float, metavar="S", default=0.0,
                       help="wait up to S seconds for the node's live calls to end")


def run(settings: Settings, args: argparse.Namespace, *, transport: Any = None) -> int:
    import httpx

    from callport.server.drain import DRAIN_PATH

    url = (args.url or f"http://127.0.0.1:{settings.server.port}").rstrip("/") + DRAIN_PATH
    token = args.token or os.environ.get("CALLPORT_ADMIN_TOKEN", "")
    if not token:
        print("callport: drain needs an admin's API token: --token or CALLPORT_ADMIN_TOKEN "
              "(callport tokens create NAME)", file=sys.stderr)
        return 2
    headers = {"authorization": f"Bearer {token}"}
    deadline = time.monotonic() + max(args.wait, 0.0)
    try:
        with httpx.Client(timeout=10.0, transport=transport) as client:
            answer = client.post(url, json={"draining": not args.resume}, headers=headers)
            while (answer.status_code == 200 and args.wait > 0 and not args.resume
                   and answer.json().get("active_calls", 0) > 0
                   and time.monotonic() < deadline):
                time.sleep(1.0)
                answer = client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        print(f"callport: cannot reach {url} ({exc}); is `callport serve` running? (--url)",
              file=sys.stderr)
        return 1
    if answer.status_code != 200:
        print(f"callport: {url}: HTTP {answer.status_code} {answer.text[:200]}",
              file=sys.stderr)
        return 1
    state = answer.json()
    print(json.dumps(state))
    return 0 if not (args.wait > 0 and state.get("active_calls", 0)) else 1
