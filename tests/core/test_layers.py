"""Layers import downwards only, and no two packages import each other (docs/architecture.md).

Every ``import`` in ``src/callport`` counts: at module level, inside functions (a lazy import is
still a dependency) and under ``if TYPE_CHECKING:`` (a type names the layer it comes from).
The tests walk the source with ``ast``; nothing is imported, so a broken module elsewhere cannot
hide a violation.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import callport

SRC = Path(callport.__file__).resolve().parent

# Each top-level name of ``callport`` and the layer it sits on; a module may import its own
# layer and any lower one. Longest dotted prefix wins, so a subpackage could be placed apart;
# "callport" itself covers only the package's __init__ (a new top-level module must be placed).
LAYERS: dict[str, int] = {
    # 0: the ground floor's shared names. types (PCM16, User, CallInfo), errors
    # (MissingSpeechDependency), metrics (the Prometheus counters everyone counts into), logs (the
    # call-id log context), config (frozen settings, read once at start) and the package itself
    # (__version__). plugins resolves "module:attribute" references and needs only config; the
    # server uses it to load the user's agent or flow, so it sits here, below the server.
    "callport": 0,
    "callport.types": 0,
    "callport.errors": 0,
    "callport.metrics": 0,
    "callport.logs": 0,
    "callport.config": 0,
    "callport.config_check": 0,  # numeric ranges, unknown CALLPORT_* variables
    "callport.plugins": 0,
    "callport.config_routing": 0,  # [routing], [sip.trunks.NAME] settings
    "callport.config_queues": 0,  # [queues], [queues.NAME] settings
    # one module per settings area; callport.config re-exports them all
    "callport.config_server": 0,  # [server], [identity]
    "callport.config_speech": 0,  # [speech], [turn]
    "callport.config_pstn": 0,  # [twilio], [telnyx]
    "callport.config_sip": 0,  # [sip]
    "callport.config_web": 0,  # [browser], [page]
    "callport.config_calls": 0,  # [agent], [recording]
    "callport.config_limits": 0,  # [limits]: the HTTP/WebSocket edge's bounds
    "callport.safejson": 0,  # the one JSON loader for peer input (depth, length, numbers)
    "callport.edgelog": 0,  # bad-input counters and rate-limited log lines at the edges
    "callport.agentref": 0,  # what --agent names: module:attribute or an adapter scheme (pure)
    # 1: the ground floor's services, pure DSP and behind-Protocol engines: they know PCM16 and
    # settings but nothing of calls. vad may use audio (resampling) and store may use types.
    "callport.audio": 1,
    "callport.vad": 1,
    "callport.speech": 1,
    "callport.nlu": 1,
    "callport.store": 1,
    "callport.bus": 1,  # the node-to-node bus (Redis pub/sub): envelopes, no call knowledge
    # 2: the heart. The Leg contract, the session, the Call a flow is written with, and the
    # Agent protocol the session consumes (callport.call.agent; agents implement it upstairs).
    "callport.call": 2,
    # 3: what runs on a call: agents (Task Manager, adapters) implement call's Agent; flows are
    # scripts over call's Call. Neither knows any channel.
    "callport.agents": 3,
    "callport.flows": 3,
    # routing: carriers, rate tables, least-cost ranking, failover over call's neutral dial,
    # carrier health; the Router is itself a Dialer, so channels never see it
    "callport.routing": 3,
    # recording: consent machine, all-party rules, the two-channel recorder over call taps
    "callport.recording": 3,
    # queues: the pure queue engine (strategies, waits, callbacks), the AgentReach seam, the
    # asyncio service that holds callers on music and bridges them to people
    "callport.queues": 3,
    # 4: channels turn a provider's wire into Legs and hand them to whatever runs calls (each
    # names that as its own Protocol, so no channel imports the server).
    "callport.channels": 4,
    # 5: the composition root: the ASGI app, the Runtime that wires stores, speech, agents and
    # channels together, auth.
    "callport.server": 5,
    # 6: entry points for people: the command line (cli_users: its users/tokens/tasks commands),
    # `callport talk`, `callport doctor` (doctor_doors: its pure open-door checks).
    "callport.cli": 6,
    "callport.cli_users": 6,
    "callport.cli_routing": 6,  # `callport routes explain`, `callport calls list|export`
    "callport.cli_where": 6,  # `callport where`, busy ports, the database folder
    "callport.cli_skills": 6,  # `callport skills install DIR`
    "callport.cli_ivr": 6,  # --ivr / --at, talk's ivr report, `callport voicemail list|save`
    "callport.cli_recordings": 6,  # `callport recordings list|export`
    "callport.cli_privacy": 6,  # `callport privacy export`
    "callport.cli_queues": 6,  # `callport queues status` (asks the server's /api/queues)
    "callport.cli_drain": 6,  # `callport drain` (asks a node's POST /api/admin/drain)
    "callport.cli_talk": 6,  # `callport talk IN.wav ...` (a conversation from WAV files)
    "callport.cli_call": 6,  # `callport call TARGET` (one outbound call, the neutral Dialer)
    # the Agent Skills shipped as package data; their scripts import nothing of callport
    "callport.skills": 6,
    "callport.talk": 6,
    "callport.doctor": 6,
    "callport.doctor_routing": 6,  # doctor's carrier checks (rate decks, OPTIONS pings)
    "callport.doctor_doors": 6,  # the open-door warnings `callport doctor` prints
    "callport.doctor_queues": 6,  # doctor's queue checks (agents, hold music)
    "callport.doctor_reach": 6,  # could a provider reach the public URLs (a DNS lookup)
    "callport.doctor_recording": 6,  # where recordings are kept; a shared store needs the key
}


@dataclass(frozen=True, slots=True)
class Import:
    module: str  # the importing module
    target: str  # the callport module (or package) it imports
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def callport_imports(path: Path, text: str | None = None) -> Iterator[Import]:
    """Every import of a callport module in ``path`` (or in ``text`` as if it lived there),
    wherever it appears in the file."""
    module = module_name(path)
    package = module if is_package(path) else module.rpartition(".")[0]
    source = path.read_text(encoding="utf-8") if text is None else text
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "callport":
                    yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "callport":
                continue
            for alias in node.names:  # `from callport.x import y` may name submodule y
                sub = f"{target}.{alias.name}"
                yield Import(module, sub if is_module(sub) else target, node.lineno)


def is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (SRC.parent / rel).with_suffix(".py").is_file() or (SRC.parent / rel).is_dir()


def layer_of(name: str) -> int:
    parts = name.split(".")
    for n in range(len(parts), 1, -1):
        prefix = ".".join(parts[:n])
        if prefix in LAYERS:
            return LAYERS[prefix]
    if name == "callport":
        return LAYERS[name]
    raise AssertionError(f"{name} is on no layer: add it to LAYERS in {__file__}")


def all_imports() -> list[Import]:
    return [imp for path in sorted(SRC.rglob("*.py")) for imp in callport_imports(path)]


def placed(name: str) -> bool:
    try:
        layer_of(name)
    except AssertionError:
        return False
    return True


def test_every_module_has_a_layer() -> None:
    unplaced = {module_name(p) for p in SRC.rglob("*.py") if not placed(module_name(p))}
    assert not unplaced, f"modules on no layer (add them to LAYERS): {sorted(unplaced)}"


def test_layers_import_downwards_only() -> None:
    upward = [  # one line per import statement and target
        f"{imp.module}:{imp.line} (layer {layer_of(imp.module)}) imports {imp.target} "
        f"(layer {layer_of(imp.target)})"
        for imp in all_imports()
        if layer_of(imp.target) > layer_of(imp.module)
    ]
    assert not upward, "imports that run up the layers:\n" + "\n".join(dict.fromkeys(upward))


def unit_of(module: str) -> str:
    """The package a module belongs to (top-level modules such as callport.types stand alone:
    the ``callport`` package itself holds only ``__version__``)."""
    path = SRC.parent / Path(*module.split("."))
    if path.is_dir() or module.count(".") == 1:
        return module
    return module.rpartition(".")[0]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_package_import_cycles() -> None:
    edges: dict[str, set[str]] = {}
    why: dict[tuple[str, str], Import] = {}
    for imp in all_imports():
        a, b = unit_of(imp.module), unit_of(imp.target)
        if a != b and b != "callport":
            edges.setdefault(a, set()).add(b)
            why.setdefault((a, b), imp)
    found = cycles(edges)
    lines = []
    for component in found:
        lines.append(" <-> ".join(component))
        for (a, b), imp in sorted(why.items()):
            if a in component and b in component:
                lines.append(f"    {imp.module}:{imp.line} imports {imp.target}")
    assert not found, "package-level import cycles:\n" + "\n".join(lines)


def test_the_checks_see_upward_and_lazy_imports() -> None:
    """The walker finds imports inside functions and under TYPE_CHECKING, and resolves
    relative ones (so a violation cannot hide there); the cycle finder finds a cycle."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from callport.server.runtime import Runtime\n"
        "def f():\n    from ..channels import base\n    import callport.cli\n"
        "from . import leg\n"
    )
    found = sorted(callport_imports(SRC / "call" / "probe.py", source), key=lambda i: i.line)
    assert [(i.module, i.target, layer_of(i.target) > layer_of(i.module)) for i in found] == [
        ("callport.call.probe", "callport.server.runtime", True),
        ("callport.call.probe", "callport.channels.base", True),
        ("callport.call.probe", "callport.cli", True),
        ("callport.call.probe", "callport.call.leg", False),
    ]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
