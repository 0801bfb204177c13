"""Load an IVR menu file (TOML) into ``callport.flows.ivr.model``, validating everything.

Every mistake is an ``IvrError`` whose message starts ``FILE:LINE:`` and names the menu and
option, so ``callport serve --ivr FILE`` fails at start, not on a caller. ``tomllib`` gives no
positions for values, so ``_Lines`` finds them by scanning the text for table headers
(``[menus.main]``, the n-th ``[[menus.main.options]]``) and the keys under them.

Menus that would run forever are rejected: a cycle of announcements (menus without options,
each going straight to the next) and a menu from which no action but another menu is reachable.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callport.call.understand import Choice
from callport.flows.ivr.model import (
    Action,
    AgentAction,
    GoMenu,
    HangupAction,
    Hours,
    Ivr,
    Menu,
    Option,
    QueueAction,
    TransferAction,
    VoicemailAction,
)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KEYS = frozenset("0123456789*#")
_IVR_KEYS = {"start", "operator", "fallback", "voicemail_for", "goodbye"}
_MENU_KEYS = {"prompt", "options", "action", "say", "fallback", "max_tries", "timeout_s"}
_OPTION_KEYS = {"name", "key", "examples", "say", "action", "label"}
_HOURS_KEYS = {"timezone", "holidays", "closed", *DAYS}
_TOP_KEYS = {"ivr", "hours", "targets", "menus"}
GOODBYE = "Thank you for calling. Goodbye."
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


class IvrError(ValueError):
    """The menu file is wrong; the message names the file, line, menu and option."""


class _Lines:
    """Line numbers of table headers and keys in a TOML text (1-based; 0 when unknown)."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\")\s*=")

    def __init__(self, text: str) -> None:
        self.at: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        counts: dict[tuple[str, ...], int] = {}
        for n, line in enumerate(text.splitlines(), start=1):
            if m := self._HEADER.match(line):
                path = tuple(p.strip().strip('"') for p in m.group(2).split("."))
                if m.group(1) == "[[":
                    i = counts.get(path, 0)
                    counts[path] = i + 1
                    path = (*path, str(i))
                table = path
                self.at.setdefault(table, n)
            elif m := self._KEY.match(line):
                self.at.setdefault((*table, m.group(1).strip('"')), n)

    def line(self, *path: str) -> int:
        while path:
            if path in self.at:
                return self.at[path]
            path = path[:-1]
        return 0


class _Loader:
    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines = _Lines(text)
        try:
            self.data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"at line (\d+)", str(exc))
            where = f"{source}:{m.group(1)}" if m else source
            raise IvrError(f"{where}: not valid TOML: {exc}") from None
        self.targets: dict[str, str] = {}

    def fail(self, path: tuple[str, ...], what: str, message: str) -> IvrError:
        line = self.lines.line(*path)
        return IvrError(f"{self.source}:{line}: {what}: {message}" if line
                        else f"{self.source}: {what}: {message}")

    def unknown(self, table: Mapping[str, Any], allowed: set[str], path: tuple[str, ...],
                what: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail((*path, key), what, f"unknown setting {key!r} "
                                f"(expected one of {', '.join(sorted(allowed))})")

    def text(self, table: Mapping[str, Any], key: str, path: tuple[str, ...], what: str,
             *, required: bool = False) -> str:
        value = table.get(key, "")
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail((*path, key), what, f"{key} must be a non-empty string")
        return value.strip()

    def action(self, spec: object, path: tuple[str, ...], what: str) -> Action:
        if not isinstance(spec, str) or not spec.strip():
            raise self.fail(path, what, "action must be a string such as 'menu:billing', "
                            "'agent:taskmanager', 'queue:support', 'transfer:sip:x@host', "
                            "'voicemail', 'operator' or 'hangup'")
        kind, _, arg = spec.strip().partition(":")
        match kind:
            case "menu" if arg:
                if arg not in self.data.get("menus", {}):
                    raise self.fail(path, what, f"action {spec!r}: there is no menu {arg!r}")
                return GoMenu(arg)
            case "agent" if arg:
                self._agent(arg, path, what)
                return AgentAction(arg)
            case "queue" if arg:
                return QueueAction(arg)
            case "transfer" if arg:
                return TransferAction(self._target(arg, path, what))
            case "operator" if not arg:
                operator = self.data.get("ivr", {}).get("operator", "")
                if not operator:
                    raise self.fail(path, what, "action 'operator' needs ivr.operator")
                return TransferAction(self._target(str(operator), path, what))
            case "voicemail":
                return VoicemailAction(arg)
            case "hangup" if not arg:
                return HangupAction()
        raise self.fail(path, what, f"unknown action {spec!r} (expected menu:NAME, agent:REF, "
                        "queue:NAME, transfer:TARGET, voicemail[:USER], operator or hangup)")

    def _target(self, target: str, path: tuple[str, ...], what: str) -> str:
        target = self.targets.get(target, target)
        if not re.match(r"^(tel:\+\d{6,15}|sips?:[^@\s]+@[^@\s]+)$", target):
            raise self.fail(path, what, f"transfer target {target!r} is neither a [targets] "
                            "name nor a tel:+E164 / sip:user@host URI")
        return target

    def _agent(self, ref: str, path: tuple[str, ...], what: str) -> None:
        if ref in ("taskmanager", "default"):
            return
        from callport.agentref import AgentRefError, parse_agent_ref

        try:
            parsed = parse_agent_ref(ref)
        except AgentRefError as exc:
            raise self.fail(path, what, f"agent {exc}") from None
        if not parsed.available:
            raise self.fail(path, what, f"agent {ref!r}: the {parsed.scheme} adapter is not "
                            "available in this version")

    def load(self) -> Ivr:
        data = self.data
        self.unknown(data, _TOP_KEYS, (), "file")
        targets = data.get("targets", {})
        if not isinstance(targets, dict) or not all(isinstance(v, str) for v in targets.values()):
            raise self.fail(("targets",), "[targets]", "each target is NAME = \"sip:...\"")
        self.targets = dict(targets)
        head = data.get("ivr", {})
        self.unknown(head, _IVR_KEYS, ("ivr",), "[ivr]")
        menus_data = data.get("menus", {})
        if not isinstance(menus_data, dict) or not menus_data:
            raise self.fail(("menus",), "file", "no menus: add a [menus.main] table")
        start = self.text(head, "start", ("ivr",), "[ivr]") or next(iter(menus_data))
        if start not in menus_data:
            raise self.fail(("ivr", "start"), "[ivr]", f"start menu {start!r} is not defined")
        fallback = self.action(head.get("fallback", "hangup"), ("ivr", "fallback"), "[ivr]")
        menus = {name: self.menu(name, table) for name, table in menus_data.items()}
        hours = self.hours(data["hours"]) if "hours" in data else None
        ivr = Ivr(start=start, menus=menus, hours=hours,
                  operator=self._target(head["operator"], ("ivr", "operator"), "[ivr]")
                  if head.get("operator") else "",
                  fallback=fallback, voicemail_for=str(head.get("voicemail_for", "")),
                  goodbye=str(head.get("goodbye", "")) or GOODBYE,
                  source=self.source)  # fmt: skip
        self.loops(ivr)
        return ivr

    def menu(self, name: str, table: object) -> Menu:
        path, what = ("menus", name), f"menu {name!r}"
        if not isinstance(table, dict):
            raise self.fail(path, what, "must be a table")
        self.unknown(table, _MENU_KEYS, path, what)
        prompt = self.text(table, "prompt", path, what) or self.text(table, "say", path, what)
        options_data = table.get("options", [])
        if not isinstance(options_data, list):
            raise self.fail((*path, "options"), what, "options must be [[menus.NAME.options]]")
        if not options_data and "action" not in table:
            raise self.fail(path, what, f"needs options ([[menus.{name}.options]]) or an "
                            "action")
        if options_data and "action" in table:
            raise self.fail((*path, "action"), what, "has options and an action: pick one")
        if options_data and not prompt:
            raise self.fail(path, what, "prompt must be a non-empty string")
        options = [self.option(name, i, o) for i, o in enumerate(options_data)]
        seen_keys: dict[str, str] = {}
        for i, o in enumerate(options):
            for key in o.choice.keys:
                if key in seen_keys:
                    raise self.fail((*path, "options", str(i), "key"), f"{what}, option "
                                    f"{o.choice.name!r}", f"key {key} is also option "
                                    f"{seen_keys[key]!r}")
                seen_keys[key] = o.choice.name
        names = [o.choice.name for o in options]
        for i, n in enumerate(names):
            if n in names[:i]:
                raise self.fail((*path, "options", str(i), "name"), what,
                                f"two options are named {n!r}")
        tries = table.get("max_tries", 3)
        timeout = table.get("timeout_s", 5.0)
        if not isinstance(tries, int) or not 1 <= tries <= 10:
            raise self.fail((*path, "max_tries"), what, "max_tries must be 1..10")
        if not isinstance(timeout, int | float) or not 1 <= timeout <= 60:
            raise self.fail((*path, "timeout_s"), what, "timeout_s must be 1..60 seconds")
        return Menu(
            name=name, prompt=prompt, options=tuple(options),
            action=self.action(table["action"], (*path, "action"), what)
            if "action" in table else None,
            fallback=self.action(table["fallback"], (*path, "fallback"), what)
            if "fallback" in table else None,
            max_tries=tries, timeout_s=float(timeout))  # fmt: skip

    def option(self, menu: str, i: int, table: object) -> Option:
        path = ("menus", menu, "options", str(i))
        what = f"menu {menu!r}, option {i + 1}"
        if not isinstance(table, dict):
            raise self.fail(path, what, "must be a table")
        name = self.text(table, "name", path, what, required=True)
        what = f"menu {menu!r}, option {name!r}"
        self.unknown(table, _OPTION_KEYS, path, what)
        key = table.get("key", "")
        if not isinstance(key, str) or (key and (len(key) != 1 or key not in KEYS)):
            raise self.fail((*path, "key"), what, f"key {key!r} must be one of 0-9, * or #")
        examples = table.get("examples", [])
        if not isinstance(examples, list) or not all(isinstance(e, str) and e.strip()
                                                     for e in examples):
            raise self.fail((*path, "examples"), what, "examples must be a list of phrases")
        if "action" not in table:
            raise self.fail(path, what, "has no action")
        return Option(
            choice=Choice(name=name, phrases=tuple(e.strip() for e in examples), keys=key,
                          label=self.text(table, "label", path, what)),
            action=self.action(table["action"], (*path, "action"), what),
            say=self.text(table, "say", path, what))  # fmt: skip

    def hours(self, table: object) -> Hours:
        path, what = ("hours",), "[hours]"
        if not isinstance(table, dict):
            raise self.fail(path, what, "must be a table")
        self.unknown(table, _HOURS_KEYS, path, what)
        tz = self.text(table, "timezone", path, what, required=True)
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail((*path, "timezone"), what, f"unknown time zone {tz!r} "
                            "(an IANA name such as 'Europe/Berlin')") from None
        week = []
        for day in DAYS:
            spec = table.get(day, "closed")
            specs = spec if isinstance(spec, list) else [spec]
            ranges = []
            for s in specs:
                m = _RANGE.match(s.strip()) if isinstance(s, str) else None
                if isinstance(s, str) and s.strip() == "closed":
                    continue
                if m is None:
                    raise self.fail((*path, day), what, f"{day} = {spec!r}: expected "
                                    "'09:00-17:00', a list of such ranges, or 'closed'")
                h1, m1, h2, m2 = (int(g) for g in m.groups())
                lo, hi = h1 * 60 + m1, h2 * 60 + m2
                if not (0 <= lo < hi <= 24 * 60 and m1 < 60 and m2 < 60):
                    raise self.fail((*path, day), what, f"{day} = {spec!r}: the range must "
                                    "start before it ends, within 00:00-24:00")
                ranges.append((lo, hi))
            week.append(tuple(ranges))
        holidays = table.get("holidays", [])
        for h in holidays if isinstance(holidays, list) else [holidays]:
            try:
                date.fromisoformat(str(h))
            except ValueError:
                raise self.fail((*path, "holidays"), what,
                                f"holiday {h!r} is not a date (YYYY-MM-DD)") from None
        closed = self.text(table, "closed", path, what, required=True)
        if closed not in self.data.get("menus", {}):
            raise self.fail((*path, "closed"), what, f"closed menu {closed!r} is not defined")
        return Hours(timezone=tz, week=tuple(week), closed=closed,
                     holidays=frozenset(str(h) for h in holidays))

    def loops(self, ivr: Ivr) -> None:
        """Reject announcement cycles and menus that can never leave the menus."""
        for name, menu in ivr.menus.items():
            seen = [name]
            current = menu
            while not current.options and isinstance(current.action, GoMenu):
                nxt = current.action.menu
                if nxt in seen:
                    chain = " -> ".join([*seen, nxt])
                    raise self.fail(("menus", name), f"menu {name!r}", "loops forever without "
                                    f"asking the caller anything ({chain})")
                seen.append(nxt)
                current = ivr.menus[nxt]
        exits: set[str] = set()
        changed = True
        while changed:
            changed = False
            for name, menu in ivr.menus.items():
                if name in exits:
                    continue
                actions = [o.action for o in menu.options] + [menu.action]
                if any(a is not None and (not isinstance(a, GoMenu) or a.menu in exits)
                       for a in actions):
                    exits.add(name)
                    changed = True
        for name in ivr.menus:
            if name not in exits:
                raise self.fail(("menus", name), f"menu {name!r}", "loops forever: every "
                                "option leads only to other menus; give one a real action")


def load_ivr(path: str | Path) -> Ivr:
    """The validated IVR in ``path``; ``IvrError`` (naming line, menu and option) if wrong."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise IvrError(f"{path}: cannot read the menu file ({exc.strerror})") from None
    return _Loader(text, str(path)).load()


def loads_ivr(text: str, source: str = "<ivr>") -> Ivr:
    return _Loader(text, source).load()
