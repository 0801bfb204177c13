"""The understanding corpus (bench/corpus/taskmanager.json, the held-out test set) stays apart
from the training examples and from the tuning set (bench/dev/), and the text-only evaluation
on it (bench/bench_understanding.py, no STT) does not fall below the figures measured
(2026-12-02, after the keyword vote, grammar titles and asking back unsure actions: intent
85.2 %, slots 89.6 %, outcome 83.9 %, 5 wrong actions, 0 destructive; before: 78.1 / 86.5 /
79.4 %, 5 wrong actions; later, with changes to no listed task asked back as adds: 85.2 /
91.7 / 85.2 %, 5 wrong actions, for the lenient and the strict simulated caller alike)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

from callport.agents.taskmanager.examples import EXAMPLES, OUT_OF_SCOPE
from callport.nlu.intents import IntentClassifier
from callport.nlu.text import normalize

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_understanding.py"
# floors a little under the measured figures (see the module docstring)
INTENT_FLOOR, SLOT_FLOOR, OUTCOME_FLOOR, WRONG_CEILING = 0.82, 0.89, 0.83, 7
DEV = BENCH.parent / "dev"
CORPUS_DIR = BENCH.parent / "corpus"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_understanding", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_no_corpus_utterance_is_a_training_example() -> None:
    corpus = _bench().load_corpus()
    trained = {normalize(p) for phrases in EXAMPLES.values() for p in phrases}
    trained |= {normalize(p) for p in OUT_OF_SCOPE}
    said = [t for case in corpus["cases"] for t in case["turns"]]
    assert len(corpus["cases"]) >= 150
    assert {c["intent"] for c in corpus["cases"]} >= set(EXAMPLES) - {"yes", "no"} | {None}
    assert [t for t in said if normalize(t) in trained] == []


def test_the_tuning_sets_are_apart_from_the_test_sets_and_the_examples() -> None:
    bench = _bench()
    test_said = {normalize(t) for case in bench.load_corpus()["cases"] for t in case["turns"]}
    dev = bench.load_corpus(DEV / "taskmanager_dev.json")
    dev_said = {normalize(t) for case in dev["cases"] for t in case["turns"]}
    trained = {normalize(p) for phrases in EXAMPLES.values() for p in phrases}
    assert len(dev["cases"]) >= 40
    assert dev_said & test_said == set() and dev_said & trained == set()
    ivr_test = {normalize(p) for f in CORPUS_DIR.glob("ivr_*.json")
                for ps in json.loads(f.read_text())["phrases"].values() for p in ps}
    ivr_dev = {normalize(p) for f in DEV.glob("ivr_*.json")
               for ps in json.loads(f.read_text())["phrases"].values() for p in ps}
    assert len(ivr_test) >= 100 and ivr_dev and ivr_dev & ivr_test == set()


def test_the_checker_sees_a_training_example() -> None:
    # negative control: the normalised comparison catches a copy with other case/punctuation
    example = EXAMPLES["add"][1]
    assert normalize(example.upper() + "!") in {normalize(p) for p in EXAMPLES["add"]}


async def test_text_only_understanding_stays_above_the_floor(
    classifier: IntentClassifier,
) -> None:
    bench = _bench()
    results = await bench.evaluate(bench.load_corpus(), classifier, bench._as_text, verbose=False)
    summary = bench.summarise(results)
    assert summary.cases >= 150
    assert summary.intent >= INTENT_FLOOR, summary
    assert summary.slots >= SLOT_FLOOR, summary
    assert summary.outcome >= OUTCOME_FLOOR, summary
    assert summary.wrong <= WRONG_CEILING, summary
    assert summary.unconfirmed_wrong_destructive == 0, summary


def test_the_strict_simulated_caller_says_no_to_a_task_it_did_not_ask_about() -> None:
    from callport.agents.taskmanager.dialog import Confirm, Guess

    bench = _bench()
    case = {"intent": "complete", "outcome": {"complete": ["buy milk"]}}
    right = Confirm("complete", (1,), "Mark buy milk as done?", "buy milk")
    wrong = Confirm("complete", (2,), "Mark call mom as done?", "call mom")
    titles = {1: "buy milk", 2: "call mom"}
    assert bench.answer("strict", case, right, right.question, titles) == "yes"
    assert bench.answer("strict", case, wrong, wrong.question, titles) == "no"
    assert bench.answer("lenient", case, wrong, wrong.question, titles) == "yes"  # the old rule
    # heard as the ear hears it: "by" sounds like "buy"
    assert bench.answer("strict", case, right, "Mark by milk as done?", titles) == "yes"
    deleting = Confirm("delete", (1,), "Delete buy milk?", "buy milk")
    assert bench.answer("strict", case, deleting, deleting.question, titles) == "no"
    add = {"intent": "add", "outcome": {"add": [{"title": "pay rent", "due": None}]}}
    garbled = Guess("add", "add bay rent")
    assert bench.answer("strict", add, garbled, "Did you want me to add play rant?", {}) == "no"
    assert bench.answer("strict", add, garbled, "Did you want me to add pay rent?", {}) == "yes"


def test_every_expected_move_changes_the_due_date() -> None:
    """A case that expects a task moved to the day it is already due on cannot be told apart
    from doing nothing (the outcome compares what changed): no corpus may hold one."""
    bench = _bench()
    for corpus in (bench.load_corpus(), bench.load_corpus(DEV / "taskmanager_dev.json")):
        due_before = {item["title"]: (item["due"] or "")[:10] for item in corpus["fixture"]}
        same = [case["id"] for case in corpus["cases"]
                for title, due in case.get("outcome", {}).get("due", {}).items()
                if due_before.get(title) == due[:10]]
        assert same == []
