"""Declarative IVR menus (TOML) compiled to ``call.gather``: see ``load`` (the file format and
its validation), ``model`` (the compiled form), ``hours`` (opening hours) and ``run``
(``IvrFlow``, the flow that runs it; imported on first use, so loading and validating a menu
file brings no asyncio)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from callport.flows.ivr.load import IvrError, load_ivr, loads_ivr
from callport.flows.ivr.model import Ivr

if TYPE_CHECKING:
    from callport.flows.ivr.run import IvrFlow, IvrJournal, QueueJoiner

__all__ = ["Ivr", "IvrError", "IvrFlow", "IvrJournal", "QueueJoiner", "load_ivr", "loads_ivr"]


def __getattr__(name: str) -> Any:
    if name in ("IvrFlow", "IvrJournal", "QueueJoiner"):
        from callport.flows.ivr import run

        return getattr(run, name)
    raise AttributeError(name)
