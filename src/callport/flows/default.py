"""The default call flow: greet, say plainly it is an automated assistant, connect the agent."""

from __future__ import annotations

from callport.call.call import Call

GREETING = (
    "Hi, you've reached the Task Manager. I'm an automated assistant. "
    "You can add, list, complete or reschedule tasks. How can I help?"
)


async def default_flow(call: Call) -> None:
    result = await call.say(GREETING)
    if call.ended:
        return
    del result  # a barge-in during the greeting simply becomes the first turn
    await call.connect(call.new_agent())
