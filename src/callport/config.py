"""Settings: one frozen tree, loaded once at start from a TOML file and ``CALLPORT_*`` variables.

Precedence: built-in defaults < TOML file < environment. Environment names are
``CALLPORT_<SECTION>_<FIELD>`` (``CALLPORT_TWILIO_AUTH_TOKEN``), except the ``server``
section whose fields are ``CALLPORT_<FIELD>`` (``CALLPORT_DB``, ``CALLPORT_PORT``).
Lists in the environment are comma-separated. Every problem is reported at once as a
``ConfigError`` naming the key and what is expected.

Each section's dataclass lives in a ``config_<area>`` module (server, speech, pstn, sip, web,
calls, routing); this module is the public face: it re-exports them all and loads the tree.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callport.config_calls import AgentSettings, RecordingSettings
from callport.config_limits import LimitSettings
from callport.config_pstn import TelnyxSettings, TwilioSettings
from callport.config_queues import QueueSettings, QueuesSettings, split_tables, with_tables
from callport.config_routing import RoutingSettings, SipTrunk
from callport.config_server import IdentitySettings, ServerSettings, data_dir, default_db
from callport.config_sip import SipSettings
from callport.config_speech import SpeechSettings, TurnSettings
from callport.config_web import PAGE_PANELS, BrowserSettings, PageSettings


class ConfigError(ValueError):
    """Configuration is invalid; the message lists every problem and how to fix it."""

__all__ = [
    "PAGE_PANELS", "AgentSettings", "BrowserSettings", "ConfigError", "IdentitySettings",
    "LimitSettings", "PageSettings", "QueueSettings", "QueuesSettings", "RecordingSettings",
    "RoutingSettings", "ServerSettings", "Settings", "SipSettings", "SipTrunk", "SpeechSettings",
    "TelnyxSettings", "TurnSettings", "TwilioSettings", "data_dir", "default_db",
    "load_settings",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    turn: TurnSettings = field(default_factory=TurnSettings)
    twilio: TwilioSettings = field(default_factory=TwilioSettings)
    telnyx: TelnyxSettings = field(default_factory=TelnyxSettings)
    sip: SipSettings = field(default_factory=SipSettings)
    browser: BrowserSettings = field(default_factory=BrowserSettings)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    page: PageSettings = field(default_factory=PageSettings)
    agent: AgentSettings = field(default_factory=AgentSettings)
    recording: RecordingSettings = field(default_factory=RecordingSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)  # the HTTP/WebSocket edge
    queues: QueuesSettings = field(default_factory=QueuesSettings)  # [queues], [queues.NAME]


def _convert(raw: Any, typ: Any, key: str, problems: list[str]) -> Any:
    origin = typing.get_origin(typ)
    try:
        if typ is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError("expected true or false")
        if typ is int:
            if isinstance(raw, bool):
                raise ValueError("expected an integer")
            return int(raw)
        if typ is float:
            return float(raw)
        if typ is str:
            if not isinstance(raw, str | int | float):
                raise ValueError("expected a string")
            return str(raw)
        if origin is tuple and dataclasses.is_dataclass(typing.get_args(typ)[0]):
            return _tables(raw, typing.get_args(typ)[0], key, problems)
        if origin is tuple:
            if isinstance(raw, str):
                return tuple(part.strip() for part in raw.split(",") if part.strip())
            if isinstance(raw, list):
                return tuple(str(x) for x in raw)
            raise ValueError("expected a list")
    except ValueError as exc:
        problems.append(f"{key}={raw!r}: {exc}")
        return None
    problems.append(f"{key}: unsupported type {typ}")
    return None


def _tables(raw: Any, item: Any, key: str, problems: list[str]) -> tuple[Any, ...] | None:
    """``[key.NAME]`` tables -> a tuple of ``item`` dataclasses (``name`` = NAME), each checked
    with its ``problems(key)``; TOML only."""
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        problems.append(f"{key}: use [{key}.NAME] tables in the TOML file")
        return None
    hints = typing.get_type_hints(item)
    out = []
    for name, table in raw.items():
        where = f"{key}.{name}"
        values: dict[str, Any] = {"name": str(name)}
        for f in dataclasses.fields(item):
            if f.name != "name" and f.name in table:
                values[f.name] = _convert(table.pop(f.name), hints[f.name], f"{where}.{f.name}",
                                          problems)
        problems.extend(f"{where}.{unknown}: unknown setting" for unknown in table)
        entry = item(**{k: v for k, v in values.items() if v is not None})
        problems.extend(entry.problems(where))
        out.append(entry)
    return tuple(out)


def load_settings(
    path: Path | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Build Settings from defaults, an optional TOML file and the environment."""
    env = os.environ if env is None else env
    if path is None and env.get("CALLPORT_CONFIG"):
        path = Path(env["CALLPORT_CONFIG"])
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found: create it or drop --config") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    from callport.config_check import range_problems, unknown_variables

    problems: list[str] = []
    known_env: list[str] = []
    sections: dict[str, Any] = {}
    hints = typing.get_type_hints(Settings)
    for top in dataclasses.fields(Settings):
        cls = hints[top.name]
        table = data.pop(top.name, {})
        if not isinstance(table, dict):
            problems.append(f"[{top.name}] must be a table")
            table = {}
        queue_tables = split_tables(table) if top.name == "queues" else {}
        if top.name == "recording" and isinstance(table.get("s3"), dict):  # [recording.s3]
            table.update({f"s3_{k}": v for k, v in table.pop("s3").items()})
        field_hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for f in dataclasses.fields(cls):
            prefix = "CALLPORT_" if top.name == "server" else f"CALLPORT_{top.name.upper()}_"
            env_name = prefix + f.name.upper()
            key = f"{top.name}.{f.name}"
            known_env.append(env_name)
            if f.name in table:
                sources[f.name] = key
                values[f.name] = _convert(table.pop(f.name), field_hints[f.name], key, problems)
            if env_name in env:
                sources[f.name] = env_name
                values[f.name] = _convert(env[env_name], field_hints[f.name], env_name, problems)
        if top.name == "recording" and "CALLPORT_S3_SECRET_KEY" in env:  # the short name
            known_env.append("CALLPORT_S3_SECRET_KEY")
            if "CALLPORT_RECORDING_S3_SECRET_KEY" not in env:  # env beats the file
                values["s3_secret_key"] = env["CALLPORT_S3_SECRET_KEY"]
        if top.name == "server" and "db" not in values:  # the data directory of this env
            values["db"] = default_db(env)
        for unknown in table:
            problems.append(f"{top.name}.{unknown}: unknown setting")
        try:
            section = cls(**{k: v for k, v in values.items() if v is not None})
        except TypeError as exc:  # pragma: no cover - guarded by the field loop
            problems.append(str(exc))
            section = cls()
        problems.extend(range_problems(top.name, section, sources, own=section.problems()))
        if isinstance(section, QueuesSettings):
            section = with_tables(section, queue_tables, convert=_convert, ranges=range_problems,
                                  problems=problems)
        sections[top.name] = section
    for unknown in data:
        problems.append(f"[{unknown}]: unknown section")
    problems.extend(unknown_variables(env, known_env))
    if problems:
        where = f" in {path}" if path else ""
        if len(problems) == 1:  # one mistake, one line
            raise ConfigError(f"invalid configuration{where}: {problems[0]} "
                              "(see docs/configuration.md)")
        raise ConfigError(
            f"invalid configuration{where}:\n  - " + "\n  - ".join(problems)
            + "\nSee docs/configuration.md for every setting."
        )
    return Settings(**sections)


def _type_name(typ: Any) -> str:
    if isinstance(typ, types.GenericAlias):
        return "list"
    return getattr(typ, "__name__", str(typ))
