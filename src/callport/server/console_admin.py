"""The console's admin API (admins only; 401 anonymous, 403 anyone else).

State-changing requests are JSON POSTs, so ``AuthMiddleware``'s CSRF rules apply (JSON body,
same Origin for a cookie sign-in).

- ``GET  /api/console/users``                    users (no secrets) and their tokens' listings
- ``POST /api/console/users``                    ``{name, display_name?, password?, roles,
  queues?, phones?}``
- ``POST /api/console/users/{name}/pin``         ``{pin}``: reset (``null``/empty: remove it)
- ``POST /api/console/users/{name}/queues``      ``{queues: [...]}``: queue membership
- ``POST /api/console/users/{name}/roles``       ``{roles: [...]}``: replace the roles (admin,
  agent, user; 409 when it would leave no admin)
- ``POST /api/console/users/{name}/tokens``      ``{label?}``: an API token, its secret shown once
- ``POST /api/console/tokens/{token_id}/revoke``
- ``GET  /api/console/config``                   the loaded IVR menus and routing, read-only
"""

from __future__ import annotations

import json
import time
from dataclasses import fields, is_dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callport.server.console_api import admin
from callport.store.users import TokenInfo, UserError

if TYPE_CHECKING:
    from callport.server.runtime import Runtime

MAX_BODY = 8192


def token_json(t: TokenInfo) -> dict[str, Any]:
    return {"id": t.id, "user": t.user, "kind": t.kind, "label": t.label,
            "created_at": t.created_at, "expires_at": t.expires_at,
            "last_used_at": t.last_used_at, "revoked": t.revoked}


def _plain(value: Any) -> Any:
    """Frozen settings/IVR data as JSON (dataclasses by field, type named)."""
    if is_dataclass(value) and not isinstance(value, type):
        out = {f.name: _plain(getattr(value, f.name)) for f in fields(value)
               if "secret" not in f.name and "token" not in f.name and "password" not in f.name
               and "key" not in f.name}
        out["kind"] = type(value).__name__
        return out
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


async def _body(request: Request) -> dict[str, Any] | None:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return None
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _bad(message: str, status: int = 400) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def console_admin_routes(runtime: Runtime) -> list[Route]:
    async def users(request: Request) -> Response:
        _who, refused = admin(request)
        if refused is not None:
            return refused
        if request.method == "POST":
            body = await _body(request)
            if body is None:
                return _bad("send a JSON object")
            try:
                user = await runtime.users.add(
                    str(body.get("name", "")), display_name=str(body.get("display_name", "")),
                    password=body.get("password") or None,
                    roles=[str(r) for r in body.get("roles") or ["user"]],
                    queues=[str(q) for q in body.get("queues") or []],
                    phones=[str(p) for p in body.get("phones") or []])
            except (UserError, TypeError) as exc:
                return _bad(str(exc))
            return JSONResponse({"user": user.name}, status_code=201)
        tokens = await runtime.tokens.list()
        out = []
        for u in await runtime.users.list():
            out.append({"name": u.name, "display_name": u.display_name, "roles": sorted(u.roles),
                        "queues": list(u.queues), "phones": list(u.phones),
                        "has_password": u.has_password, "has_pin": u.has_pin,
                        "tokens": [token_json(t) for t in tokens
                                   if t.user == u.name and t.kind == "api"]})
        return JSONResponse({"users": out})

    async def user_action(request: Request) -> Response:
        _who, refused = admin(request)
        if refused is not None:
            return refused
        name, action = request.path_params["name"], request.path_params["action"]
        body = await _body(request)
        if body is None:
            return _bad("send a JSON object")
        if await runtime.users.get(name) is None:
            return _bad(f"no user {name!r}", 404)
        try:
            if action == "pin":
                pin = body.get("pin") or None
                await runtime.users.set_pin(name, None if pin is None else str(pin))
                return JSONResponse({"ok": True})
            if action == "queues":
                queues = body.get("queues") or []
                if not isinstance(queues, list):
                    return _bad("queues: a list of names")
                await runtime.users.set_queues(name, [str(q) for q in queues])
                return JSONResponse({"ok": True})
            if action == "roles":
                roles = body.get("roles")
                if not isinstance(roles, list):
                    return _bad("roles: a list (admin, agent, user)")
                new = [str(r) for r in roles]
                if "admin" not in new:
                    admins = [u.name for u in await runtime.users.list()
                              if u.has_role("admin")]
                    if admins == [name]:
                        return _bad("the last admin keeps the admin role", 409)
                await runtime.users.set_roles(name, new)
                return JSONResponse({"ok": True})
            if action == "tokens":
                issued = await runtime.tokens.create(name, kind="api",
                                                     label=str(body.get("label", ""))[:100],
                                                     now=time.time())
                return JSONResponse({"secret": issued.secret, "token": token_json(issued.info)},
                                    status_code=201)
        except UserError as exc:
            return _bad(str(exc))
        return _bad(f"no action {action!r}", 404)

    async def revoke(request: Request) -> Response:
        _who, refused = admin(request)
        if refused is not None:
            return refused
        ok = await runtime.tokens.revoke(request.path_params["token_id"])
        return JSONResponse({"ok": ok}, status_code=200 if ok else 404)

    async def config(request: Request) -> Response:
        _who, refused = admin(request)
        if refused is not None:
            return refused
        ivr = getattr(runtime.flow, "ivr", None)
        settings = runtime.settings
        return JSONResponse({
            "ivr": _plain(ivr) if ivr is not None else None,
            "routing": _plain(settings.routing),
            "queues": _plain(settings.queues),
        })

    return [
        Route("/api/console/users", users, methods=["GET", "POST"]),
        Route("/api/console/users/{name}/{action}", user_action, methods=["POST"]),
        Route("/api/console/tokens/{token_id}/revoke", revoke, methods=["POST"]),
        Route("/api/console/config", config, methods=["GET"]),
    ]
