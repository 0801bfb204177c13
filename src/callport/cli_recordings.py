"""``callport recordings list|export``: the recordings in the data directory.

- ``recordings list [--json] [--user NAME]``: id, call_id, user, started_at, duration_s,
  consent, paused_s, channels, newest first.
- ``recordings export ID --out FILE.wav``: the stereo WAV (caller left, agent right),
  decrypted (``callport.recording.crypt``). A recording whose server was killed mid-call
  exports up to its last sealed chunk (about the last second written).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from callport.config import Settings
from callport.recording.listing import COLUMNS as COLUMNS
from callport.recording.listing import recordings as recordings

COMMANDS = ("recordings",)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rec = sub.add_parser("recordings", help="list or export call recordings")
    rsub = rec.add_subparsers(dest="action", required=True)
    listing = rsub.add_parser("list", help="the recordings, newest first")
    listing.add_argument("--json", action="store_true", help="one JSON array")
    listing.add_argument("--user", help="only this user's recordings")
    export = rsub.add_parser("export", help="write one recording as a stereo WAV")
    export.add_argument("id", help="the recording id (recordings list)")
    export.add_argument("--out", required=True, type=Path, help="FILE.wav")


def _directory(settings: Settings) -> Path:
    from callport.recording.run import recordings_dir

    return recordings_dir(settings)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from callport.recording.run import recording_store

    directory, store = _directory(settings), recording_store(settings)
    if args.action == "list":
        found = [m for m in recordings(directory, store)
                 if not args.user or m.get("user") == args.user]
        rows = [{k: m.get(k) for k in COLUMNS} for m in found]
        if args.json:
            print(json.dumps(rows, indent=1))
            return 0
        if not rows:
            print("no recordings")
        for r in rows:
            print(f"{r['id']}  {r['started_at']}  {r['user'] or '-'}  {r.get('duration_s', '?')}s  "
                  f"consent={r['consent']}  paused={r['paused_s']}s")
        return 0
    meta = next((m for m in recordings(directory, store) if m.get("id") == args.id), None)
    if meta is None:
        print(f"callport: no recording {args.id!r} (see: callport recordings list)",
              file=sys.stderr)
        return 1
    from callport.recording.crypt import load_key
    from callport.recording.run import open_recording

    try:
        wav, _words = open_recording(meta, directory, load_key(settings), store)
    except (OSError, ValueError) as exc:
        print(f"callport: recording {args.id}: {exc}", file=sys.stderr)
        return 1
    args.out.write_bytes(wav)
    print(f"wrote {args.out} ({meta.get('duration_s', '?')} s, stereo: caller left, agent right)")
    return 0
