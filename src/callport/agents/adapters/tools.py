"""The Task Manager as tools an LLM calls (OpenAI function-calling schemas + their runner).

The same task actions the embedded Task Manager runs (``taskmanager.actions.TaskActions``)
on the caller's own list: add, list, complete, reschedule, delete (after the caller said yes),
plus ``end_call`` and ``transfer_call``. A tool's result is what the Task Manager would have
said ("Added buy milk, due tomorrow."), handed back to the model to phrase its answer; a
"which one?" question comes back the same way, and the model asks the caller.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callport.agents.taskmanager import replies
from callport.agents.taskmanager.actions import TaskActions
from callport.agents.taskmanager.dialog import DialogState
from callport.call.agent import AgentOutput, HangUpCall, Say, TransferCall
from callport.nlu.dates import parse_when
from callport.store.tasks import TaskStore, close_matches

__all__ = ["TOOLS", "ToolResult", "run_tool"]


def _fn(name: str, description: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": props, "required": required}}}


_TITLE = {"type": "string", "description": "the task's title, as the caller said it"}
_DUE = {"type": "string", "description": "when it is due, in words: 'tomorrow at 5 pm', "
        "'on Friday', 'in 2 days'"}

TOOLS: list[dict[str, Any]] = [
    _fn("add_task", "Add a task to the caller's list.", {"title": _TITLE, "due": _DUE}, ["title"]),
    _fn("list_tasks", "The caller's open tasks, soonest first.", {}, []),
    _fn("complete_task", "Mark one of the caller's tasks as done.", {"title": _TITLE}, ["title"]),
    _fn("reschedule_task", "Change when one of the caller's tasks is due.",
        {"title": _TITLE, "due": _DUE}, ["title", "due"]),
    _fn("delete_task", "Delete one of the caller's tasks. Ask the caller to confirm first, "
        "then call with confirmed=true.",
        {"title": _TITLE, "confirmed": {"type": "boolean"}}, ["title", "confirmed"]),
    _fn("end_call", "Hang up, after saying goodbye.", {}, []),
    _fn("transfer_call", "Transfer the caller to a person (a phone number or SIP URI). "
        "warm=true: the caller waits on hold while the person hears who is calling and why, "
        "and may decline; you are told if it did not go through.",
        {"target": {"type": "string", "description": "tel:+15551234567 or sip:user@host"},
         "warm": {"type": "boolean"}},
        ["target"]),
]


@dataclass(frozen=True, slots=True)
class ToolResult:
    text: str  # for the model
    action: AgentOutput | None = None  # a hang-up or transfer to carry out after the reply


async def _said(outputs: AsyncIterator[AgentOutput]) -> str:
    return " ".join([o.text async for o in outputs if isinstance(o, Say)])


async def run_tool(
    name: str, arguments: str, *, store: TaskStore, state: DialogState, now: datetime
) -> ToolResult:
    """Run one tool call; bad arguments come back as a result the model can correct."""
    try:
        args = json.loads(arguments or "{}")
    except ValueError:
        return ToolResult(f"error: arguments are not JSON: {arguments[:80]!r}")
    if not isinstance(args, dict):
        return ToolResult("error: arguments must be an object")
    title = str(args.get("title") or "").strip()
    due_text = str(args.get("due") or "").strip()
    when = parse_when(due_text, now) if due_text else None
    if due_text and when is None:
        return ToolResult(f"error: could not understand the due date {due_text!r}")
    actions = TaskActions(store=store, state=state)
    match name:
        case "add_task":
            return ToolResult(await _said(actions.add(title, when, now)))
        case "list_tasks":
            tasks = await store.list()
            if not tasks:
                return ToolResult("The caller has no open tasks.")
            return ToolResult("\n".join(replies.describe(t, now) for t in tasks))
        case "complete_task":  # the model asked for it: the spoken agent's "Mark X as done?"
            # would come back as a result the model has no argument to answer
            return ToolResult(await _said(actions.complete(title, "", now, asked=True)))
        case "reschedule_task":
            return ToolResult(await _said(actions.reschedule(title, when, now)))
        case "delete_task":
            if args.get("confirmed") is not True:
                return ToolResult("not deleted: ask the caller to confirm, then call again "
                                  "with confirmed=true")
            found = close_matches(title, await store.find_by_title(title, include_done=True))
            if len(found) != 1:
                names = ", ".join(t.title for t in found) or "none"
                return ToolResult(f"not deleted: {len(found)} tasks match ({names})")
            await store.delete(found[0].id)
            return ToolResult(f"Deleted {found[0].title}.")
        case "end_call":
            return ToolResult("the call ends after your reply", HangUpCall("goodbye"))
        case "transfer_call":
            target = str(args.get("target") or "").strip()
            if not target:
                return ToolResult("error: target is required")
            warm = args.get("warm") is True
            return ToolResult(f"transferring to {target} after your reply",
                              TransferCall(target, warm=warm))
    return ToolResult(f"error: no tool named {name!r}")
