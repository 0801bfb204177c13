"""``--agent llm:http://host/v1``: any OpenAI-compatible chat endpoint as the agent (the driver).

Each caller turn is a user message; the reply streams back (``llm_protocol``) and is spoken
clause by clause as it arrives. The Task Manager is offered as tools (``tools``): the model
adds, lists, completes, reschedules and deletes the caller's own tasks, ends or transfers the
call; results go back to the model until it answers in words (at most ``MAX_ROUNDS``).
After a barge-in the history keeps only what the caller heard of the reply.

Settings: ``agent.api_key`` (Bearer), ``agent.model``, ``agent.system_prompt``,
``agent.connect_timeout_s``, ``agent.reply_timeout_s``. An endpoint that is down, answers an
HTTP error or goes quiet raises ``AgentUnavailable``: an apology and ``server.fallback``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import httpx

from callport.agents.adapters.base import AdapterOptions, AgentLog, AgentUnavailable, Line
from callport.agents.adapters.llm_protocol import (
    ChatStream,
    Delta,
    Finished,
    StreamError,
    request_body,
)
from callport.agents.adapters.relay_protocol import ClauseBuffer
from callport.agents.adapters.tools import TOOLS, run_tool
from callport.agents.taskmanager.dialog import DialogState
from callport.call.agent import (
    ActionRefused,
    AgentInput,
    AgentOutput,
    Say,
    UserPressed,
    UserSaid,
)
from callport.store.tasks import MemoryTaskStore, TaskLists, TaskStore, local_now
from callport.types import CallInfo

log = logging.getLogger(__name__)

MAX_ROUNDS = 4  # tool results handed back before the model must answer in words
DEFAULT_GREETING = "Hi, I'm an automated assistant. I can manage your tasks. How can I help?"
SYSTEM = (
    "You are a friendly automated phone assistant that manages the caller's task list with "
    "the tools given. Answer in one or two short spoken sentences, no lists or markdown. "
    "Say dates in words. Confirm before deleting."
)


def store_for(info: CallInfo, tasks: TaskLists) -> TaskStore:
    """The caller's own list; a guest or an unidentified call gets a throw-away one."""
    user = info.user
    if user is None or user.guest:
        return MemoryTaskStore()
    return tasks.of(user.name)


class LlmAgent:
    """One call's chat with the model (an ``Agent``; also ``HasGreeting``)."""

    def __init__(
        self, *, base_url: str, info: CallInfo, options: AdapterOptions, store: TaskStore,
        agent_log: AgentLog | None = None, line: Line | None = None,
        now: Callable[[], datetime] = local_now,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.info = info
        self._options = options
        self._store = store
        self._state = DialogState()
        self._log = agent_log or AgentLog(name=f"llm:{base_url}", call_id=info.call_id)
        self._now = now
        who = info.user.spoken_name if info.user and not info.user.guest else ""
        system = options.system_prompt or SYSTEM
        system += f" Now: {now():%A %d %B %Y, %H:%M}."
        if who:
            system += f" The caller is {who}."
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
        self._speaking: dict[str, Any] | None = None  # the assistant message being spoken
        # One client per call (its TLS context and kept-alive connection), closed at the end.
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(options.reply_timeout_s, connect=options.connect_timeout_s),
            transport=transport)
        self._closer = (asyncio.create_task(self._close_when_ended(line))
                        if line is not None else None)

    async def _close_when_ended(self, line: Line) -> None:
        await line.wait_ended()
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()
        await self._log.event(f"ended, {self._log.summary()}")

    @property
    def greeting(self) -> str:
        return self._options.greeting or DEFAULT_GREETING

    def _headers(self) -> dict[str, str]:
        if self._options.api_key:
            return {"Authorization": f"Bearer {self._options.api_key}"}
        return {}

    async def respond(self, event: AgentInput) -> AsyncIterator[AgentOutput]:
        match event:
            case UserSaid(text=text):
                self.messages.append({"role": "user", "content": text})
            case UserPressed(digits=digits):
                self.messages.append({"role": "user", "content": f"(pressed keys: {digits})"})
            case ActionRefused(refused=refused):
                self.messages.append({"role": "user", "content":
                                      f"(that {refused.control.value} could not be done: "
                                      f"{refused.refusal.value}, {refused.detail})"})
            case _:
                return
        actions: list[AgentOutput] = []
        for _ in range(MAX_ROUNDS):
            finished: Finished | None = None
            async for out in self._round(self._client):
                if isinstance(out, Finished):
                    finished = out
                else:
                    yield out
            if finished is None or not finished.tool_calls:
                break
            for call in finished.tool_calls:
                result = await run_tool(call.name, call.arguments, store=self._store,
                                        state=self._state, now=self._now())
                log.info("call %s: tool %s(%s) -> %s", self.info.call_id, call.name,
                         call.arguments, result.text)
                self.messages.append({"role": "tool", "tool_call_id": call.id,
                                      "content": result.text})
                if result.action is not None:
                    actions.append(result.action)
        self._speaking = None
        for action in actions:
            yield action

    async def _round(self, client: httpx.AsyncClient) -> AsyncIterator[Say | Finished]:
        """One request: spoken clauses as they stream, then ``Finished``."""
        body = request_body(model=self._options.model, messages=self.messages, tools=TOOLS)
        message: dict[str, Any] = {"role": "assistant", "content": ""}
        self._speaking = message
        clauses = ClauseBuffer()
        stream = ChatStream()
        started = time.monotonic()
        first = True
        try:
            async with client.stream("POST", self.url, json=body,
                                     headers=self._headers()) as response:
                if response.status_code != 200:
                    detail = (await response.aread())[:200].decode("utf-8", "replace")
                    raise AgentUnavailable(f"{self.url}: HTTP {response.status_code} {detail}")
                events = []
                async for line in response.aiter_lines():
                    events = stream.feed(line)
                    for ev in events:
                        if first:
                            first = False
                            await self._log.turn((time.monotonic() - started) * 1000.0)
                        match ev:
                            case Delta(text=text):
                                message["content"] += text
                                for clause in clauses.feed(text):
                                    yield Say(clause)
                            case StreamError(description=why):
                                raise AgentUnavailable(f"{self.url}: {why}")
                            case Finished():
                                break
                    if stream.done:
                        break
        except httpx.HTTPError as exc:
            why = f"{self.url}: {type(exc).__name__}: {exc}"
            await self._log.failed(why)
            raise AgentUnavailable(why) from exc
        except AgentUnavailable as exc:
            await self._log.failed(str(exc))
            raise
        end = [ev for ev in stream.close() if isinstance(ev, Finished)] or [
            ev for ev in events if isinstance(ev, Finished)]
        for clause in clauses.flush():
            yield Say(clause)
        finished = end[0] if end else Finished("stop")
        if finished.tool_calls:
            message["tool_calls"] = [c.as_message() for c in finished.tool_calls]
        if not message["content"]:
            message["content"] = None
        self.messages.append(message)
        yield finished

    def interrupted(self, heard: str) -> None:
        """Keep only what the caller heard of the reply in the history."""
        spoken = self._speaking
        self._speaking = None
        if spoken is None:
            return
        if spoken in self.messages:
            del self.messages[self.messages.index(spoken):]
        if heard:
            self.messages.append({"role": "assistant", "content": f"{heard} (interrupted)"})
