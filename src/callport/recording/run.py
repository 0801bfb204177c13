"""Recording on a live call: the consent dialogue, then the recorder on the call's taps.

``recorded(call, flow, ...)`` says the disclosure (always opening with the
automated-assistant statement), takes the caller's answer or their staying on the line, puts
the decision on the call's record as a ``recording-consent`` event (outcome, clock time, the
words said, the answer and the rule that applied), then runs ``flow``: recorded when the
decision allows it, unrecorded otherwise (a decline keeps serving the caller).

While recording, ``call.recording`` is the ``ActiveRecording``: ``call.pause_recording()`` /
``resume_recording()`` (and a ``sensitive`` gather) pause it; the transcript of a paused span
is not kept. The audio is ``ID.wav.enc``, sealed chunk by chunk as it is written (a kill -9
leaves it decryptable up to the last second); next to it the recording's ``ID.json`` holds
its metadata, written at the start (so a killed server still leaves it) and again at the end.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callport.call.call import Call
from callport.call.notes import AgentText, CallerSpeaking, CallerTranscript, SessionNote
from callport.call.results import Heard, HungUp, Pressed
from callport.call.taps import Direction
from callport.config import RecordingSettings
from callport.config_server import files_dir
from callport.recording.consent import ConsentMachine, Decision, Mode
from callport.recording.crypt import STREAM_MAGIC, open_stream, seal, unseal
from callport.recording.recorder import Recorder, wav_bytes
from callport.recording.store import LocalStore, RecordingStore

log = logging.getLogger(__name__)

Flow = Callable[[Call], Awaitable[None]]
CONSENT_EVENT = "recording-consent"


async def ask_consent(call: Call, settings: RecordingSettings,
                      clock: Callable[[], float]) -> Decision:
    """Say the disclosure and decide (see ``callport.recording.consent``)."""
    machine = ConsentMachine(mode=Mode(settings.mode), caller=call.info.caller,
                             callee=call.info.callee, notice=settings.notice,
                             question=settings.question, at=clock())
    if machine.decision is not None:
        return machine.decision
    await call.say(machine.words, interruptible=False)
    if call.ended:
        return machine.hung_up(at=clock())
    machine.disclosed(at=clock())
    if not machine.asks:  # notify: staying on the line is consent
        try:
            await asyncio.wait_for(call.session.wait_ended(), timeout=settings.stay_s)
        except TimeoutError:
            return machine.stayed(at=clock())
        return machine.hung_up(at=clock())
    match await call.listen(timeout=settings.answer_s):
        case Heard(text=text):
            return machine.answered(text, at=clock())
        case Pressed(digits=digits):  # 1 is yes, any other key no
            return machine.answered("yes" if digits == "1" else "no", at=clock())
        case HungUp():
            return machine.hung_up(at=clock())
        case _:
            return machine.no_answer(at=clock())


class ActiveRecording:
    """One call's recording in progress: the recorder, the transcript, the metadata."""

    def __init__(self, *, call: Call, directory: Path, decision: Decision,
                 settings: RecordingSettings, clock: Callable[[], float], key: bytes) -> None:
        self.id = f"rec-{call.info.call_id}"
        self._key = key
        self._audio = f"{self.id}.wav.enc"  # sealed chunks, written as it goes
        self._sealed_transcript = ""
        self._call = call
        self._clock = clock
        self._decision = decision
        self.wav = directory / self._audio
        self.meta = directory / f"{self.id}.json"
        self.recorder = Recorder(path=self.wav, started=clock(), paused=settings.paused,
                                 key=key, name=self.id)
        self.started_at = datetime.now(UTC)
        self.transcript: list[dict[str, Any]] = []
        self._caller_from: float | None = None
        self._write_meta()

    def pause(self) -> None:
        self.recorder.pause(self._clock())

    def resume(self) -> None:
        self.recorder.resume(self._clock())

    @property
    def paused(self) -> bool:
        return self.recorder.paused

    def on_note(self, note: SessionNote) -> None:
        """A session note: the caller's and the agent's words, placed on the timeline."""
        if self.paused:
            return
        now = self.recorder.position(self._clock())
        if isinstance(note, CallerSpeaking) and note.speaking:
            self._caller_from = now
        elif isinstance(note, CallerTranscript):
            at = self._caller_from if self._caller_from is not None else now
            self.transcript.append({"who": "caller", "at": round(at, 2), "text": note.text})
            self._caller_from = None
        elif isinstance(note, AgentText):
            self.transcript.append({"who": "agent", "at": round(now, 2), "text": note.text})

    def close(self) -> None:
        """Finish the file (its last sealed chunk), encrypt the transcript (``crypt``), write
        the metadata."""
        self.recorder.close(self._clock())
        words = json.dumps(self.transcript).encode()
        self._sealed_transcript = base64.b64encode(seal(self._key, words, name=self.id)).decode()
        self._write_meta(final=True)

    def _write_meta(self, *, final: bool = False) -> None:
        info = self._call.info
        data = {
            "id": self.id, "call_id": info.call_id, "channel": info.channel,
            "user": info.user.name if info.user is not None else None,
            "caller": info.caller, "callee": info.callee,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "duration_s": round(self.recorder.duration_s, 2),
            "consent": self._decision.outcome, "rule": self._decision.rule,
            "paused_s": round(self.recorder.paused_s, 2),
            "channels": ["caller", "agent"], "audio": self._audio, "final": final,
            "decision": asdict(self._decision), "transcript": self._sealed_transcript,
        }
        tmp = self.meta.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, self.meta)


async def recorded(call: Call, flow: Flow, *, settings: RecordingSettings, calls: Any,
                   clock: Callable[[], float], directory: Path, key: bytes,
                   store: RecordingStore | None = None) -> None:
    """Consent, the audit event, then ``flow`` recorded (or not, as decided). The recording
    is written in ``directory`` as the call goes; with a ``store`` (an object store) its two
    finished objects then move there (a killed server's recording stays in ``directory``)."""
    decision = await ask_consent(call, settings, clock)
    detail = json.dumps(asdict(decision))
    try:
        await calls.add_event(call.info.call_id, CONSENT_EVENT, detail)
    except Exception:  # a call the store does not know (a test's bare runtime)
        log.warning("call %s: consent not kept on the call record", call.info.call_id)
    log.info("call %s: recording consent %s (%s)", call.info.call_id, decision.outcome,
             decision.rule)
    if call.ended:  # hung up during the disclosure
        return
    if not decision.record:  # a decline keeps serving the caller, unrecorded
        await flow(call)
        return
    active = ActiveRecording(call=call, directory=directory, decision=decision,
                             settings=settings, clock=clock, key=key)
    session = call.session
    session.add_tap(active.recorder, Direction.IN)
    session.add_tap(active.recorder, Direction.OUT)
    session.note_listeners.append(active.on_note)
    call.recording = active
    try:
        await flow(call)
    finally:
        call.recording = None
        session.remove_tap(active.recorder, Direction.IN)
        session.remove_tap(active.recorder, Direction.OUT)
        session.note_listeners.remove(active.on_note)
        active.close()
        if store is not None:
            await _published(active, store, directory)


async def _published(active: ActiveRecording, store: RecordingStore, directory: Path) -> None:
    """``publish`` in a thread, finished even when the call's task is cancelled meanwhile
    (a hang-up): the cancellation is passed on after it; a failure is logged and the
    recording stays in ``directory``."""
    job = asyncio.ensure_future(asyncio.to_thread(publish, active, store))
    cancelled = False
    while not job.done():
        try:
            await asyncio.shield(job)
        except asyncio.CancelledError:
            cancelled = True
        except Exception:
            break
    if job.exception() is not None:  # unreachable or refusing
        log.error("recording %s kept in %s, not moved to the store: %s", active.id,
                  directory, job.exception())
    if cancelled:
        raise asyncio.CancelledError


def publish(active: ActiveRecording, store: RecordingStore) -> None:
    """Move a finished recording's audio, then its metadata, into ``store``."""
    for path in (active.wav, active.meta):
        store.write(path.name, path.read_bytes())
    for path in (active.wav, active.meta):
        path.unlink()


def recordings_dir(settings: Any) -> Path:
    """``recording.dir``, or ``recordings/`` beside ``server.db``."""
    rec: RecordingSettings = settings.recording
    return Path(rec.dir) if rec.dir else files_dir(settings.server.db) / "recordings"


_S3_STORES: dict[RecordingSettings, RecordingStore] = {}  # one client (its pool) each
_PG_STORES: dict[str, RecordingStore] = {}  # one pool per database URL


def recording_store(settings: Any) -> RecordingStore:
    """The store ``recording.store`` names: ``LocalStore`` over ``recordings_dir``, an
    ``S3Store`` (``recording.s3_*``; one per distinct settings, its connections reused), or,
    left empty with ``server.db`` a ``postgresql://`` URL, a ``PostgresRecordingStore`` on
    that database (one per URL), so every node sees every recording."""
    rec: RecordingSettings = settings.recording
    if rec.store == "s3":
        from callport.recording.s3 import S3Store

        if rec not in _S3_STORES:
            _S3_STORES[rec] = S3Store(endpoint=rec.s3_endpoint, bucket=rec.s3_bucket,
                                      region=rec.s3_region, access_key=rec.s3_access_key,
                                      secret_key=rec.s3_secret_key, prefix=rec.s3_prefix)
        return _S3_STORES[rec]
    db: str = settings.server.db
    if rec.kept_in(db) == "postgres":
        from callport.recording.postgres import PostgresRecordingStore

        if db not in _PG_STORES:
            _PG_STORES[db] = PostgresRecordingStore(db)
        return _PG_STORES[db]
    return LocalStore(directory=recordings_dir(settings))


def shared_store(settings: Any) -> RecordingStore | None:
    """The store finished recordings move to from ``recordings_dir`` (S3 or PostgreSQL);
    None when they stay in that directory."""
    store = recording_store(settings)
    return None if isinstance(store, LocalStore) else store


def open_recording(meta: dict[str, Any], directory: Path, key: bytes,
                   store: RecordingStore | None = None) -> tuple[bytes, list[Any]]:
    """A recording's WAV bytes and transcript, decrypted, read from ``store`` (default: the
    directory's ``LocalStore``). A recording cut short by a killed server opens up to its
    last whole chunk (about the last second), with no transcript; an older whole-file sealed
    one (``CPREC1``) or a plain WAV opens as well."""
    store = store if store is not None else LocalStore(directory=directory)
    audio, name = str(meta["audio"]), str(meta["id"])
    if not store.exists(audio) and store.exists(audio + ".enc"):  # older: sealed at the end
        audio += ".enc"
    blob = store.read(audio)
    if not audio.endswith(".enc"):
        return blob, []
    if blob.startswith(STREAM_MAGIC):
        wav = wav_bytes(open_stream(key, blob, name=name)[0])
    else:
        wav = unseal(key, blob, name=name)
    sealed = meta.get("transcript") or ""
    words = json.loads(unseal(key, base64.b64decode(sealed), name=name)) if sealed else []
    return wav, words
