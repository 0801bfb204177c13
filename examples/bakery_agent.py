"""A tiny agent of your own behind callport: a bakery's phone line.

Run it on every channel (browser, Twilio, Telnyx, SIP) with::

    callport serve --agent examples.bakery_agent:make_agent

or try it from WAV files with ``callport talk --agent examples.bakery_agent:make_agent IN.wav``.

An agent is any object with ``respond(event)`` (an async generator over what it says and
does) and ``interrupted(heard)``; callport does the audio: VAD, turn-taking, speech
recognition, synthesis, barge-in. Swap the keyword rules below for a call to your LLM, your
Pipecat or LiveKit pipeline's text stage, or your own service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from callport.agents.base import (
    AgentInput,
    AgentOutput,
    CallInfo,
    HangUpCall,
    Say,
    TransferCall,
    TurnInfo,
    UserPressed,
    UserSaid,
)

ANSWERS = {
    "hours": (("open", "hours", "close", "closing", "when"),
              "We're open from 7 am to 6 pm, Monday to Saturday."),
    "where": (("where", "address", "located", "find you"),
              "We're at 12 Mill Street, next to the station."),
    "bread": (("bread", "sourdough", "baguette", "loaf"),
              "Today we have sourdough, rye and baguettes."),
}
HUMAN = "sip:orders@bakery.example.com"  # where orders go: a person, by SIP or a phone number


class BakeryAgent:
    # The default flow says this first; a greeting must say plainly that this is automated.
    greeting = "Hi, you've reached Mill Street Bakery. I'm an automated assistant. How can I help?"

    def __init__(self, info: CallInfo) -> None:
        self.info = info
        self.last_heard = ""

    async def respond(self, event: AgentInput) -> AsyncIterator[AgentOutput]:
        if _wants_person(event):
            yield TurnInfo("order")
            yield Say("Sure, I'll put you through to the counter.")
            yield TransferCall(HUMAN)
            return
        match event:
            case UserSaid(text=text) if any(w in text.lower() for w in ("bye", "that's all")):
                yield TurnInfo("goodbye")
                yield Say("Thanks for calling. Goodbye!")
                yield HangUpCall()
            case UserSaid(text=text):
                for intent, (words, answer) in ANSWERS.items():
                    if any(w in text.lower() for w in words):
                        yield TurnInfo(intent)
                        yield Say(answer)
                        return
                yield TurnInfo(None)
                yield Say("Sorry, I can tell you our hours, where we are, or today's bread. "
                          "Press 0 to talk to a person.")
            case _:
                yield TurnInfo(None)
                yield Say("Press 0 to talk to a person.")

    def interrupted(self, heard: str) -> None:
        self.last_heard = heard  # the part of the reply the caller heard before cutting in


def _wants_person(event: AgentInput) -> bool:
    if isinstance(event, UserPressed):
        return event.digits == "0"
    text = event.text.lower() if isinstance(event, UserSaid) else ""
    return any(w in text for w in ("order", "person", "human", "someone"))


def make_agent(info: CallInfo) -> BakeryAgent:
    """The agent factory callport calls once per call."""
    return BakeryAgent(info)
