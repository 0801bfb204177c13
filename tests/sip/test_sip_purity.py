"""House rule 1: the SIP protocol cores never import asyncio, socket or time."""

from __future__ import annotations

import ast
from pathlib import Path

import callport.channels.sip as sip_pkg

CORES = ["errors", "headers", "message", "transaction", "dialog", "auth", "sdp", "rtp",
         "dtmf4733", "media", "useragent", "ua_core", "ua_inbound", "ua_outbound",
         "ua_register", "ua_hold", "ua_admission", "registration", "requests", "events",
         "framing", "srv", "rtcp",
         "targets", "trust", "registrar", "registrar_bindings", "session_timer", "ua_refresh",
         "ratelimit", "ids", "replaces"]
FORBIDDEN = {"asyncio", "socket", "time", "selectors", "threading"}


def test_cores_are_sans_io() -> None:
    root = Path(sip_pkg.__file__).parent
    for name in CORES:
        tree = ast.parse((root / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                mods = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not mods & FORBIDDEN, f"{name}.py imports {mods & FORBIDDEN}"
