"""The tools a speech-to-speech model is offered on a call, and how their calls are carried out.

The Task Manager's actions on the caller's own list (``tools.TOOLS``: add, list, complete,
reschedule, delete), ``end_call`` and ``transfer_call``, plus ``send_dtmf`` (keys to the far
end, for an IVR behind the call). A task action runs at once and its result (what the Task
Manager would have said) goes back to the model to phrase; ``send_dtmf`` runs at once too; a
hang-up or transfer waits until the model's words around it have been heard (``finish``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from callport.agents.adapters.tools import TOOLS, run_tool
from callport.agents.taskmanager.dialog import DialogState
from callport.call.agent import AgentOutput, HangUpCall, TransferCall
from callport.call.controls import Refused
from callport.store.tasks import TaskStore

if TYPE_CHECKING:
    from callport.call.call import Call

log = logging.getLogger(__name__)

__all__ = ["CALL_TOOLS", "CallTools"]

CALL_TOOLS: list[dict[str, Any]] = [*TOOLS, {"type": "function", "function": {
    "name": "send_dtmf", "description": "Press keys on the phone line (an automated menu at "
    "the other end): digits 0-9, * and #.",
    "parameters": {"type": "object", "properties": {"digits": {"type": "string"}},
                   "required": ["digits"]}}}]


class CallTools:
    def __init__(self, *, call: Call, store: TaskStore) -> None:
        self._call = call
        self._store = store
        self._state = DialogState()
        self.pending: AgentOutput | None = None
        self.calls: list[tuple[str, str]] = []  # (name, result), for the call record

    async def run(self, name: str, arguments: str) -> str:
        """Run one tool call; the text handed back to the model."""
        if name == "send_dtmf":
            import json

            try:
                digits = str(json.loads(arguments or "{}").get("digits", ""))
            except (ValueError, AttributeError):
                digits = ""
            if not digits or any(d not in "0123456789*#" for d in digits):
                result = "error: digits must be 0-9, * or #"
            else:
                sent = await self._call.session.leg.send_dtmf(digits)
                result = (f"not sent: {sent.detail or sent.refusal.value}"
                          if isinstance(sent, Refused) else f"pressed {digits}")
        else:
            outcome = await run_tool(name, arguments, store=self._store, state=self._state,
                                     now=datetime.now())
            result = outcome.text
            if outcome.action is not None:
                self.pending = outcome.action
        self.calls.append((name, result))
        log.info("call %s: tool %s -> %s", self._call.info.call_id, name, result)
        return result

    async def finish(self) -> bool:
        """Carry out a pending hang-up or transfer; True when the call is over for us."""
        action, self.pending = self.pending, None
        match action:
            case HangUpCall(reason=reason):
                await self._call.hangup(reason)
                return True
            case TransferCall(target=target):
                result = await self._call.transfer(target)
                if isinstance(result, Refused):
                    await self._call.say("Sorry, I could not put you through.")
                    return self._call.ended
                return True
        return False
