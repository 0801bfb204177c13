"""Task Manager understanding on words nobody tuned to: bench/corpus/taskmanager.json (written
apart from the agent's examples) run through the real agent, spoken or as text.

    python bench/bench_understanding.py --text            # NLU only: the corpus text as heard
    python bench/bench_understanding.py [--only piper|espeak] [--limit N]
    python bench/bench_understanding.py --stt-eval [--model tiny.en --model DIR ...] [--limit N]

``--stt-eval`` decodes the corpus's distinct caller turns (sorted, the first N) with each model
(a CTranslate2 Whisper directory; "tiny.en" is the bundled one) as the product does (int8, two
threads, greedy, the product prompt plus the fixture's titles as hints) and prints WER (after
``nlu.text.normalize`` on both sides) and decode latency per voice.

Spoken mode: every caller turn is synthesised by Piper (en_US-joe-medium) and by espeak-ng,
sent down an 8 kHz mu-law phone line, transcribed by the product's Whisper (``WhisperSTT``,
the product's prompt plus the agent's ``vocabulary()`` hints, as ``call.converse`` passes
them), then handed to the real ``TaskManagerAgent`` on a fresh in-memory store holding the
corpus fixture, on the corpus clock. Synthesised audio is cached under
``$XDG_DATA_HOME/callport/bench/understanding`` so reruns only pay for STT.

The simulated caller says the case's turns in order; when the agent then asks for a yes
("Delete X?", "End the call?", "Add it again?") it answers "yes" if the case expects a change
and "no" otherwise; asked back about a guess ("Did you want me to add X?") it says "yes" only
when the guessed intent is the case's (spoken like any other turn). Printed per voice and overall:

- intent: the agent's ``TurnInfo.intent`` on the case's intent turn (None = out of scope);
- slots: the title slot (add cases) and the due slot (cases with a date), each checked;
- outcome: the list afterwards equals the expected one exactly (tasks added with title and
  due, completed, deleted, new due dates, hung up or not);
- wrong actions: a task added / completed / deleted / rescheduled that the case did not ask
  for; destructive ones (completed, deleted) separately, and of those the ones done in a turn
  with no yes asked for first.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import asyncio
import hashlib
import json
import statistics
import sys
import time
import wave
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from callport.config_speech import SpeechSettings

sys.path.insert(0, str(Path(__file__).resolve().parent))  # imported by file path (the tests)
from previous import Previous

CORPUS = Path(__file__).resolve().parent / "corpus" / "taskmanager.json"
# The decoding bench/previous.json's figures were measured with (ratios only against it).
RECORDED_DECODING = {"window_s": 20.0, "beam_size": 1}
Hear = Callable[[str, Sequence[str]], Awaitable[str]]


CALLERS = ("lenient", "strict")
CALLER_NOTE = {
    "lenient": "the first scoring: yes to any confirmation when a change is expected",
    "strict": "yes only to a question naming the change asked for",
}


def load_corpus(path: Path = CORPUS) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def _title_key(text: str) -> str:
    from callport.nlu.text import normalize

    words = normalize(text).split()
    while words and words[0] in {"the", "a", "an", "to"}:
        words = words[1:]
    return " ".join(words)


def same_title(got: str, want: str) -> bool:
    a, b = _title_key(got), _title_key(want)
    return a == b or SequenceMatcher(None, a, b).ratio() >= 0.9


def same_due(got: str | None, want: str | None) -> bool:
    if got is None or want is None:
        return got is want
    return got.startswith(want) if "T" not in want else got[:16] == want[:16]


@dataclass
class CaseResult:
    case: dict[str, Any]
    heard: list[str] = field(default_factory=list)
    intent: str | None = None
    intent_ok: bool = False
    slots: list[bool] = field(default_factory=list)
    outcome_ok: bool = False
    wrong: list[str] = field(default_factory=list)  # "added x", "completed y", ...
    wrong_destructive: int = 0
    unconfirmed_wrong_destructive: int = 0
    got: dict[str, Any] = field(default_factory=dict)


def _snapshot(tasks: Sequence[Any]) -> dict[int, tuple[str, str | None, bool]]:
    return {t.id: (t.title, t.due.isoformat(timespec="minutes") if t.due else None, t.done)
            for t in tasks}  # fmt: skip


_KIND = {"complete": "complete", "complete_all": "complete", "delete": "delete",
         "delete_all": "delete", "reschedule": "reschedule", "add_again": "add"}


def _sound_words(text: str) -> list[str]:
    from callport.nlu.phonetic import sound_key
    from callport.store.tasks import title_words

    return [sound_key(w) for w in title_words(text)]


def names(question: str, title: str) -> bool:
    """Does ``question`` (what the caller heard) name ``title``, as the ear tells words apart:
    the title's content words, by sound ("buy" = "by"), in order somewhere in the question."""
    want, heard = _sound_words(title), _sound_words(question)
    return bool(want) and any(heard[i:i + len(want)] == want
                              for i in range(len(heard) - len(want) + 1))


def names_part(question: str, title: str) -> bool:
    """Does ``question`` name at least half of ``title``'s content words (by sound): how a
    caller recognises their own words ("the birthday card") for a task ("buy a birthday
    card") in an asked-back guess."""
    want, heard = _sound_words(title), set(_sound_words(question))
    return bool(want) and 2 * sum(w in heard for w in want) >= len(want)


def _wanted(case: dict[str, Any], kind: str) -> list[str]:
    outcome = case["outcome"]
    if kind == "add":
        return [w["title"] for w in outcome.get("add", [])]
    return list(outcome.get("due" if kind == "reschedule" else kind, []))


def answer(caller: str, case: dict[str, Any], pending: Any, question: str,
           titles: dict[int, str]) -> str:
    """The simulated caller's yes or no to the agent's question.

    ``lenient`` (the first scoring): yes to any confirmation when the case expects a change,
    and to an asked-back guess of the case's intent, whatever task either names. ``strict``
    (a real caller, who hears the question): yes only when the question is about the change
    the case asked for: a confirmation of that kind of action naming a task the case wants
    changed (by sound, as heard), and a guess of the case's intent naming the title to add
    (or at least half of the task to change, or none); ending the call only when the case
    hangs up.
    """
    from callport.agents.taskmanager.dialog import Confirm

    wants_change = bool(case["outcome"])
    if isinstance(pending, Confirm):
        if caller == "lenient" or pending.action == "end_call":
            return "yes" if wants_change else "no"
        kind = _KIND.get(pending.action)
        if kind is None:
            return "no"
        wanted = _wanted(case, kind)
        if pending.action.endswith("_all"):
            ok = set(wanted) == {titles.get(t, "") for t in pending.task_ids}
        else:
            ok = any(names(question, w) for w in wanted)
        return "yes" if ok else "no"
    right = pending.intent == case["intent"]
    if caller == "lenient" or not right:
        return "yes" if right else "no"
    wanted = _wanted(case, pending.intent)
    check = names if pending.intent == "add" else names_part  # an add stores the words heard
    named = any(check(question, w) for w in wanted)
    return "yes" if named or not wanted or question.endswith("a task?") else "no"


async def run_case(case: dict[str, Any], corpus: dict[str, Any], classifier: Any,
                   hear: Hear, caller: str = "strict") -> CaseResult:
    from callport.agents.base import HangUpCall, Say, TurnInfo, UserSaid
    from callport.agents.taskmanager.agent import TaskManagerAgent
    from callport.agents.taskmanager.dialog import Confirm, Guess
    from callport.store.tasks import MemoryTaskStore

    now = datetime.fromisoformat(corpus["now"])
    store = MemoryTaskStore(clock=lambda: now)
    for item in corpus["fixture"]:
        await store.add(item["title"], datetime.fromisoformat(item["due"]) if item["due"] else None)
    agent = TaskManagerAgent(store=store, classifier=classifier, now=lambda: now, offload=False)
    before = _snapshot(await store.list(include_done=True))
    res = CaseResult(case=case)
    outcome = case["outcome"]
    infos: list[TurnInfo] = []
    hung_up = False
    unconfirmed_destructive: set[int] = set()
    turns = list(case["turns"])
    answers = 0
    question = ""
    while not hung_up:
        if turns:
            said = turns.pop(0)
        elif isinstance(agent.state.pending, Confirm | Guess) and answers < 3:
            titles = {k: v[0] for k, v in before.items()}
            said = answer(caller, case, agent.state.pending, question, titles)
            answers += 1
        else:
            break
        asked_first = isinstance(agent.state.pending, Confirm)
        prior = _snapshot(await store.list(include_done=True))
        text = await hear(said, await agent.vocabulary())
        res.heard.append(text)
        async for out in agent.respond(UserSaid(text)):
            if isinstance(out, TurnInfo):
                infos.append(out)
            elif isinstance(out, Say):
                question = out.text
            elif isinstance(out, HangUpCall):
                hung_up = True
        after = _snapshot(await store.list(include_done=True))
        if not asked_first:
            for tid, (_title, _due, done) in prior.items():
                if tid not in after or (after[tid][2] and not done):
                    unconfirmed_destructive.add(tid)
    at = case.get("intent_turn", 0)
    res.intent = infos[at].intent if len(infos) > at else None
    res.intent_ok = len(infos) > at and res.intent == case["intent"]
    titles = [i.slots["title"] for i in infos if "title" in i.slots]
    dues = [i.slots["due"] for i in infos if "due" in i.slots]
    if "title" in case:
        res.slots.append(bool(titles) and same_title(titles[-1], case["title"]))
    if "due" in case:
        res.slots.append(bool(dues) and same_due(dues[-1], case["due"]))
    after = _snapshot(await store.list(include_done=True))
    by_title = {v[0]: k for k, v in before.items()}
    added = [after[k] for k in after if k not in before]
    completed = {before[k][0] for k in before if k in after and after[k][2] and not before[k][2]}
    deleted = {before[k][0] for k in before if k not in after}
    moved = {before[k][0]: after[k][1] for k in before
             if k in after and after[k][1] != before[k][1]}
    res.got = {"add": [(t, d) for t, d, _ in added], "complete": sorted(completed),
               "delete": sorted(deleted), "due": moved, "hangup": hung_up}  # fmt: skip
    want_add = list(outcome.get("add", []))
    add_ok = len(added) == len(want_add) and all(
        any(same_title(t, w["title"]) and same_due(d, w["due"]) for t, d, _ in added)
        for w in want_add)  # fmt: skip
    want_due = outcome.get("due", {})
    due_ok = set(moved) == set(want_due) and all(same_due(moved[k], v)
                                                 for k, v in want_due.items())
    res.outcome_ok = (add_ok and due_ok and completed == set(outcome.get("complete", []))
                      and deleted == set(outcome.get("delete", []))
                      and hung_up == bool(outcome.get("hangup", False)))  # fmt: skip
    for t, _d, _ in added:
        if not any(same_title(t, w["title"]) for w in want_add):
            res.wrong.append(f"added {t!r}")
    for kind, got_set in (("completed", completed), ("deleted", deleted)):
        want = set(outcome.get("complete" if kind == "completed" else "delete", []))
        for title in sorted(got_set - want):
            res.wrong.append(f"{kind} {title!r}")
            res.wrong_destructive += 1
            if by_title[title] in unconfirmed_destructive:
                res.unconfirmed_wrong_destructive += 1
    for title in sorted(set(moved) - set(want_due)):
        res.wrong.append(f"rescheduled {title!r}")
    return res


@dataclass
class Summary:
    cases: int
    intent: float
    slots: float
    outcome: float
    wrong: int
    wrong_destructive: int
    unconfirmed_wrong_destructive: int


def summarise(results: Sequence[CaseResult]) -> Summary:
    slots = [s for r in results for s in r.slots]
    return Summary(
        cases=len(results),
        intent=sum(r.intent_ok for r in results) / len(results),
        slots=sum(slots) / len(slots) if slots else 1.0,
        outcome=sum(r.outcome_ok for r in results) / len(results),
        wrong=sum(len(r.wrong) for r in results),
        wrong_destructive=sum(r.wrong_destructive for r in results),
        unconfirmed_wrong_destructive=sum(r.unconfirmed_wrong_destructive for r in results),
    )


def describe(name: str, s: Summary) -> str:
    return (f"{name:8} {s.cases:4d} cases  intent {s.intent:6.1%}  slots {s.slots:6.1%}  "
            f"outcome {s.outcome:6.1%}  wrong actions {s.wrong} (destructive "
            f"{s.wrong_destructive}, of them without a yes {s.unconfirmed_wrong_destructive})")


async def evaluate(corpus: dict[str, Any], classifier: Any, hear: Hear, *, label: str = "",
                   limit: int | None = None, verbose: bool = True, caller: str = "strict"
                   ) -> list[CaseResult]:
    results = []
    cases = corpus["cases"][:limit]
    started = time.perf_counter()
    for n, case in enumerate(cases, 1):
        res = await run_case(case, corpus, classifier, hear, caller)
        results.append(res)
        if verbose and (not res.outcome_ok or not res.intent_ok or res.wrong):
            print(f"  {label} {case['id']:16} {case['turns']!r} heard {res.heard!r}: intent "
                  f"{res.intent} (want {case['intent']}), got {res.got}"
                  + (f" WRONG {res.wrong}" if res.wrong else ""), flush=True)
        if verbose and n % 25 == 0:
            print(f"  .. {label} {n}/{len(cases)} cases, {time.perf_counter() - started:.0f} s",
                  flush=True)
    return results


async def _as_text(text: str, _hints: Sequence[str]) -> str:
    return text


# -- speech --------------------------------------------------------------------------------


def cache_dir() -> Path:
    from callport.config import data_dir

    return data_dir() / "bench" / "understanding"


def phone_line(pcm: Any, rate: int) -> Any:
    import audioop

    import numpy as np
    import soxr

    narrow = np.clip(soxr.resample(pcm, rate, 8000), -32768, 32767).astype(np.int16)
    coded = audioop.lin2ulaw(narrow.tobytes(), 2)
    return np.frombuffer(audioop.ulaw2lin(coded, 2), dtype=np.int16)


class Voice:
    """One TTS voice, its 8 kHz phone-line audio cached as WAV files by text."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tts: Any = None
        self._dir = cache_dir() / name
        self._dir.mkdir(parents=True, exist_ok=True)

    def _make(self) -> Any:
        if self.name == "piper":
            from callport.speech.piper import PiperTTS

            return PiperTTS(threads=1)
        from callport.speech.espeak import EspeakTTS

        return EspeakTTS()

    async def audio(self, text: str) -> Any:
        import numpy as np

        path = self._dir / (hashlib.sha1(text.encode()).hexdigest()[:16] + ".wav")
        if path.is_file():
            with wave.open(str(path)) as w:
                return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        if self._tts is None:
            self._tts = self._make()
        chunks = [c async for c in self._tts.synthesize(text)]
        pcm = phone_line(np.concatenate([c.pcm for c in chunks]), chunks[0].sample_rate)
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(pcm.tobytes())
        return pcm


def wer(ref: str, hyp: str) -> tuple[int, int]:
    """(word errors, reference words) after the product's normalisation."""
    from callport.nlu.text import normalize

    r, h = normalize(ref).split(), normalize(hyp).split()
    d = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        prev, d[0] = d[0], i
        for j, hw in enumerate(h, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (rw != hw))
    return d[len(h)], len(r)


def stt_eval(corpus: dict[str, Any], voices: list[Voice], models: list[str],
             limit: int | None, *, compare_hints: bool = False,
             decoding: dict[str, Any] | None = None) -> None:
    from callport.speech.whisper import WhisperSTT, whisper_model_path

    texts = sorted({t for c in corpus["cases"] for t in c["turns"]} | {"yes", "no"})[:limit]
    hints = [f["title"] for f in corpus["fixture"]]
    print(f"{len(texts)} distinct caller turns; hints: the fixture's titles")
    rows = []
    for model in models:
        path = whisper_model_path() if model == "tiny.en" else Path(model)
        for hinted in (True, False) if compare_hints else (True,):
            stt = WhisperSTT(threads=2, model_path=path, **(decoding or {}))
            stt.transcribe_sync(asyncio.run(voices[0].audio("hello")), 8000)  # load
            for voice in voices:
                errors = words = 0
                times = []
                for text in texts:
                    pcm = asyncio.run(voice.audio(text))
                    got = stt.transcribe_sync(pcm, 8000, hints=hints if hinted else ())
                    times.append(got.seconds)
                    e, n = wer(text, got.text)
                    errors, words = errors + e, words + n
                p90 = sorted(times)[int(len(times) * 0.9)]
                row = (path.name if model != "tiny.en" else "tiny.en", hinted, voice.name,
                       errors / words, statistics.median(times), p90)
                rows.append(row)
                print(f"  {row[0]:28} hints={'yes' if hinted else 'no ':3} {voice.name:7} "
                      f"WER {row[3]:6.1%}  median {row[4] * 1000:5.0f} ms  "
                      f"p90 {row[5] * 1000:5.0f} ms",
                      flush=True)
    print("\n| model | hints | voice | WER | median | p90 |\n|---|---|---|---|---|---|")
    for m, h, v, w, med, p90 in rows:
        print(f"| {m} | {'yes' if h else 'no'} | {v} | {w:.1%} | {med * 1000:.0f} ms | "
              f"{p90 * 1000:.0f} ms |")


async def spoken(corpus: dict[str, Any], classifier: Any, voices: list[Voice],
                 limit: int | None, model: str | None, *, verbose: bool = True,
                 decoding: dict[str, Any] | None = None) -> dict[str, list[CaseResult]]:
    from callport.speech.whisper import WhisperSTT

    stt = WhisperSTT(threads=2, model_path=Path(model) if model else None, **(decoding or {}))
    out: dict[str, list[CaseResult]] = {}
    heard: dict[tuple[str, str, tuple[str, ...]], str] = {}  # greedy decoding: deterministic
    for voice in voices:
        async def hear(text: str, hints: Sequence[str], voice: Voice = voice) -> str:
            key = (voice.name, text, tuple(hints))
            if key not in heard:
                pcm = await voice.audio(text)
                heard[key] = (await stt.transcribe(pcm, 8000, hints=hints)).text
            return heard[key]

        for caller in CALLERS:
            out[f"{voice.name}/{caller}"] = await evaluate(
                corpus, classifier, hear, label=voice.name, limit=limit,
                verbose=verbose and caller == "strict", caller=caller)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--text", action="store_true", help="no speech: the corpus text as heard")
    parser.add_argument("--only", choices=["piper", "espeak"])
    parser.add_argument("--limit", type=int)
    parser.add_argument("--corpus", type=Path, default=CORPUS,
                        help="cases file (default: the held-out test set; "
                        "bench/dev/taskmanager_dev.json is the tuning set)")
    parser.add_argument("--quiet", action="store_true", help="print only the totals")
    parser.add_argument("--stt-eval", action="store_true")
    parser.add_argument("--compare-hints", action="store_true",
                        help="--stt-eval: also decode without the hints")
    parser.add_argument("--model", action="append",
                        help="a CTranslate2 Whisper model directory (default: bundled tiny.en)")
    parser.add_argument("--window", type=float, default=SpeechSettings().whisper_window_s,
                        help="Whisper's encoder window in seconds (default: the product's "
                        "speech.whisper_window_s default)")
    parser.add_argument("--beam", type=int, default=1,
                        help="Whisper beam size (default 1: greedy, as the product decodes)")
    parser.add_argument("--record", action="store_true",
                        help="keep this run's totals as the previous figures (bench/previous.json)")
    args = parser.parse_args()
    from callport.agents.taskmanager.examples import build_classifier

    corpus = load_corpus(args.corpus)
    names = [args.only] if args.only else ["piper", "espeak"]
    decoding: dict[str, Any] = {"window_s": args.window, "beam_size": args.beam}
    if not args.text:
        print(f"Whisper: window {args.window:g} s, beam {args.beam}")
    started = time.perf_counter()
    if args.stt_eval:
        stt_eval(corpus, [Voice(n) for n in names], args.model or ["tiny.en"], args.limit,
                 compare_hints=args.compare_hints, decoding=decoding)
        print(f"{time.perf_counter() - started:.0f} s")
        return 0
    classifier = build_classifier()
    classifier.warm()
    by: dict[str, list[CaseResult]]
    if args.text:
        by = {f"text/{caller}": asyncio.run(evaluate(
            corpus, classifier, _as_text, label="text", limit=args.limit,
            verbose=not args.quiet and caller == "strict", caller=caller)) for caller in CALLERS}
    else:
        model = args.model[0] if args.model else None
        by = asyncio.run(spoken(corpus, classifier, [Voice(n) for n in names], args.limit, model,
                                verbose=not args.quiet, decoding=decoding))
    print(f"\n{len(corpus['cases'][:args.limit])} cases ({args.corpus.name}), "
          f"{time.perf_counter() - started:.0f} s")
    # ratios only for what the previous figures measured: the whole held-out corpus, tiny.en
    comparable = (args.corpus == CORPUS and args.limit is None and not args.model
                  and decoding == RECORDED_DECODING)
    prev = Previous.load("bench_understanding")
    ratios: list[str] = []
    for caller in CALLERS:
        print(f"caller: {caller} ({CALLER_NOTE[caller]})")
        mine = {name: rs for name, rs in by.items() if name.endswith("/" + caller)}
        rows = [(name.split("/")[0], summarise(results)) for name, results in mine.items()]
        for (mode, summary), results in zip(rows, mine.values(), strict=True):
            print(describe(mode, summary))
            per = Counter(r.case["intent"] for r in results if not r.outcome_ok)
            print(f"         outcome misses by intent: {dict(per)}")
        if len(mine) > 1:
            rows.append(("overall", summarise([r for rs in mine.values() for r in rs])))
            print(describe(*rows[-1]))
        for mode, summary in rows if comparable else []:
            figures = {"intent_pct": 100 * summary.intent, "slots_pct": 100 * summary.slots,
                       "outcome_pct": 100 * summary.outcome, "wrong_actions": summary.wrong}
            ratios.append(prev.against(f"{mode} {caller}", figures))
            prev.keep(f"{mode} {caller}", figures, load=os.getloadavg()[0])
    print("\nagainst the previous figures (new / previous):" if comparable else
          "\n(no ratios: only the whole held-out corpus on tiny.en is on record)")
    for line in ratios:
        print("  " + line)
    if args.record and comparable:
        print(f"recorded {prev.save()} rows in {prev.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
