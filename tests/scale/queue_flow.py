"""The call flow of the two-node queue test (``callport serve --flow queue_flow:support``):
every call waits in queue ``support``."""

from __future__ import annotations

from callport.call.call import Call


async def support(call: Call) -> None:
    await call.enqueue("support")
