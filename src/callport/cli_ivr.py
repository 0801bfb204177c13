"""The IVR's command line: ``--ivr FILE`` / ``--at`` for serve and talk, what ``talk --json``
adds for a menu call (``ivr`` decisions and ``outcome``), and ``callport voicemail list
[--json] [--user NAME]`` / ``callport voicemail save ID OUT.wav``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callport.config import Settings

if TYPE_CHECKING:
    from callport.server.runtime import Runtime

COMMANDS = ("voicemail",)


def add_ivr_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ivr", metavar="FILE", help="run this menu file (TOML, see "
                        "examples/ivr/acme.toml) as the call flow (env CALLPORT_IVR)")


def add_at_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--at", metavar="YYYY-MM-DDTHH:MM", type=_local_time,
                        help="run the call as if at this local time of the menu's time zone "
                        "(try opening hours)")


def _local_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time like 2026-12-02T10:00") from None


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    vm = sub.add_parser("voicemail", help="messages callers left (IVR voicemail)")
    vsub = vm.add_subparsers(dest="voicemail_command", required=True, metavar="ACTION")
    ls = vsub.add_parser("list", help="newest first: new (not heard yet), when, caller, for "
                         "whom, menu, transcript")
    ls.add_argument("--json", action="store_true", help="print them as JSON")
    ls.add_argument("--user", help="only the messages left for this user")
    save = vsub.add_parser("save", help="write one message's audio to a WAV file")
    save.add_argument("id", type=int)
    save.add_argument("out", type=Path, metavar="OUT.wav")


def use_at(runtime: Runtime, at: datetime | None) -> str | None:
    """Point the IVR's clock at ``at``; the problem when there is no IVR to point."""
    if at is None:
        return None
    from callport.flows.ivr import IvrFlow

    flow = runtime.flow
    if not isinstance(flow, IvrFlow):
        return "--at needs a menu (--ivr FILE or server.ivr)"
    flow.at = at
    return None


def talk_report(runtime: Runtime, call_id: str) -> dict[str, Any]:
    """``ivr`` (each menu decision) and ``outcome`` for ``talk --json``; {} without an IVR."""
    from callport.flows.ivr import IvrFlow

    flow = runtime.flow
    if not isinstance(flow, IvrFlow):
        return {}
    journal = flow.journals.get(call_id)
    if journal is None:
        return {"ivr": [], "outcome": "hangup"}
    return {"ivr": journal.steps, "outcome": journal.outcome or "hangup"}


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from callport.store.stores import open_stores

    db = open_stores(settings.server.db, owner=settings.identity.owner)
    store = db.voicemail
    try:
        if args.voicemail_command == "save":
            message = await store.get(args.id)
            if message is None:
                print(f"callport: no voicemail {args.id}", file=sys.stderr)
                return 1
            import numpy as np

            from callport.audio.wav import write_wav

            write_wav(args.out, np.frombuffer(message.audio, dtype="<i2").astype(np.int16),
                      message.sample_rate)
            print(f"callport: wrote {args.out} ({message.seconds:.1f} s)", file=sys.stderr)
            return 0
        messages = await store.list(for_user=args.user)
        if args.json:
            print(json.dumps([{"id": m.id, "at": m.at.isoformat(), "caller": m.caller,
                               "for": m.for_user, "menu": m.menu, "call_id": m.call_id,
                               "seconds": round(m.seconds, 2), "transcript": m.transcript,
                               "heard": m.heard}
                              for m in messages], indent=2))  # fmt: skip
            return 0
        if not messages:
            print("no voicemail")
        for m in messages:
            print(f"{m.id:>4}  {'   ' if m.heard else 'new'}  {m.at:%Y-%m-%d %H:%M}  "
                  f"{m.caller or 'unknown':<16} for {m.for_user:<10} {m.menu:<10} "
                  f"{m.seconds:5.1f} s  {m.transcript!r}")
        return 0
    finally:
        await db.close()
