"""llm: adapter: the chat stream format, the Task Manager as tools, whole calls against a local
OpenAI-compatible server."""

from __future__ import annotations

import json
import socket
from datetime import datetime
from typing import Any

from adapter_support import ALICE, line
from chat_server import ChatServer, Reply, sse

from callport.agents.adapters.base import AdapterOptions
from callport.agents.adapters.llm import LlmAgent
from callport.agents.adapters.llm_protocol import ChatStream, Delta, Finished, ToolCall
from callport.agents.adapters.tools import TOOLS, run_tool
from callport.agents.taskmanager.dialog import DialogState
from callport.call.agent import HangUpCall, Say, TransferCall, UserSaid
from callport.store.tasks import MemoryTaskStore
from callport.types import CallInfo

NOW = datetime(2026, 12, 1, 10, 0)


def test_the_stream_gives_text_deltas_then_the_assembled_tool_calls() -> None:
    stream = ChatStream()
    events = []
    raw = sse(Reply(text="One moment.", tools=[("add_task", {"title": "buy milk"})]))
    for line_ in raw.decode().splitlines():
        events += stream.feed(line_)
    assert [e for e in events if isinstance(e, Delta)] == [Delta("One "), Delta("moment.")]
    (done,) = [e for e in events if isinstance(e, Finished)]
    assert done == Finished("tool_calls", (ToolCall("call_0", "add_task",
                                                    '{"title": "buy milk"}'),))
    assert stream.feed(": keep-alive") == [] and stream.close() == []


def test_a_stream_error_chunk_is_an_error_event() -> None:
    (event,) = ChatStream().feed('data: {"error": {"message": "rate limited"}}')
    assert getattr(event, "description", "") == "rate limited"


async def test_tools_run_the_task_managers_actions_on_the_callers_list() -> None:
    store, state = MemoryTaskStore(), DialogState()
    names = [t["function"]["name"] for t in TOOLS]
    assert names == ["add_task", "list_tasks", "complete_task", "reschedule_task",
                     "delete_task", "end_call", "transfer_call"]
    added = await run_tool("add_task", '{"title": "buy milk", "due": "tomorrow"}',
                           store=store, state=state, now=NOW)
    assert added.text.startswith("Added: buy milk, due tomorrow")
    (task,) = await store.list()
    assert task.title == "buy milk" and task.due is not None and task.due.day == 2
    listed = await run_tool("list_tasks", "{}", store=store, state=state, now=NOW)
    assert "Buy milk, due tomorrow" in listed.text
    refused = await run_tool("delete_task", '{"title": "buy milk", "confirmed": false}',
                             store=store, state=state, now=NOW)
    assert refused.text.startswith("not deleted") and len(await store.list()) == 1
    done = await run_tool("complete_task", '{"title": "milk"}', store=store, state=state,
                          now=NOW)
    assert "done" in done.text and await store.list() == []
    bad = await run_tool("add_task", "{not json", store=store, state=state, now=NOW)
    assert bad.text.startswith("error") and bad.action is None
    bye = await run_tool("end_call", "{}", store=store, state=state, now=NOW)
    assert bye.action == HangUpCall("goodbye")
    warm = await run_tool("transfer_call", '{"target": "sip:alice@pbx", "warm": true}',
                          store=store, state=state, now=NOW)
    assert warm.action == TransferCall("sip:alice@pbx", warm=True)
    blind = await run_tool("transfer_call", '{"target": "tel:+15550100"}', store=store,
                           state=state, now=NOW)
    assert blind.action == TransferCall("tel:+15550100", warm=False)


def model(request: dict[str, Any]) -> Reply:
    """A stand-in model that uses the tools like a real one would."""
    last = request["messages"][-1]
    if last["role"] == "tool":
        if "call ends" in last["content"]:
            return Reply(text="Goodbye!")
        return Reply(text=f"Okay. {last['content']}")
    said = last["content"]
    if "add" in said:
        return Reply(tools=[("add_task", {"title": "buy milk", "due": "tomorrow"})])
    if "list" in said:
        return Reply(tools=[("list_tasks", {})])
    if "bye" in said:
        return Reply(tools=[("end_call", {})])
    return Reply(text="I can add, list and complete your tasks. What would you like?")


async def test_a_call_manages_the_callers_tasks_through_the_models_tool_calls() -> None:
    async with ChatServer(model) as server:
        call = line(f"llm:{server.base_url}", ["add buy milk tomorrow", "what is on my list",
                                               "bye then"], api_key="sk-test", model="tiny")
        call.start()
        await call.listening(0)
        await call.say()
        await call.listening(1)
        (task,) = await call.tasks.of("alice").list()
        assert task.title == "buy milk"
        assert "Okay" in call.spoken() and "Added: buy milk, due tomorrow" in call.spoken()
        assert await call.tasks.of("owner").list() == []  # the caller's own list only
        await call.say()
        await call.listening(2)
        assert "Buy milk, due tomorrow" in call.spoken()
        await call.say()
        await call.ended()
    assert call.leg.hung_up_reason == "goodbye"  # the end_call tool, after its reply
    assert "Goodbye!" in call.spoken()
    first = server.requests[0]
    assert first["stream"] is True and first["model"] == "tiny"
    assert [t["function"]["name"] for t in first["tools"]][:2] == ["add_task", "list_tasks"]
    assert "Alice" in first["messages"][0]["content"]
    assert server.headers[0]["authorization"] == "Bearer sk-test"
    # the tool round: the assistant's tool call and its result went back to the model
    second = server.requests[1]["messages"]
    assert second[-2]["tool_calls"][0]["function"]["name"] == "add_task"
    assert second[-1]["role"] == "tool" and second[-1]["tool_call_id"] == "call_0"
    assert json.loads(second[-2]["tool_calls"][0]["function"]["arguments"])["due"] == "tomorrow"
    details = [e.detail for e in await call.calls.events("CAr1") if e.kind == "agent"]
    assert sum("first words in" in d for d in details) >= 3


async def test_an_interrupted_reply_leaves_only_what_was_heard_in_the_history() -> None:
    async with ChatServer(lambda r: Reply(text="Your day is busy. You have six tasks.")) as s:
        agent = LlmAgent(base_url=s.base_url, info=CallInfo("c1", "test", user=ALICE),
                         options=AdapterOptions(), store=MemoryTaskStore(), now=lambda: NOW)
        said = [o async for o in agent.respond(UserSaid("how is my day"))]
    assert said == [Say("Your day is busy."), Say("You have six tasks.")]
    assert agent.messages[-1] == {"role": "assistant",
                                  "content": "Your day is busy. You have six tasks."}
    agent._speaking = agent.messages[-1]  # as if the caller barged in while it was spoken
    agent.interrupted("Your day is")
    assert agent.messages[-1] == {"role": "assistant", "content": "Your day is (interrupted)"}
    assert agent.messages[-2] == {"role": "user", "content": "how is my day"}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_endpoint_gives_an_apology_and_goodbye() -> None:
    call = line(f"llm:http://127.0.0.1:{closed_port()}/v1", ["add milk"])
    call.start()
    await call.listening(0)
    await call.say()
    await call.ended()
    assert "Sorry" in call.spoken()
    assert call.leg.hung_up_reason not in (None, "caller")
    details = [e.detail for e in await call.calls.events("CAr1") if e.kind == "agent"]
    assert any("failed: http://127.0.0.1" in d and "ConnectError" in d for d in details)


async def test_an_http_error_from_the_model_gives_an_apology_and_the_fallback() -> None:
    async with ChatServer(lambda r: Reply(status=503)) as server:
        call = line(f"llm:{server.base_url}", ["hello"], fallback="transfer:tel:+15550199")
        call.start()
        await call.listening(0)
        await call.say()
        await call.ended()
    assert "Sorry" in call.spoken() and call.leg.transfers == ["tel:+15550199"]
