"""Baselines in the same harness and on the same texts as the LLM attack.

* :class:`RandomProposer` — random character edits (insert, delete, substitute) under the same edit
  bounds, candidates per step, step limit and patience as the LLM attack (see :mod:`.loop`).
* :func:`deepwordbug_attack` — TextAttack's DeepWordBug recipe (Gao et al., 2018) on our detectors, when
  TextAttack is importable (an optional peer, ``requirements/textattack-peer.txt``).
"""

from __future__ import annotations

import string
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from trustgen.core.errors import TrustgenError
from trustgen.textattack.loop import Answer, AttackResult, LoopSettings, Scorer, levenshtein
from trustgen.textattack.prompt import Step

ALPHABET = string.ascii_lowercase + string.digits + ".,'*-_ "


def random_edit(text: str, edits: int, rng: np.random.Generator) -> str:
    """``edits`` random single-character insertions, deletions or substitutions of ``text``."""
    chars = list(text)
    for _ in range(edits):
        op = rng.integers(3) if chars else 0
        pos = int(rng.integers(len(chars) + (op == 0)))
        new = ALPHABET[int(rng.integers(len(ALPHABET)))]
        if op == 0:
            chars.insert(pos, new)
        elif op == 1:
            del chars[pos]
        else:
            chars[pos] = new
    return "".join(chars)


class RandomProposer:
    """Random character-edit search: each answer applies 1–``max_changes`` random edits to the current
    text (redrawn until its Levenshtein distance lies in the bounds)."""

    def __init__(self, settings: LoopSettings, seed: int = 0) -> None:
        self.settings = settings
        self.rng = np.random.default_rng(seed)
        self.calls = 0

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def propose(self, history: Sequence[Step], k: int) -> list[Answer]:
        self.calls += 1
        current, out = history[-1].text, []
        lo, hi = max(1, self.settings.min_changes), self.settings.max_changes
        for _ in range(k):
            for _ in range(100):
                candidate = random_edit(current, int(self.rng.integers(lo, hi + 1)), self.rng)
                if lo <= levenshtein(current, candidate, hi) <= hi:
                    break
            out.append(Answer(candidate, candidate))
        return out


def textattack_available() -> str | None:
    """``None`` if TextAttack's DeepWordBug can be built here, else why not (one line)."""
    try:
        import textattack  # noqa: F401
        from textattack.attack_recipes import DeepWordBugGao2018  # noqa: F401
    except Exception as exc:  # any import-time failure of the optional peer (missing deps, downloads)
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


class _Wrapper:
    """A TextAttack ``ModelWrapper`` over a detector: texts → [P(not offensive), P(offensive)]."""

    def __init__(self, detector: Scorer) -> None:
        self.detector, self.model = detector, detector
        self.queries = 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        p = np.asarray(self.detector.scores(list(texts)), dtype=np.float64)
        self.queries += len(texts)
        return np.stack([1 - p, p], axis=1)


class DeepWordBug:
    """TextAttack's DeepWordBug (Gao et al., 2018): greedy word-importance ranking with the ``unk`` method,
    then character swaps/substitutions/deletions/insertions in the ranked words, under its own constraints
    (total Levenshtein ≤ 30, no stopwords, no word modified twice). Its goal: the detector's argmax leaves
    the offensive class, i.e. the score falls below 0.5."""

    def __init__(self, detector: Scorer, settings: LoopSettings, query_budget: int | None = None) -> None:
        why = textattack_available()
        if why is not None:
            raise TrustgenError(f"TextAttack's DeepWordBug is not available ({why}); install the optional peer: "
                                "pip install --no-deps --target .peers -r requirements/textattack-peer.txt "
                                "and run with PYTHONPATH=.peers")
        from textattack.attack_recipes import DeepWordBugGao2018

        if settings.threshold != 0.5:
            raise TrustgenError("DeepWordBug's goal is the detector's argmax: it needs threshold=0.5")
        self.detector, self.settings = detector, settings
        self.wrapper = _Wrapper(detector)
        self.attack = DeepWordBugGao2018.build(self.wrapper)
        if query_budget is not None:
            self.attack.goal_function.query_budget = query_budget
        self.calls = 0

    def run(self, text: str, score_before: float) -> AttackResult:
        from textattack.attack_results import SkippedAttackResult, SuccessfulAttackResult

        start, q0 = time.perf_counter(), self.wrapper.queries
        result: Any = self.attack.attack(text, 1)
        adversarial = str(result.perturbed_result.attacked_text.text)
        if isinstance(result, SkippedAttackResult):
            adversarial = text
        score = float(self.detector.scores([adversarial])[0])
        claimed = isinstance(result, SuccessfulAttackResult)
        verified = bool(score < self.settings.threshold) if claimed else None
        queries = 1 + self.wrapper.queries - q0  # our first scoring plus TextAttack's
        return AttackResult(
            text=text, adversarial=adversarial, success=bool(verified), score_before=score_before,
            score_after=score, queries=queries, levenshtein=levenshtein(text, adversarial),
            stop="success" if claimed else type(result).__name__, verified=verified,
            seconds=time.perf_counter() - start, chain=[text, adversarial])
