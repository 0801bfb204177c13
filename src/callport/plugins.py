"""Load the user's own agent factory or flow from a ``module:attribute`` reference.

``callport serve --agent mybot.agent:make_agent`` (or ``server.agent`` / ``CALLPORT_AGENT``)
names a callable that takes a :class:`~callport.agents.base.CallInfo` and returns an Agent;
``--flow mybot.flows:main`` names an ``async def flow(call)``. The current directory is on
the import path, as it is for ``python -m``. Every failure is a :class:`ConfigError` that says
what was wrong and what to do.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from callport.config import ConfigError

__all__ = ["load_reference", "valid_reference"]


def valid_reference(ref: str) -> bool:
    module, sep, attr = ref.partition(":")
    parts = [*module.split("."), *attr.split(".")]
    return bool(sep) and all(p.isidentifier() for p in parts)


def load_reference(ref: str, *, setting: str) -> Any:
    """The callable ``ref`` ("package.module:attribute") names; ConfigError if it can't be had."""
    if not valid_reference(ref):
        raise ConfigError(
            f"{setting}={ref!r}: expected 'package.module:attribute', e.g. 'mybot.agent:make_agent'"
        )
    module_name, _, attr_path = ref.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{setting}={ref!r}: cannot import {module_name!r} ({exc}); run callport from the "
            "folder that holds it, or install it into this Python environment"
        ) from exc
    except Exception as exc:  # the user's module raised while importing
        raise ConfigError(
            f"{setting}={ref!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    for name in attr_path.split("."):
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise ConfigError(
                f"{setting}={ref!r}: {module_name!r} has no attribute {attr_path!r}"
            ) from None
    if not callable(obj):
        raise ConfigError(f"{setting}={ref!r}: {attr_path!r} is not callable")
    return obj
