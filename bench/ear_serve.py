"""The server side of bench/bench_ear.py: a real ``callport serve`` child process (the Task
Manager with the embedded stack warmed up; SIP, Twilio and the browser page on loopback; a
throwaway SQLite database holding a few open tasks), its turn records and its /metrics."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from serve_support import CALLPORT, free_port, wait_ready
from serve_support import Served as ServeChild

TASKS = ("buy milk", "call the dentist", "water the plants", "pay the rent", "book the flights",
         "renew the passport", "fix the bike")


@dataclass
class Served(ServeChild):
    """tests/e2e's ``callport serve`` child, with what the callers here need of it."""

    db: Path
    auth_token: str

    def signin_link(self) -> str:
        for line in self.text().splitlines():
            if "sign in at " in line:
                return line.split("sign in at ", 1)[1].strip()
        raise RuntimeError("callport serve printed no sign-in link")


def seed_tasks(db: Path) -> None:
    """The owner and a list of open tasks, so that reading them out takes a while."""
    from callport.config import load_settings
    from callport.server.runtime import build_runtime
    from callport.store.owner import ensure_owner

    settings = load_settings(None, env={"CALLPORT_DB": str(db)})
    runtime = build_runtime(settings)

    async def run() -> None:
        await ensure_owner(runtime.users, name=settings.identity.owner)
        for title in TASKS:
            await runtime.store.add(title)

    asyncio.run(run())


def start_serve(tmp: Path, *, timeout_s: float = 300.0) -> Served:
    """``callport serve`` (Task Manager, embedded stack warmed up, SIP and HTTP on loopback)."""
    db = tmp / "ear.db"
    seed_tasks(db)
    http_port, sip_port = free_port(), free_port(socket.SOCK_DGRAM)
    low = random.randrange(30000, 60000, 400)  # as tests/e2e's serve children do
    token = "e" * 32
    env = dict(os.environ)
    env.update({
        "CALLPORT_IDENTITY_UNKNOWN": "owner",  # the bench's caller IDs belong to nobody
        "CALLPORT_SIP_RTP_PORT_MIN": str(low), "CALLPORT_SIP_RTP_PORT_MAX": str(low + 200),
        "CALLPORT_TWILIO_AUTH_TOKEN": token,
        "CALLPORT_TWILIO_PUBLIC_BASE_URL": f"http://127.0.0.1:{http_port}",
        "CALLPORT_METRICS_PUBLIC": "true",  # the bench reads /metrics
        "CALLPORT_LOG_LEVEL": "info", "HF_HUB_OFFLINE": "1",
    })
    log = tmp / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [CALLPORT, "--db", str(db), "serve", "--port", str(http_port),
             "--sip-port", str(sip_port)],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    served = Served(proc, http_port, sip_port, log, db, token)
    wait_ready(served, timeout=timeout_s)
    return served


def server_turns(db: Path, since: int) -> tuple[list[dict[str, object]], int]:
    """The ``timing_ms`` of every turn recorded after event row ``since``; the last row."""
    conn = sqlite3.connect(db, timeout=10)
    try:
        rows = conn.execute("SELECT rowid, detail FROM call_events WHERE kind = 'turn' "
                            "AND rowid > ? ORDER BY rowid", (since,)).fetchall()
        last = conn.execute("SELECT coalesce(max(rowid), 0) FROM call_events").fetchone()[0]
    finally:
        conn.close()
    out: list[dict[str, object]] = []
    for _, detail in rows:
        turn = json.loads(detail)
        if isinstance(turn, dict) and isinstance(turn.get("timing_ms"), dict):
            out.append({**turn["timing_ms"], "interrupted": bool(turn.get("interrupted"))})
    return out, int(last)


def metric(base: str, name: str) -> float:
    """One unlabelled sample of ``/metrics`` (0 when absent)."""
    import httpx

    for line in httpx.get(base + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
