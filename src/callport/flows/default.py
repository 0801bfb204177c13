"""The default call flow: greet, say plainly it is an automated assistant, connect the agent.

The agent's own ``greeting`` (see ``HasGreeting``) is used when it has one.
"""

from __future__ import annotations

from callport.call.agent import HasGreeting
from callport.call.call import Call

GREETING = "Hi, I'm an automated assistant. How can I help?"


async def default_flow(call: Call) -> None:
    agent = call.new_agent()
    greeting = agent.greeting if isinstance(agent, HasGreeting) else GREETING
    await call.say(greeting)  # a barge-in during the greeting simply becomes the first turn
    if call.ended:
        return
    await call.connect(agent)
