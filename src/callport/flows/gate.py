"""The identification gate: who a phone caller is, before the flow runs.

``identify_caller`` drives the pure decisions of ``flows.identify`` over a live ``Call``: it
looks the caller's number up in the ``UserStore``, asks for a PIN when the user has one
(keypad or spoken digits, ``identity.pin_attempts`` tries, silence for
``identity.pin_timeout_s`` counts as a wrong try) and applies ``identity.unknown`` to callers
no user has. It returns the user the call acts as, or None after it has said goodbye and
hung up. ``Runtime.run_call`` runs it for every channel; a ``CallInfo`` whose ``user`` is
already set (a signed-in browser) passes straight through.

The PIN turns are secret: they never reach the agent, ``call.turns``, the page or the log
(the log says "PIN entered", never the digits).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from callport.call.call import Call
from callport.call.results import Heard, HungUp, Pressed, Timeout
from callport.config import IdentitySettings
from callport.flows.identify import (
    HINTS,
    ActAsOwner,
    AskPin,
    CheckPin,
    Identified,
    NeedPin,
    PinAccepted,
    PinEntry,
    PinEvent,
    PinRejected,
    Reject,
    caller_number,
    decide,
)
from callport.store.owner import ensure_owner
from callport.store.users import UserError, UserStore
from callport.types import User

log = logging.getLogger(__name__)

HANGUP_UNKNOWN = "unknown-caller"
HANGUP_PIN = "pin-failed"


async def identify_caller(
    call: Call, *, users: UserStore, settings: IdentitySettings
) -> User | None:
    """The user ``call`` acts as; None when the caller was turned away (the call has ended)."""
    info = call.info
    if info.user is not None:
        return info.user
    number = caller_number(info)
    known = await users.by_phone(number) if number is not None else None
    decision = decide(known, unknown=settings.unknown, owner=settings.owner,
                      call_id=info.call_id, outbound=info.direction == "outbound")  # fmt: skip
    match decision:
        case Identified(user=user):
            how = "a guest" if user.guest else f"{user.name} by caller ID"
            log.info("call %s: caller identified as %s", info.call_id, how)
            return user
        case ActAsOwner(name=name):
            try:
                owner, _ = await ensure_owner(users, name=name)
            except UserError as exc:
                log.error("call %s: identity.unknown=owner but %s", info.call_id, exc)
                await _turn_away(call, Reject().message, HANGUP_UNKNOWN)
                return None
            log.info("call %s: unknown caller acts as the owner %s", info.call_id, owner.name)
            return owner
        case NeedPin(user=user):
            if await _ask_pin(call, user, users=users, settings=settings):
                log.info("call %s: caller identified as %s by PIN", info.call_id, user.name)
                return user
            return None
        case Reject(message=message):
            log.info("call %s: unknown caller turned away (identity.unknown=reject)", info.call_id)
            await _turn_away(call, message, HANGUP_UNKNOWN)
            return None
    return None  # pragma: no cover - decide() returns one of the above


async def _turn_away(call: Call, message: str, reason: str) -> None:
    if not call.ended:
        await call.say(message, interruptible=False)
    if not call.ended:
        await call.hangup(reason)


async def _ask_pin(
    call: Call, user: User, *, users: UserStore, settings: IdentitySettings
) -> bool:
    loop = asyncio.get_running_loop()  # the clock the listen timeouts run on
    call_id = call.info.call_id
    gap = min(settings.pin_timeout_s, 3.0)
    entry = PinEntry(attempts=settings.pin_attempts, timeout_s=settings.pin_timeout_s,
                     digit_gap_s=gap)  # fmt: skip
    pending: deque[PinEvent] = deque(entry.start())
    hints, call.hints = call.hints, HINTS
    try:
        while not call.ended:
            if pending:
                match pending.popleft():
                    case AskPin(text=text):
                        await call.say(text)
                        entry.listening(loop.time())
                    case CheckPin(pin=pin):
                        ok = await users.check_pin(user.name, pin)
                        log.info("call %s: PIN entered for %s (%s)", call_id, user.name,
                                 "accepted" if ok else "wrong")  # fmt: skip
                        pending.extend(entry.checked(ok))
                    case PinAccepted():
                        return True
                    case PinRejected(text=text):
                        log.warning("call %s: %d wrong PIN attempts for %s: hanging up",
                                    call_id, entry.wrong_attempts, user.name)  # fmt: skip
                        await _turn_away(call, text, HANGUP_PIN)
                        return False
                continue
            timer = entry.get_timer()
            timeout = None if timer is None else max(0.0, timer - loop.time())
            match await call.listen(timeout=timeout, secret=True):
                case HungUp():
                    return False
                case Timeout():
                    if timer is not None and entry.state == "waiting":
                        pending.extend(entry.handle_timer(max(loop.time(), timer)))
                case Pressed(digits=digits):
                    for digit in digits:
                        pending.extend(entry.digit(digit, loop.time()))
                case Heard(text=text):
                    pending.extend(entry.speech(text))
        return False
    finally:
        call.hints = hints


__all__ = ["HANGUP_PIN", "HANGUP_UNKNOWN", "identify_caller"]
