"""Runtime: the process-wide services every call shares, and ``run_call``.

Channels build a Leg and call ``await runtime.run_call(leg, info)``; the runtime wires a
CallSession (VAD, turn detector, pacing), the speech services and an agent, runs the flow
and cleans up. Heavy services (speech models) load lazily on first use, once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from callport.agents.base import AgentFactory, CallInfo
from callport.call.call import Call, Flow
from callport.call.leg import Leg
from callport.call.session import CallSession, VadScorer
from callport.config import Settings
from callport.metrics import Metrics
from callport.speech.base import STT, TTS
from callport.vad.turn import TurnDetector

if TYPE_CHECKING:
    from callport.agentref import AgentRef
    from callport.agents.adapters.base import Line
    from callport.bus.redis_bus import RedisBus
    from callport.call.transfers import Transferrer
    from callport.nlu.intents import IntentClassifier
    from callport.queues.service import QueueService
    from callport.routing.service import RoutingService
    from callport.server.admission import Verdict
    from callport.server.events import EventHub
    from callport.store.calls import CallStore
    from callport.store.live import CallOwners, SharedRateLimiter, SharedThrottle, SpentTokens
    from callport.store.tasks import TaskLists, TaskStore
    from callport.store.users import TokenStore, UserStore
    from callport.store.voicemail import VoicemailStore

log = logging.getLogger(__name__)


class Runtime:
    """Shared services plus the call runner."""

    def __init__(
        self,
        *,
        settings: Settings,
        calls: CallStore,
        store: TaskStore | None = None,
        tasks: TaskLists | None = None,
        users: UserStore | None = None,
        tokens: TokenStore | None = None,
        metrics: Metrics | None = None,
        agent_factory: AgentFactory | None = None,
        stt: STT | None = None,
        tts: TTS | None = None,
        vad: VadScorer | None = None,
        flow: Flow | None = None,
        clock: Callable[[], float] = time.monotonic,
        voicemail: VoicemailStore | None = None,
    ) -> None:
        self.settings = settings
        self.node_id: str = settings.server.node
        """This node's name (``server.node_id``, else hostname-port)."""
        if voicemail is None:
            from callport.store.voicemail import MemoryVoicemailStore

            voicemail = MemoryVoicemailStore()
        self.voicemail: VoicemailStore = voicemail
        """Messages callers left (IVR voicemail, the ``voicemail`` fallback)."""
        from callport.store.live import MemoryCallOwners, MemorySpentTokens

        self.spent_tokens: SpentTokens = MemorySpentTokens()
        """Spent one-time browser call tokens (Redis when ``server.redis`` is set)."""
        from callport.store.live import MemoryRateLimiter, MemoryThrottle

        self.login_throttle: SharedThrottle = MemoryThrottle()
        """Failed sign-ins per address and name (Redis when ``server.redis`` is set)."""
        limits = settings.limits
        self.rate_limiter: SharedRateLimiter = MemoryRateLimiter(
            rate_per_s=limits.rate_per_s, burst=limits.rate_burst, max_keys=limits.rate_sources)
        """Anonymous requests per client address (Redis when ``server.redis`` is set)."""
        from callport.server.ownership import Ownership

        self.ownership = Ownership(node=self.node_id, owners=MemoryCallOwners(), calls=calls,
                                   shared=False)
        """Claims this node's calls; with Redis, closes a lost node's (server.ownership)."""
        owner = settings.identity.owner
        if tasks is None:
            from callport.store.tasks import MemoryTaskLists

            tasks = MemoryTaskLists(lists={owner: store} if store is not None else None)
        if users is None:
            from callport.store.memory_users import MemoryUserStore

            users = MemoryUserStore()
        if tokens is None:
            from callport.store.memory_users import MemoryTokenStore

            tokens = MemoryTokenStore(users=users)
        self.tasks: TaskLists = tasks
        """Every user's task list: ``tasks.of(user.name)``."""
        self.users: UserStore = users
        self.tokens: TokenStore = tokens
        self.store: TaskStore = store if store is not None else tasks.of(owner)
        """The owner's list (``identity.owner``); per-caller code uses ``tasks.of(name)``."""
        self.calls = calls
        self.metrics = metrics or Metrics()
        self._agent_factory = agent_factory
        self._stt = stt
        self._tts = tts
        self._vad = vad
        self._flow = flow
        self.clock = clock
        self.active: dict[str, Call] = {}
        from callport.server.events import MemoryHub

        self.events: EventHub = MemoryHub()  # live call events for the console (server.events)
        self.bus: RedisBus | None = None
        """The node-to-node bus (``server.redis``): every node's events, routed commands."""
        self.draining = False
        self.drained = False
        """Drain mode (``callport.server.drain``): no new calls; live ones finish."""
        self.routing: RoutingService | None = None
        self.transfers: Transferrer | None = None  # flows.transfer, set by server.transfers
        self._queues: QueueService | None = None  # callport.queues (server.queues builds it)
        """Outbound routing (``[routing]``), set by the app when carriers are configured."""
        """SIGTERM: no new calls are admitted (``callport.server.lifecycle.drain``)."""
        self._classifier: IntentClassifier | None = None

    @property
    def call_owners(self) -> CallOwners:
        """Which node owns which call (Redis when ``server.redis`` is set)."""
        return self.ownership.owners

    @call_owners.setter
    def call_owners(self, owners: CallOwners) -> None:
        self.ownership.owners = owners

    # ---- services (lazy) -------------------------------------------------------------

    @property
    def stt(self) -> STT:
        if self._stt is None:
            from callport.speech.factory import make_stt

            self._stt = make_stt(self.settings.speech)
        return self._stt

    @property
    def tts(self) -> TTS:
        if self._tts is None:
            from callport.server.capacity import fixed_phrases
            from callport.speech.cache import CachedTTS
            from callport.speech.factory import make_tts

            # The greeting, busy and apology phrases: synthesized at warm-up, then cached.
            self._tts = CachedTTS(make_tts(self.settings.speech), phrases=fixed_phrases())
        return self._tts

    @property
    def vad(self) -> VadScorer:
        if self._vad is None:
            from callport.vad.batcher import VadBatcher

            if self.settings.turn.vad == "webrtc":
                from callport.vad.webrtc import WebRtcVad

                self._vad = VadBatcher(WebRtcVad(), on_batch=self._vad_batch)
            else:
                from callport.vad.silero import SileroVad

                self._vad = VadBatcher(SileroVad(), on_batch=self._vad_batch)
        return self._vad

    def _vad_batch(self, size: int, seconds: float) -> None:
        self.metrics.vad_batch_size.observe(size)
        self.metrics.vad_seconds.observe(seconds)

    @property
    def agent_factory(self) -> AgentFactory:
        if self._agent_factory is None:
            from callport.agents.taskmanager import task_manager_factory
            from callport.agents.taskmanager.examples import build_classifier

            self._classifier = build_classifier()
            self._agent_factory = task_manager_factory(
                self.tasks, classifier=self._classifier
            )
        return self._agent_factory

    def use_adapter(self, ref: AgentRef) -> None:
        """Calls talk to the external agent ``ref`` names (``relay:``, ``llm:``; see
        ``callport.agents.adapters``); ``ConfigError`` for one not available yet."""
        from callport.agents.adapters import adapter_factory

        self._agent_factory = adapter_factory(
            ref, settings=self.settings, tasks=self.tasks, calls=self.calls, lines=self.line_of)

    def line_of(self, call_id: str) -> Line | None:
        """What an adapter needs of the live call ``call_id`` (DTMF, audio, heard time)."""
        from callport.agents.adapters.base import CallLine

        call = self.active.get(call_id)
        return CallLine(call) if call is not None else None

    @property
    def flow(self) -> Flow:
        if self._flow is None:
            from callport.flows.default import default_flow

            self._flow = default_flow
        return self._flow

    async def warmup(self) -> None:
        """Load models now rather than on the first caller."""
        _ = self.vad, self.stt, self.tts, self.agent_factory
        if self._classifier is not None:
            await asyncio.to_thread(self._classifier.warm)
        flow_warm = getattr(self._flow, "warm", None)  # an IVR embeds its menus' examples
        if callable(flow_warm):
            await asyncio.to_thread(flow_warm)
        for service in (self._stt, self._tts):
            warm = getattr(service, "warmup", None)
            if warm is not None:
                result = warm()
                if asyncio.iscoroutine(result):
                    await result

    def new_turn_detector(self) -> TurnDetector:
        t = self.settings.turn
        return TurnDetector(
            start_threshold=t.start_threshold,
            stop_threshold=t.stop_threshold,
            min_speech_ms=t.min_speech_ms,
            end_of_turn_ms=t.end_of_turn_ms,
            barge_in_ms=t.barge_in_ms,
            end_lookback_ms=t.end_lookback_ms,
        )

    # ---- calls -----------------------------------------------------------------------

    def new_call(self, leg: Leg, info: CallInfo, *, inband_dtmf: bool = False) -> Call:
        session = CallSession(
            leg=leg,
            vad=self.vad,
            turn=self.new_turn_detector(),
            metrics=self.metrics,
            clock=self.clock,
            inband_dtmf=inband_dtmf,
        )
        call = Call(
            session=session,
            info=info,
            stt=self.stt,
            tts=self.tts,
            agent_factory=self.agent_factory,
            clock=self.clock,
        )
        call.transfers = self.transfers
        call.queues = self.queues
        return call

    @property
    def queues(self) -> QueueService:
        """Callers waiting for people (``[queues.NAME]``; ``callport.server.queues``)."""
        if self._queues is None:
            from callport.server.queues import build_queues

            self._queues = build_queues(self)
        return self._queues

    def refusal(self) -> Verdict | None:
        """None when one more conversation fits now; else why not and when to retry
        (admission by capacity, ``callport.server.capacity``); channels ask it first."""
        from callport.server.capacity import refusal

        return refusal(self)

    async def run_call(
        self,
        leg: Leg,
        info: CallInfo,
        *,
        flow: Flow | None = None,
        on_call: Callable[[Call], None] | None = None,
        inband_dtmf: bool = False,
    ) -> Call:
        """Run ``flow`` (default: greeting + Task Manager) on ``leg`` until the call ends.

        The caller is identified first (caller ID, PIN, ``identity.unknown``) unless
        ``info.user`` is already set; a caller turned away never reaches the flow. The run
        itself (gate, recording, fallback, call record) is ``callport.server.callrun``.
        """
        from callport.server.callrun import run_call

        return await run_call(self, leg, info, flow=flow, on_call=on_call,
                              inband_dtmf=inband_dtmf)


def build_runtime(
    settings: Settings,
    *,
    agent_factory: AgentFactory | None = None,
    stt: STT | None = None,
    tts: TTS | None = None,
    vad: VadScorer | None = None,
    flow: Flow | None = None,
    store: TaskStore | None = None,
    calls: CallStore | None = None,
    tasks: TaskLists | None = None,
    users: UserStore | None = None,
    tokens: TokenStore | None = None,
) -> Runtime:
    """A Runtime on the configured embedded defaults; pass fakes to replace any service.

    Users, tokens, every user's tasks and the call records share one SQLite database
    (``server.db``), or one PostgreSQL database when ``server.db`` is a ``postgresql://`` URL
    (docs/scale-out.md); ``store`` (one list) stands in for the owner's list when given.

    ``settings.server.agent`` / ``.flow`` name the user's own agent factory and flow
    (``module:attribute``); a reference that cannot be loaded raises ``ConfigError``.
    """
    from callport.agentref import AgentRefError, parse_agent_ref
    from callport.config import ConfigError
    from callport.plugins import load_reference
    from callport.store.postgres import is_postgres_url
    from callport.store.stores import StoreUrlError, open_stores

    adapter: AgentRef | None = None  # relay:/llm:...: wired once the runtime exists
    if agent_factory is None and settings.server.agent:
        try:
            ref = parse_agent_ref(settings.server.agent)
        except AgentRefError as exc:
            raise ConfigError(f"server.agent={exc}") from None
        if ref.scheme == "python":
            agent_factory = load_reference(settings.server.agent, setting="server.agent")
        else:
            adapter = ref
    if flow is None and settings.server.flow:
        flow = load_reference(settings.server.flow, setting="server.flow")
    needs_db = tasks is None or users is None or tokens is None or calls is None
    owner = settings.identity.owner
    voicemail: VoicemailStore | None = None
    if needs_db or settings.server.ivr or is_postgres_url(settings.server.db):
        try:  # SQLite or PostgreSQL by server.db (store/stores.py: the CLI opens it the same way)
            db = open_stores(settings.server.db, owner=owner)
        except StoreUrlError as exc:
            raise ConfigError(str(exc)) from None
        if tasks is None and store is None:
            tasks = db.tasks
        users = db.users if users is None else users
        tokens = db.tokens if tokens is None else tokens
        calls = db.calls if calls is None else calls
        voicemail = db.voicemail
    if tasks is None:
        from callport.store.tasks import MemoryTaskLists

        assert store is not None
        tasks = MemoryTaskLists(lists={owner: store})
    assert users is not None and tokens is not None and calls is not None
    lines: list[Callable[[str], Line | None]] = []  # the runtime's line_of, once it exists
    if flow is None and settings.server.ivr:
        assert voicemail is not None
        from callport.server.ivr_wiring import ivr_flow

        flow = ivr_flow(settings, voicemail, calls, tasks, lambda cid: lines[0](cid))
    runtime = Runtime(
        settings=settings,
        store=store,
        tasks=tasks,
        users=users,
        tokens=tokens,
        calls=calls,
        agent_factory=agent_factory,
        stt=stt,
        tts=tts,
        vad=vad,
        flow=flow,
        voicemail=voicemail,
    )
    lines.append(runtime.line_of)
    if settings.server.redis:  # scale-out: live state, events and commands across nodes
        from callport.server.bus_wiring import wire_redis

        wire_redis(runtime, settings.server.redis)
    if adapter is not None:
        runtime.use_adapter(adapter)
    return runtime
