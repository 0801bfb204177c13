"""The task a misheard title most likely means: the caller's own list, compared by sound.

On a phone line a recogniser writes what it heard: "mark pay the plumber as done" may come
back as "mark paid a plumber is done", "Delete the water plans" for "delete water the plants".
Word-by-word matching (``store.tasks.title_score``) then finds nothing. But the caller can
only mean one of their own tasks, and the list is short: ``likely_task`` compares the whole
heard phrase with each title *as a sound* (``nlu.phonetic`` keys of the words, joined, so a
word split or merged by the recogniser still lines up) and returns the one task that sounds
clearly closest. It is a guess: the agent says the task's real title back and acts only on
a yes (see ``actions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher

from callport.nlu.phonetic import sound_key
from callport.store.tasks import Task, title_words

# The least sound likeness (0..1) for a guess, and how far ahead of the next task it must be.
# A round pair checked on bench/dev/taskmanager_dev.json (see bench/README.md); a guess is
# always confirmed, so these bound how often the caller hears a wrong "Did you mean ...?".
LIKENESS = 0.6
LEAD = 0.1


def sounds(text: str) -> str:
    """The content words' sound keys, run together ("pay the plumber" -> "pa plamar")."""
    return " ".join(sound_key(w) for w in title_words(text))


def likeness(heard: str, title: str) -> float:
    """How alike ``heard`` and ``title`` sound, 0..1: the better of the sound keys' and the
    spellings' similarity (``SequenceMatcher`` ratio), the first without the spaces too."""
    a, b = sounds(heard), sounds(title)
    if not a or not b:
        return 0.0
    keyed = max(
        SequenceMatcher(None, a, b).ratio(),
        SequenceMatcher(None, a.replace(" ", ""), b.replace(" ", "")).ratio(),
    )
    spelt = SequenceMatcher(
        None, " ".join(title_words(heard)), " ".join(title_words(title))
    ).ratio()
    return max(keyed, spelt)


def likely_task(
    heard: str, tasks: Sequence[Task], *, least: float = LIKENESS, lead: float = LEAD
) -> Task | None:
    """The one task of ``tasks`` that ``heard`` sounds clearly most like, else ``None``."""
    scored = sorted(((likeness(heard, t.title), t) for t in tasks), key=lambda st: -st[0])
    if not scored or scored[0][0] < least:
        return None
    if len(scored) > 1 and scored[0][0] - scored[1][0] < lead:
        return None
    return scored[0][1]
