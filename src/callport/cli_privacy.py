"""``callport privacy export --user NAME | --phone +E164 --out DIR``: a data-subject access
request (GDPR art. 15): every recording (decrypted WAV and transcript), call record, task
and voicemail of that person, with ``manifest.json`` (each file, its size and sha256).

A person is a user name (their recordings, calls, tasks and voicemail) or a phone number
(recordings and calls where they are the caller or the callee, voicemail they left).
``privacy erase --user NAME | --phone +E164 --yes`` deletes the same (art. 17): recording
files, call records with their events, voicemail and, for a user, their tasks; a SQLite
database is vacuumed so deleted rows do not linger in free pages. Both work on SQLite and on
PostgreSQL (``server.db``, opened by ``store.stores.open_stores``). It keeps the user account itself
(``callport users remove``) and says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from callport.config import Settings

COMMANDS = ("privacy",)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    priv = sub.add_parser("privacy", help="data-subject requests: export a person's data")
    psub = priv.add_subparsers(dest="action", required=True)
    export = psub.add_parser("export", help="write every record of one person to a folder")
    who = export.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="a user name")
    who.add_argument("--phone", help="a phone number, +E164")
    export.add_argument("--out", required=True, type=Path, help="a new or empty folder")
    erase = psub.add_parser("erase", help="delete every record of one person")
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="a user name")
    who.add_argument("--phone", help="a phone number, +E164")
    erase.add_argument("--yes", action="store_true", required=True, help="yes, delete it all")


def _json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _json(v) for k, v in dataclasses.asdict(value).items() if k != "audio"}
    return value


async def export(settings: Settings, *, user: str | None, phone: str | None,
                 out: Path) -> dict[str, Any]:
    """Write the person's data under ``out``; the manifest (also ``out/manifest.json``)."""
    import numpy as np

    from callport.audio.wav import write_wav
    from callport.recording.crypt import load_key
    from callport.recording.listing import recordings
    from callport.recording.run import open_recording, recording_store, recordings_dir
    from callport.store.stores import open_stores

    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - a one-shot CLI
    files: list[dict[str, Any]] = []

    def put(name: str, data: bytes) -> None:
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files.append({"file": name, "bytes": len(data),
                      "sha256": hashlib.sha256(data).hexdigest()})

    def mine(m: dict[str, Any]) -> bool:
        return (m.get("user") == user) if user else phone in (m.get("caller"), m.get("callee"))

    directory, rec_store = recordings_dir(settings), recording_store(settings)
    found = [m for m in recordings(directory, rec_store) if mine(m)]
    if found:
        key = load_key(settings)
        for meta in found:
            wav, words = open_recording(meta, directory, key, rec_store)
            put(f"recordings/{meta['id']}.wav", wav)
            put(f"recordings/{meta['id']}.json", json.dumps(
                {**meta, "transcript": words}, indent=1, default=str).encode())
    db = open_stores(settings.server.db, owner=settings.identity.owner)
    try:
        records = await db.calls.list_calls(user=user, limit=100000)
        tasks = await db.tasks.of(user).list(include_done=True) if user else []
        messages = await db.voicemail.list(for_user=user, limit=100000)
    finally:
        await db.close()
    if phone:
        records = [r for r in records if phone in (r.caller, r.callee)]
    put("calls.json", json.dumps([_json(r) for r in records], indent=1, default=str).encode())
    put("tasks.json", json.dumps([_json(t) for t in tasks], indent=1, default=str).encode())
    if phone:
        messages = [m for m in messages if m.caller == phone]
    for m in messages:
        path = out / "voicemail" / f"{m.id}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav(path, np.frombuffer(m.audio, dtype="<i2"), m.sample_rate)
        data = path.read_bytes()
        files.append({"file": f"voicemail/{m.id}.wav", "bytes": len(data),
                      "sha256": hashlib.sha256(data).hexdigest()})
    put("voicemail.json", json.dumps([_json(m) for m in messages], indent=1,
                                     default=str).encode())
    manifest = {"subject": {"user": user, "phone": phone},
                "counts": {"recordings": len(found), "calls": len(records),
                           "tasks": len(tasks), "voicemail": len(messages)},
                "files": files}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


async def erase(settings: Settings, *, user: str | None, phone: str | None) -> dict[str, Any]:
    """Delete the person's data; what was deleted and what was kept."""
    from callport.recording.listing import recordings
    from callport.recording.run import recording_store, recordings_dir
    from callport.recording.store import remove
    from callport.store.stores import open_stores

    directory, rec_store = recordings_dir(settings), recording_store(settings)
    gone = [m for m in recordings(directory, rec_store)
            if ((m.get("user") == user) if user else phone in (m.get("caller"), m.get("callee")))]
    for meta in gone:
        remove(rec_store, str(meta["id"]))  # the store's objects (a bucket's, too)
        for path in directory.glob(f"{meta['id']}.*"):  # and any left in the directory
            path.unlink(missing_ok=True)
    tasks = 0
    db = open_stores(settings.server.db, owner=settings.identity.owner)
    try:
        if user:
            store = db.tasks.of(user)
            for task in await store.list(include_done=True):
                tasks += await store.delete(task.id)
        erased = await db.erase(user=user, phone=phone)
    finally:
        await db.close()
    return {"subject": {"user": user, "phone": phone},
            "deleted": {"recordings": len(gone), "calls": erased.calls, "tasks": tasks,
                        "voicemail": erased.voicemail},
            "kept": ["the user account (callport users remove NAME)"] if user else []}


async def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "erase":
        done = await erase(settings, user=args.user, phone=args.phone)
        print(json.dumps(done, indent=1))
        return 0
    if args.out.exists() and any(args.out.iterdir()):
        print(f"callport: {args.out} is not empty; choose a new folder", file=sys.stderr)
        return 2
    manifest = await export(settings, user=args.user, phone=args.phone, out=args.out)
    counts = ", ".join(f"{n} {k}" for k, n in manifest["counts"].items())
    print(f"wrote {args.out}: {counts} (manifest.json)")
    return 0
