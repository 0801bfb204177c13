"""Intent classification: sentence embeddings against example phrases, with an explicit "no idea".

Each intent is described by example phrases. They are embedded once (the embeddings are cached
per classifier); an utterance scores, for each intent, the mean of its two best cosine
similarities with that intent's examples (max-cosine, smoothed against one lucky example). The
best intent wins only when its score clears ``threshold`` *and* beats the runner-up by
``margin``; otherwise the result is out of scope (``intent is None``). Example phrases of things the
application does *not* do (``out_of_scope``) sharpen that edge: when they win, the result is
out of scope too.

Short answers are where embeddings are weak ("yes", "nope", "cancel" sit close to everything),
so ``keywords`` lets an application pin whole utterances to an intent deterministically; those
results carry score 1.0 and skip the model. ``boosts`` are softer: a regex cue found anywhere in
the utterance (a leading command verb such as "delete" or "postpone") adds ``boost`` to that
intent's score, because a long task title can drown the verb in the sentence embedding.

``lexical`` weighs a second, learnt view in: ``nlu.lexical.CueIndex`` finds the examples'
specific words (stemmed, or sounding alike) in the utterance and adds ``lexical`` times that
keyword evidence (0..1) to each intent's score, so the two views vote together.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from callport.nlu.lexical import CueIndex
from callport.nlu.text import normalize

OUT_OF_SCOPE = "out_of_scope"
"""The pseudo-intent of the ``out_of_scope`` examples: winning it means ``intent is None``."""

Embedder = Callable[[Sequence[str]], NDArray[np.float32]]


@dataclass(frozen=True, slots=True)
class IntentResult:
    """What an utterance means: ``intent`` is ``None`` when it is out of scope."""

    intent: str | None
    score: float
    runner_up: str | None = None
    runner_up_score: float = 0.0
    best_guess: str | None = None  # the top intent even when rejected, for logs
    via: str = "embedding"  # "embedding", "keyword" or "empty"


class IntentClassifier:
    """Nearest-example intent classifier with a threshold and a margin rule."""

    def __init__(
        self,
        *,
        examples: Mapping[str, Sequence[str]],
        embedder: Embedder | None = None,
        keywords: Mapping[str, Sequence[str]] | None = None,
        out_of_scope: Sequence[str] = (),
        boosts: Mapping[str, Sequence[str]] | None = None,
        boost: float = 0.1,
        threshold: float = 0.55,
        margin: float = 0.03,
        top_k: int = 2,
        lexical: float = 0.0,
    ) -> None:
        if not examples or any(not phrases for phrases in examples.values()):
            raise ValueError("every intent needs at least one example phrase")
        if embedder is None:
            from callport.nlu.embed import embed

            embedder = embed
        self._embed = embedder
        examples = dict(examples)
        if out_of_scope:
            examples[OUT_OF_SCOPE] = list(out_of_scope)
        self._intents = tuple(examples)
        self._phrases = [normalize(p) for intent in self._intents for p in examples[intent]]
        self._owner = np.array(
            [i for i, intent in enumerate(self._intents) for _ in examples[intent]]
        )
        self._matrix: NDArray[np.float32] | None = None
        self._keywords: list[tuple[re.Pattern[str], str]] = []
        for intent, patterns in (keywords or {}).items():
            for pattern in patterns:
                self._keywords.append((re.compile(rf"^(?:{pattern})$"), intent))
        self._boosts: list[tuple[re.Pattern[str], int]] = []
        for intent, patterns in (boosts or {}).items():
            if intent not in self._intents:
                raise ValueError(f"boost for unknown intent {intent!r}")
            for pattern in patterns:
                self._boosts.append((re.compile(pattern), self._intents.index(intent)))
        self._boost = boost
        self.threshold = threshold
        self.margin = margin
        self._top_k = top_k
        self.lexical = lexical
        self._cues = CueIndex(examples) if lexical else None

    @property
    def intents(self) -> tuple[str, ...]:
        return tuple(i for i in self._intents if i != OUT_OF_SCOPE)

    def warm(self) -> None:
        """Embed the examples now (otherwise on the first ``classify``)."""
        if self._matrix is None:
            self._matrix = self._embed(self._phrases)

    def keyword(self, text: str) -> str | None:
        """The intent a whole utterance is pinned to by keywords, if any."""
        norm = normalize(text)
        for pattern, intent in self._keywords:
            if pattern.match(norm):
                return intent
        return None

    def classify(self, text: str) -> IntentResult:
        norm = normalize(text)
        if not norm:
            return IntentResult(None, 0.0, via="empty")
        pinned = self.keyword(norm)
        if pinned is not None:
            return IntentResult(pinned, 1.0, via="keyword", best_guess=pinned)
        return self.rank(self._embed([norm])[0], text=norm)

    def rank(self, vector: NDArray[np.float32], *, text: str = "") -> IntentResult:
        """Score a unit utterance embedding (of normalised ``text``) against the examples."""
        self.warm()
        assert self._matrix is not None
        sims = self._matrix @ vector
        scores = np.full(len(self._intents), -1.0)
        for i in range(len(self._intents)):
            own = np.sort(sims[self._owner == i])[::-1][: self._top_k]
            scores[i] = float(own.mean())
        boosted = {i for pattern, i in self._boosts if pattern.search(text)}
        for i in boosted:
            scores[i] += self._boost
        if self._cues is not None and text:
            evidence = self._cues.evidence(text)
            for i, intent in enumerate(self._intents):
                scores[i] += self.lexical * evidence[intent]
        order = np.argsort(scores)[::-1]
        best = int(order[0])
        second = int(order[1]) if len(order) > 1 else None
        best_score = float(scores[best])
        second_score = float(scores[second]) if second is not None else -1.0
        accepted = (
            best_score >= self.threshold
            and best_score - second_score >= self.margin
            and self._intents[best] != OUT_OF_SCOPE
        )
        return IntentResult(
            intent=self._intents[best] if accepted else None,
            score=min(best_score, 1.0),
            runner_up=self._intents[second] if second is not None else None,
            runner_up_score=second_score,
            best_guess=self._intents[best],
        )
