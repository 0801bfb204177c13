"""Free loopback ports for a server or a peer that is about to bind them (bench and tests).

The kernel hands out a port that is free *now*; the caller binds it a moment later, so a port
is only a good guess. SIP listeners (callport's, sipp's, baresip's) bind UDP and TCP on the
same number, so :func:`free_sip_port` checks both: a port free on UDP but held on TCP by a
connection of an earlier run made a peer fail to start.
"""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def free_port(kind: int = socket.SOCK_STREAM, host: str = HOST) -> int:
    """A port free for ``kind`` (TCP by default) on ``host``."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_sip_port(host: str = HOST) -> int:
    """A port free for UDP and TCP both."""
    for _ in range(50):
        port = free_port(socket.SOCK_DGRAM, host)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue  # in use on TCP: another one
        return port
    raise RuntimeError(f"no port free for both UDP and TCP on {host}")
