"""The task list as JSON over HTTP (mounted by the server at ``/api/tasks``).

``GET /`` lists (``?all=true`` includes done tasks), ``POST /`` creates ``{title, due?}``,
``GET /{id}`` reads, ``PATCH /{id}`` changes ``{title?, due?, done?}`` (``"due": null``
clears it), ``DELETE /{id}`` removes. Due times are ISO 8601; a date without a time means the
end of that day. Malformed JSON or fields get 400 with a message naming the problem, an unknown
id 404; nothing is written unless the whole request is valid.

Every request acts on the signed-in user's own list (``TaskLists.of(user.name)``): the server's
``AuthMiddleware`` puts the ``User`` in ``scope["user"]``; without one the answer is 401. Another
user's task id is "no such task".
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from callport import safejson
from callport.agents.taskmanager.replies import DAY_ONLY
from callport.store.tasks import KEEP, MAX_TITLE, Keep, Task, TaskError, TaskLists, TaskStore
from callport.types import User

MAX_BODY = 16 * 1024


def _parse_due(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("due must be an ISO 8601 date or date-time string, or null")
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), DAY_ONLY)
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"due {value!r} is not an ISO 8601 date or date-time") from None


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    due: datetime | None = None

    @field_validator("due", mode="before")
    @classmethod
    def _due(cls, value: Any) -> datetime | None:
        return _parse_due(value)


class TaskPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=MAX_TITLE)
    due: datetime | None = None
    done: bool | None = Field(default=None, strict=True)

    @field_validator("due", mode="before")
    @classmethod
    def _due(cls, value: Any) -> datetime | None:
        return _parse_due(value)


class TaskOut(BaseModel):
    id: int
    title: str
    due: datetime | None
    done: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, task: Task) -> TaskOut:
        return cls(id=task.id, title=task.title, due=task.due, done=task.done,
                   created_at=task.created_at, updated_at=task.updated_at)  # fmt: skip


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _task(task: Task, status: int = 200) -> JSONResponse:
    return JSONResponse(TaskOut.of(task).model_dump(mode="json"), status_code=status)


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


async def _body(request: Request) -> dict[str, Any] | JSONResponse:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return _error(413, f"request body is larger than {MAX_BODY} bytes")
    try:
        data = safejson.loads(raw)
    except safejson.JsonRejected as exc:  # malformed, too deep, huge numbers
        return _error(400, exc.reason)
    if not isinstance(data, dict):
        return _error(400, "expected a JSON object")
    return data


def _task_id(request: Request) -> int | None:
    raw = request.path_params.get("task_id", "")
    try:
        value = int(str(raw))
    except ValueError:
        return None
    return value if 0 < value < 2**63 else None


def _owner_store(tasks: TaskLists, request: Request) -> TaskStore | JSONResponse:
    user = request.scope.get("user")
    if not isinstance(user, User) or user.guest:
        return _error(401, "sign in or send a token")
    return tasks.of(user.name)


def task_routes(lists: TaskLists, *, prefix: str = "") -> list[BaseRoute]:
    """Routes under ``prefix`` (``prefix`` and ``prefix/`` alike, ``prefix/{task_id}``; no
    prefix: relative to where they are mounted), each on the requesting user's own list."""

    async def list_tasks(request: Request) -> Response:
        store = _owner_store(lists, request)
        if isinstance(store, JSONResponse):
            return store
        include_done = request.query_params.get("all", "").lower() in {"1", "true", "yes"}
        tasks = await store.list(include_done=include_done)
        return JSONResponse([TaskOut.of(t).model_dump(mode="json") for t in tasks])

    async def create_task(request: Request) -> Response:
        store = _owner_store(lists, request)
        if isinstance(store, JSONResponse):
            return store
        data = await _body(request)
        if isinstance(data, JSONResponse):
            return data
        try:
            body = TaskIn.model_validate(data)
            task = await store.add(body.title, body.due)
        except ValidationError as exc:
            return _error(400, _explain(exc))
        except TaskError as exc:
            return _error(400, str(exc))
        return _task(task, 201)

    async def get_task(request: Request) -> Response:
        store = _owner_store(lists, request)
        if isinstance(store, JSONResponse):
            return store
        task_id = _task_id(request)
        task = await store.get(task_id) if task_id is not None else None
        return _task(task) if task is not None else _error(404, "no such task")

    async def patch_task(request: Request) -> Response:
        store = _owner_store(lists, request)
        if isinstance(store, JSONResponse):
            return store
        task_id = _task_id(request)
        if task_id is None or await store.get(task_id) is None:
            return _error(404, "no such task")
        data = await _body(request)
        if isinstance(data, JSONResponse):
            return data
        try:
            body = TaskPatch.model_validate(data)
        except ValidationError as exc:
            return _error(400, _explain(exc))
        fields = body.model_fields_set
        if "title" in fields and body.title is None:
            return _error(400, "title: must not be null")
        if "done" in fields and body.done is None:
            return _error(400, "done: must be true or false")
        title: str | Keep = body.title if body.title is not None else KEEP
        due: datetime | Keep | None = body.due if "due" in fields else KEEP
        done: bool | Keep = body.done if body.done is not None else KEEP
        try:
            task = await store.update(task_id, title=title, due=due, done=done)
        except TaskError as exc:
            return _error(400, str(exc))
        return _task(task) if task is not None else _error(404, "no such task")

    async def delete_task(request: Request) -> Response:
        store = _owner_store(lists, request)
        if isinstance(store, JSONResponse):
            return store
        task_id = _task_id(request)
        if task_id is None or not await store.delete(task_id):
            return _error(404, "no such task")
        return Response(status_code=204)

    prefix = prefix.rstrip("/")
    lists_at = [prefix + "/", prefix] if prefix else ["/"]  # with and without the slash
    return [
        *(Route(path, list_tasks, methods=["GET"]) for path in lists_at),
        *(Route(path, create_task, methods=["POST"]) for path in lists_at),
        Route(prefix + "/{task_id}", get_task, methods=["GET"]),
        Route(prefix + "/{task_id}", patch_task, methods=["PATCH"]),
        Route(prefix + "/{task_id}", delete_task, methods=["DELETE"]),
    ]
