"""Soak: N minutes of mixed calls at a steady rate against a real ``callport serve``, then the
kill -9 and SIGTERM checks. Flat is the target.

    python bench/bench_soak.py --minutes 10            # the default: 10 minutes
    python bench/bench_soak.py --minutes 3 --rate 12   # 12 calls a minute of each kind

Calls, in turn, each on the echo flow: SIP (sipp's default UAC: INVITE, ACK, a pause, BYE;
skipped when sipp is missing), Twilio (the simulator: signed webhook, Media Streams over a real
WebSocket, a tone echoed back, the final status callback) and browser (signed in, call token,
``/browser/ws``, PCM frames echoed back). Every minute one line: resident memory, open
descriptors, sockets and asyncio tasks (``/metrics``: ``server.procstats``), live calls, open
call records (SQLite), and the calls done and failed per kind in that minute.

Then the closing checks: live calls of every kind, ``kill -9``, a restart on the same
database (every record the dead process left open is ended, cause ``crash``), live calls
again, SIGTERM (exit 0, every record ended). The helpers are the fuzz campaigns'
(``tests/fuzz/fuzz_support.py``, ``tests/fuzz/http_support.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / p) for p in ("src", "tests/fuzz", "tests/twilio", "tests/providers")]

from fuzz_support import SIPP, Served, sipp_call, start_serve  # noqa: E402
from http_support import (  # noqa: E402
    EDGE_ENV,
    add_web_user,
    browser_call,
    browser_client,
    call_token,
    live_calls_then,
    open_records,
    twilio_call,
)

from callport import __version__  # noqa: E402


def metrics(served: Served) -> dict[str, float]:
    _, body = served.get("/metrics")
    out: dict[str, float] = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, _, value = line.partition(" ")
            out[name] = float(value)
    return out


def row(minute: int, served: Served, done: Counter[str], failed: Counter[str]) -> str:
    m = metrics(served)
    kinds = " ".join(f"{k} {done[k]}/{failed[k]}" for k in ("sip", "twilio", "browser"))
    return (f"{minute:>4} {served.rss_kb() / 1024:>8.1f} {served.fds():>5} "
            f"{m.get('callport_process_sockets', 0):>7.0f} "
            f"{m.get('callport_asyncio_tasks', 0):>6.0f} "
            f"{m.get('callport_live_calls', 0):>5.0f} {len(open_records(served)):>8}   {kinds}")


async def one_call(kind: str, served: Served, tmp: Path, web: object) -> bool:
    if kind == "sip":
        rc, _ = await asyncio.to_thread(sipp_call, served, tmp)
        return rc == 0
    if kind == "twilio":
        rms, _ = await twilio_call(served, seconds=1.0)
        return rms > 500
    import httpx

    assert isinstance(web, httpx.Client)
    token = await asyncio.to_thread(call_token, web)
    back, _ = await browser_call(served, web, token, frames=40)
    return back > 10


async def soak(served: Served, tmp: Path, *, minutes: float, rate: float) -> list[str]:
    kinds = ["twilio", "browser"] + (["sip"] if SIPP is not None else [])
    web = await asyncio.to_thread(browser_client, served)
    interval = 60.0 / (rate * len(kinds))  # one call of some kind every `interval` seconds
    lines: list[str] = []
    done: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    running: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    start = loop.time()
    next_row, n = start + 60.0, 0
    print(f"{'min':>4} {'RSS MB':>8} {'fds':>5} {'sockets':>7} {'tasks':>6} {'live':>5} "
          f"{'open rec':>8}   done/failed per kind", flush=True)
    lines.append(row(0, served, done, failed))
    print(lines[-1], flush=True)

    async def run(kind: str) -> None:
        try:
            ok = await asyncio.wait_for(one_call(kind, served, tmp, web), 30)
        except Exception as exc:  # a failed call is a figure, not the end of the soak
            print(f"  {kind} call failed: {type(exc).__name__}: {exc}"[:200], flush=True)
            ok = False
        (done if ok else failed)[kind] += 1

    while loop.time() - start < minutes * 60:
        task = asyncio.create_task(run(kinds[n % len(kinds)]))
        running.add(task)
        task.add_done_callback(running.discard)
        n += 1
        await asyncio.sleep(max(0.0, start + n * interval - loop.time()))
        if loop.time() >= next_row:
            lines.append(row(round((next_row - start) / 60), served, done, failed))
            print(lines[-1], flush=True)
            done.clear()
            failed.clear()
            next_row += 60.0
    await asyncio.gather(*running, return_exceptions=True)
    await asyncio.sleep(2)  # the last calls' records settle
    lines.append(row(round((loop.time() - start) / 60), served, done, failed) + "  (after)")
    print(lines[-1], flush=True)
    web.close()
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=10.0,
                        help="calls per minute of each kind (default 10)")
    args = parser.parse_args()
    print(f"callport {__version__}, {datetime.date.today()}, sipp: {SIPP or 'missing'}")
    with tempfile.TemporaryDirectory(prefix="soak-") as name:
        tmp = Path(name)
        sip = 2 if SIPP is not None else 0
        served = start_serve(tmp, env=EDGE_ENV, sip=sip > 0, name="soak")
        try:
            add_web_user(served)
            asyncio.run(soak(served, tmp, minutes=args.minutes, rate=args.rate))
            began = time.monotonic()
            code = asyncio.run(live_calls_then(served, tmp, signal.SIGKILL, sip=sip))
            left = len(open_records(served))
            print(f"kill -9 (exit {code}) with live calls: {left} record(s) left open")
        finally:
            served.stop()
        from http_support import restart

        again = restart(served, env=EDGE_ENV, name="again")
        try:
            after_start = len(open_records(again))
            print(f"restart: {after_start} record(s) open after start-up (crash-closed)")
            code = asyncio.run(live_calls_then(again, tmp, signal.SIGTERM, sip=sip))
        finally:
            again.stop()
        after_term = len(open_records(again))
        print(f"SIGTERM with live calls: exit {code}, {after_term} record(s) open afterwards "
              f"({time.monotonic() - began:.1f} s for both checks)")
        return 0 if (after_start, after_term, code) == (0, 0, 0) else 1


if __name__ == "__main__":
    raise SystemExit(main())
