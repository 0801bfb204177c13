"""The ASGI app: health, metrics, sign-in, the task API and every enabled channel's routes.

Everything sits behind ``AuthMiddleware`` (``server.auth``): Host allow-list, bearer token or
session cookie, the ``/api`` and ``/metrics`` locks and the CSRF rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from callport import __version__
from callport.channels import CHANNEL_MODULES
from callport.channels.base import Channel
from callport.channels.carriers import API_CALLS_PATH, api_calls_route
from callport.server.auth import AuthMiddleware, user_of
from callport.server.lifecycle import drain, stale_loop
from callport.server.limits import BodyLimitMiddleware, RateLimitMiddleware
from callport.server.login import login_routes
from callport.server.procstats import process_lines
from callport.server.runtime import Runtime

log = logging.getLogger(__name__)


def load_channels(runtime: Runtime, modules: Sequence[str] = CHANNEL_MODULES) -> list[Channel]:
    """Create each enabled channel (a module may define ``enabled(settings) -> bool``)."""
    channels: list[Channel] = []
    for name in modules:
        module = importlib.import_module(name)
        enabled = getattr(module, "enabled", None)
        if enabled is not None and not enabled(runtime.settings):
            continue
        channels.append(module.create(runtime))
    return channels


def create_app(runtime: Runtime, *, channels: Sequence[Channel] | None = None) -> Starlette:
    """Build the app around ``runtime``; ``channels`` defaults to every enabled module."""
    active = list(channels) if channels is not None else load_channels(runtime)
    from callport.server.capacity import backlog_lines, saturated
    from callport.server.routing import build_routing, health_loop, routing_routes

    routing = build_routing(runtime, active)  # [routing]: runtime.routing, None without it
    from callport.server.transfers import wire_transfers

    wire_transfers(runtime, active)  # call.transfers: REFER/provider, or dial over SIP + bridge
    from callport.server.queues import queue_routes, wire_queues

    wire_queues(runtime, active)  # runtime.queues; call-backs dial over SIP
    from callport.server.agent_page import wire_agents

    wire_agents(runtime, active)  # queues ring agents' SIP phones and /agent pages

    async def healthz(request: Request) -> Response:
        if user_of(request.scope) is None:  # anonymous: alive, and nothing more
            return JSONResponse({"status": "ok", "version": __version__})
        return JSONResponse(
            {
                "status": "ok",
                "version": __version__,
                "node": runtime.node_id,
                "draining": runtime.drained or runtime.draining,
                "active_calls": len(runtime.active),
                "channels": [c.name for c in active],
            }
        )

    async def readyz(request: Request) -> Response:
        """Readiness for a load balancer: 503 while draining (drain mode or SIGTERM) or
        saturated (capacity)."""
        draining = runtime.drained or runtime.draining
        reason = "draining" if draining else saturated(runtime)
        if reason:
            return JSONResponse({"ready": False, "reason": reason, "draining": draining},
                                status_code=503,
                                headers={"Retry-After": str(
                                    runtime.settings.server.busy_retry_after_s)})
        return JSONResponse({"ready": True, "draining": False})

    async def metrics(request: Request) -> Response:
        text = runtime.metrics.render()
        text = text.rstrip("\n") + "\n" + "\n".join(backlog_lines(runtime)) + "\n"
        # RSS, descriptors, sockets, tasks, live calls, edge refusals (server.procstats)
        text = text.rstrip("\n") + "\n" + "\n".join(process_lines(
            active_calls=len(runtime.active))) + "\n"
        text += _node_lines(runtime)  # callport_node_info{node=...} 1, draining
        if routing is not None:  # callport_carrier_up{carrier=...}
            text = text.rstrip("\n") + "\n" + routing.render_metrics()
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    from callport.agents.taskmanager.api import task_routes
    from callport.server.console import console_routes
    from callport.server.drain import drain_routes
    from callport.server.queue_relay import node_url, relay_door, start_cluster
    from callport.server.recordings import recording_routes
    from callport.server.voicemail import voicemail_routes

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),  # false while saturated (server.max_conversations)
        Route("/metrics", metrics),
        *login_routes(settings=runtime.settings, users=runtime.users, tokens=runtime.tokens,
                      throttle=runtime.login_throttle),  # Redis with server.redis
        # GET /api/calls (records), GET /api/routes, and POST /api/calls through the router
        # when routing is configured (server.routing); else the carriers' own choice below.
        *routing_routes(runtime, routing),
        *recording_routes(runtime),  # GET /api/recordings[/{id}/audio] (owner, admins)
        *voicemail_routes(runtime),  # GET /api/voicemail: the user's own messages
        *drain_routes(runtime),  # POST /api/admin/drain (admins): rolling upgrades
        *queue_routes(runtime),  # GET /api/queues (admins): waiting callers and agents
        *relay_door(runtime),  # /internal/queues/ring: other nodes' callers for our agents
        *console_routes(runtime),  # /console and /api/console/... (server.console)
        # POST /api/calls: the neutral outbound API (an admin's API token; channels.carriers).
        api_calls_route(API_CALLS_PATH, settings=runtime.settings, channels=active,
                        tokens=lambda: runtime.tokens, clock=time.time,
                        calls=lambda: runtime.calls),
        # The documented POST /api/tasks (no slash) is served, not redirected (307).
        *task_routes(runtime.tasks, prefix=runtime.settings.server.api_path),
    ]
    # Channels last: the browser channel serves the page at "/" and must not shadow the API.
    for channel in active:
        routes.extend(channel.routes())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started: list[Channel] = []
        pings: asyncio.Task[None] | None = None
        purging: asyncio.Task[None] | None = None
        # Records a dead process left live are ended now (cause "crash"), not left open
        # (with Redis: only this node's; server.ownership); while serving, records left open
        # by a lost status callback (cause "stale"), and with Redis a lost node's calls.
        ownership = runtime.ownership
        await ownership.start()
        beating = asyncio.create_task(ownership.beat_loop()) if ownership.shared else None
        from callport.server.bus_wiring import start_bus, stop_bus

        await start_bus(runtime)  # server.redis: every node's events, commands for our calls
        # server.redis + CALLPORT_NODE_SECRET: queues span the nodes (server.queue_relay)
        clustering = start_cluster(runtime, url=node_url(runtime.settings))
        sweeping = asyncio.create_task(stale_loop(
            runtime.calls, live=lambda: set(runtime.active) | ownership.elsewhere,
            older_than_s=runtime.settings.limits.stale_call_s))
        try:
            for channel in active:
                await channel.start()
                started.append(channel)
                log.info("channel %s started", channel.name)
            if routing is not None:  # SIP OPTIONS to the trunks, into their breakers
                pings = asyncio.create_task(health_loop(routing, runtime.settings))
            purging = _retention(runtime.settings)  # recordings past recording.retention_days
            yield
        finally:
            # Usually done already (``lifecycle.serve`` drains before uvicorn closes sockets).
            sweeping.cancel()
            if beating is not None:
                beating.cancel()
            if pings is not None:
                pings.cancel()
            if purging is not None:
                purging.cancel()
            await drain(runtime, grace_s=runtime.settings.server.shutdown_grace_s)
            if clustering is not None:  # drained: leave, the others drop our callers
                clustering.cancel()
                await asyncio.gather(clustering, return_exceptions=True)
            for channel in reversed(started):
                try:
                    await channel.stop()
                except Exception:
                    log.exception("channel %s failed to stop", channel.name)
            await ownership.stop()  # no record of ours outlives the process open
            await stop_bus(runtime)

    limits = runtime.settings.limits
    middleware = [
        Middleware(BodyLimitMiddleware, settings=limits),  # 413/408 before a body is read
        Middleware(AuthMiddleware, settings=runtime.settings, tokens=runtime.tokens),
        # anonymous requests, per address (runtime.rate_limiter: Redis with server.redis)
        Middleware(RateLimitMiddleware, settings=limits, limiter=runtime.rate_limiter),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.runtime = runtime
    return app


def _node_lines(runtime: Runtime) -> str:
    from callport.server.bus_wiring import bus_lines

    node = runtime.node_id.replace("\\", "\\\\").replace('"', '\\"')
    return ("# HELP callport_node_info This node's name (server.node_id).\n"
            "# TYPE callport_node_info gauge\n"
            f'callport_node_info{{node="{node}"}} 1\n'
            + "".join(f"{line}\n" for line in bus_lines(runtime)))


def _retention(settings: Any) -> asyncio.Task[None] | None:  # Settings
    if settings.recording.mode == "off" or settings.recording.retention_days <= 0:
        return None
    from callport.recording.retention import retention_loop
    from callport.recording.run import recording_store, recordings_dir

    return asyncio.create_task(retention_loop(recordings_dir(settings),
                                              keep_days=settings.recording.retention_days,
                                              store=recording_store(settings)))
