"""A call's record and the process's life: recording calls, crash recovery, graceful shutdown.

- ``record_start`` / ``record_end``: every call ``Runtime.run_call`` runs leaves a
  ``CallRecord``. Twilio and Telnyx calls are recorded by their channel
  (``callport.channels.callrecords``: the provider's status callbacks are the truth), so the
  runtime only records a call the store does not know yet (SIP, browser, ``talk``) and ends
  that record itself with the cause (the session's hang-up reason).
- ``close_crashed_calls``: at start-up, a record still ringing or in progress belongs to a
  process that died (kill -9, power loss); it is ended with cause ``crash``.
- ``close_stale_calls`` / ``stale_loop``: while serving, a record still open
  ``limits.stale_call_s`` after it started and not live in this process (a provider's status
  callback that never came) is ended with cause ``stale``.
- ``drain``: SIGTERM. ``runtime.draining`` goes up (channels stop admitting: SIP answers 503,
  a new Twilio call's voice webhook gets 503, a ringing Telnyx call is hung up, the browser
  channel refuses new calls), every live call is hung up the way its leg hangs
  up (SIP BYE, provider hang-up through the REST control, browser ``bye`` and socket close),
  and the runtime waits for the calls to finish, up to ``server.shutdown_grace_s``.
- ``serve``: uvicorn with ``drain`` run before uvicorn closes connections, and the rest of
  its shutdown bounded by what is left of the grace period.

Store trouble is logged, never raised: a failing database must not drop a live call.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

from callport.metrics import Metrics
from callport.server.heap import GcPauses, freeze_startup
from callport.store.calls import CallRecord, CallStoreError
from callport.store.tasks import local_now
from callport.types import CallInfo

if TYPE_CHECKING:
    import socket

    import uvicorn

    from callport.call.call import Call
    from callport.config_limits import LimitSettings
    from callport.store.calls import CallStore

log = logging.getLogger(__name__)

CRASH = "crash"
SHUTDOWN = "shutdown"
STALE = "stale"


class Drainable(Protocol):
    """What ``drain`` needs of ``callport.server.runtime.Runtime``."""

    draining: bool

    @property
    def active(self) -> dict[str, Call]: ...


async def record_start(calls: CallStore, info: CallInfo) -> bool:
    """Create the call's record unless a channel already did; True when this one owns it."""
    try:
        if await calls.get(info.call_id) is not None:
            return False
        await calls.create(CallRecord(
            call_id=info.call_id, channel=info.channel, direction=info.direction,
            caller=info.caller, callee=info.callee, status="in-progress",
            started_at=local_now()))
        return True
    except CallStoreError:  # a channel's own record landed first: it is that channel's
        return False
    except Exception:
        log.exception("call %s: could not record the call", info.call_id)
        return False


async def record_end(calls: CallStore, call_id: str, cause: str) -> None:
    """End a record ``record_start`` created: status ``ended``, an ``ended`` event = cause."""
    try:
        at = local_now()
        await calls.update_status(call_id, "ended", at=at)
        await calls.add_event(call_id, "ended", cause, at=at)
    except Exception:
        log.exception("call %s: could not record its end (%s)", call_id, cause)


async def close_crashed_calls(calls: CallStore) -> int:
    """End every record a previous process left live (cause ``crash``); returns how many."""
    try:
        closed = await calls.close_unfinished(CRASH, at=local_now())
    except Exception:
        log.exception("could not close the calls a previous process left open")
        return 0
    if closed:
        log.warning("closed %d call(s) left live by a previous process (cause: crash)", closed)
    else:
        log.info("no calls were left live by a previous process")
    return closed


async def close_left_open(calls: CallStore) -> int:
    """At the end of a shutdown, after the drain and the channels' stop: every record still
    open is ended with cause ``shutdown`` (a provider call whose final status callback will
    reach no one, a call the grace period cut short). Like ``close_crashed_calls``, this
    assumes one serving process per database."""
    try:
        closed = await calls.close_unfinished(SHUTDOWN, at=local_now())
    except Exception:
        log.exception("could not close the call records left open at shutdown")
        return 0
    if closed:
        log.info("closed %d call record(s) still open at shutdown", closed)
    return closed


async def close_stale_calls(calls: CallStore, *, live: Collection[str], older_than_s: float,
                            now: datetime | None = None) -> int:
    """End records still ringing/in progress ``older_than_s`` after they started that are not
    ``live`` here (cause ``stale``: a lost status callback); returns how many."""
    at = now or local_now()
    try:
        closed = await calls.close_unfinished(
            STALE, at=at, started_before=at - timedelta(seconds=older_than_s), keep=live)
    except Exception:
        log.exception("could not close stale call records")
        return 0
    if closed:
        log.warning("closed %d stale call record(s) (open > %.0f s, not live here)",
                    closed, older_than_s)
    return closed


async def stale_loop(calls: CallStore, *, live: Callable[[], Collection[str]],
                     older_than_s: float) -> None:
    """``close_stale_calls`` every few minutes (a tenth of ``older_than_s``, 10 s to 10 min)."""
    every_s = min(max(older_than_s / 10, 10.0), 600.0)
    while True:
        await asyncio.sleep(every_s)
        await close_stale_calls(calls, live=live(), older_than_s=older_than_s)


async def drain(runtime: Drainable, *, grace_s: float, poll_s: float = 0.05) -> int:
    """Stop admitting calls, hang up every live one, wait for them up to ``grace_s``.

    Returns how many calls were still running when the grace period ran out (0: all ended).
    A call that starts while draining (a provider stream already on its way) is hung up too.
    """
    runtime.draining = True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    if runtime.active:
        log.info("draining: hanging up %d live call(s)", len(runtime.active))
    hanging: dict[str, asyncio.Task[None]] = {}
    while runtime.active and loop.time() < deadline:
        for call_id, call in list(runtime.active.items()):
            if call_id not in hanging:
                hanging[call_id] = loop.create_task(_hang_up(call), name=f"drain:{call_id}")
        await asyncio.sleep(poll_s)
    for task in hanging.values():
        task.cancel()
    left = len(runtime.active)
    if left:
        log.warning("draining: %d call(s) still running after %.1f s", left, grace_s)
    return left


async def _hang_up(call: Call) -> None:
    try:
        await call.session.leg.hangup(SHUTDOWN)
    except Exception:
        log.exception("call %s: hang-up on shutdown failed", call.info.call_id)


def uvicorn_config(app: Any, *, host: str, port: int, log_level: str, grace_s: float,
                   limits: LimitSettings | None = None,
                   trusted_proxies: tuple[str, ...] = ()) -> uvicorn.Config:
    """How ``serve`` runs ``app``: the edge's deadlines and sizes, our access log, and
    X-Forwarded-For/-Proto believed only from ``trusted_proxies`` (server.trusted_proxies;
    loopback alone when empty)."""
    import uvicorn

    from callport.config_limits import LimitSettings
    from callport.config_server import forwarded_allow_ips
    from callport.logs import log_config
    from callport.server.httpguard import guarded_protocol
    from callport.server.wsfast import FastWebSocketProtocol

    edge = limits or LimitSettings()  # header/idle deadlines and the WebSocket message cap
    # uvicorn's sans-IO WebSocket protocol with a short path for whole data frames
    # (server.wsfast): the media streams' 100 frames a second per call
    return uvicorn.Config(app, host=host, port=port, log_level=log_level,
                          ws=FastWebSocketProtocol,
                          timeout_graceful_shutdown=max(int(grace_s), 1),
                          http=guarded_protocol(edge.header_timeout_s),
                          timeout_keep_alive=edge.keepalive_s, ws_max_size=edge.ws_max_bytes,
                          proxy_headers=True,
                          forwarded_allow_ips=forwarded_allow_ips(trusted_proxies),
                          log_config=log_config())  # our handlers: redacted access log


def serve(app: Any, runtime: Drainable, *, host: str, port: int, log_level: str,
          grace_s: float, limits: LimitSettings | None = None,
          trusted_proxies: tuple[str, ...] = (), metrics: Metrics | None = None) -> int:
    """Run ``app`` on uvicorn until SIGTERM/SIGINT; drain calls first; 0 on a clean stop.
    The loaded heap is frozen first and collection pauses go to ``metrics``
    (``callport.server.heap``)."""
    import uvicorn

    class _Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            start = time.monotonic()
            try:
                await drain(runtime, grace_s=grace_s)
            except Exception:  # never let a drain bug keep the process from stopping
                log.exception("draining failed")
            # What is left of the grace period bounds uvicorn's wait for connections.
            left = max(grace_s - (time.monotonic() - start), 0.5)
            self.config.timeout_graceful_shutdown = int(left) or 1
            await super().shutdown(sockets)

    server = _Server(uvicorn_config(app, host=host, port=port, log_level=log_level,
                                    grace_s=grace_s, limits=limits,
                                    trusted_proxies=trusted_proxies))

    def stopped_before_serving(signum: int, frame: FrameType | None) -> None:
        # uvicorn handles SIGTERM while it serves, then raises it again with this handler in
        # place: the stop already happened. Before serving (model warm-up), just exit.
        if server.should_exit:
            return
        raise SystemExit(0)

    previous = signal.signal(signal.SIGTERM, stopped_before_serving)
    freeze_startup()  # loaded: a full collection scans only what calls make (server.heap)
    try:
        with GcPauses(metrics or Metrics()):
            server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
