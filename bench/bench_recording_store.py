"""What keeping recordings in PostgreSQL (``server.db = postgresql://...``, ``recording.store``
empty) costs next to the local directory: the time to publish one finished recording (its
sealed audio, ``--minutes`` of 16 kHz stereo, then its metadata), to read its audio back for
playback, and to list ``--recordings`` recordings (``metadata``: one name listing, then one
read per ``rec-ID.json``; what ``GET /api/recordings`` does), p50 over ``--repeat`` runs.

    python bench/bench_recording_store.py [--minutes 1] [--recordings 200] [--repeat 5]

Needs the Debian package postgresql (make test); starts a throwaway server on loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "scale"))

import backend_servers

from callport.recording.postgres import PostgresRecordingStore
from callport.recording.store import LocalStore, RecordingStore, metadata

BYTES_PER_MINUTE = 16000 * 2 * 2 * 60  # 16 kHz, 16-bit, two channels


def p50_ms(op: Callable[[], object], repeat: int) -> float:
    took = []
    for _ in range(repeat):
        start = time.perf_counter()
        op()
        took.append((time.perf_counter() - start) * 1e3)
    return statistics.median(took)


def measure(store: RecordingStore, audio: bytes, recordings: int, repeat: int) -> list[float]:
    meta = {"id": "rec-bench", "audio": "rec-bench.wav.enc", "transcript": "x" * 2000,
            "started_at": "2026-12-02T07:00:00+00:00", "user": "alice"}
    body = json.dumps(meta).encode()

    def publish() -> None:
        store.write("rec-bench.wav.enc", audio)
        store.write("rec-bench.json", body)

    publish_ms = p50_ms(publish, repeat)
    read_ms = p50_ms(lambda: store.read("rec-bench.wav.enc"), repeat)
    for i in range(recordings - 1):
        store.write(f"rec-{i:05d}.json", body)
    list_ms = p50_ms(lambda: metadata(store), repeat)
    return [publish_ms, read_ms, list_ms]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--recordings", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    audio = os.urandom(int(BYTES_PER_MINUTE * args.minutes))  # sealed audio looks random
    server = backend_servers.postgres()
    url, schema = backend_servers.fresh_schema(server)
    pg = PostgresRecordingStore(url)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rows = [("local directory", measure(LocalStore(directory=Path(tmp)), audio,
                                                args.recordings, args.repeat)),
                    ("PostgreSQL", measure(pg, audio, args.recordings, args.repeat))]
    finally:
        pg.close()
        backend_servers.drop_schema(server, schema)
    print(f"load average {os.getloadavg()[0]:.2f}; audio {len(audio):,} bytes "
          f"({args.minutes:g} min), {args.recordings} recordings listed, p50 of {args.repeat}")
    print("| store | publish one recording | read its audio | list all |")
    print("|---|---|---|---|")
    for name, (publish, read, listing) in rows:
        print(f"| {name} | {publish:.1f} ms | {read:.1f} ms | {listing:.1f} ms |")


if __name__ == "__main__":
    main()
