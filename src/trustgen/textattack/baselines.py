"""Baselines in the same harness and on the same texts as the LLM attack.

* :class:`RandomProposer` — random character edits (insert, delete, substitute) under the same edit
  bounds, candidates per step, step limit and patience as the LLM attack (see :mod:`.loop`).
* :class:`DeepWordBug` — TextAttack's DeepWordBug recipe (Gao et al., 2018) on our detectors, when
  TextAttack is importable (an optional peer, ``requirements/textattack-peer.txt``); else
  :class:`DeepWordBugPort`, our implementation of the same recipe (TextAttack 0.3.11 does not import
  beside transformers 5: see ``docs/textattack.md``).
"""

from __future__ import annotations

import os
import re
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
    """``None`` if TextAttack's DeepWordBug can be built here, else why not (one line).

    TextAttack downloads NLTK data on its first import unless its post-install marker exists, and
    ``TA_CACHE_DIR`` makes it rewrite ``HF_HOME``/``XDG_CACHE_HOME``: the import runs with the marker in
    our cache and the environment restored afterwards."""
    from trustgen.core.cache import cache_root

    cache = cache_root() / "textattack"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "post_install_check_3").touch()
    saved = dict(os.environ)
    os.environ["TA_CACHE_DIR"] = str(cache)
    try:
        from textattack.attack_recipes import DeepWordBugGao2018  # noqa: F401

        import textattack  # noqa: F401
    except Exception as exc:  # any import-time failure of the optional peer (missing deps, downloads)
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        os.environ.clear()
        os.environ.update(saved)
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


_WORD = re.compile(r"[A-Za-z0-9']+")
DEEPWORDBUG_MAX_LEVENSHTEIN = 30
UNK = "[UNK]"


class DeepWordBugPort:
    """DeepWordBug as TextAttack builds it (``DeepWordBugGao2018``), written for our harness: rank the words
    by how much replacing each with ``[UNK]`` lowers the detector's score (greedy word-importance ranking,
    one query per word), then go through the words in that order and, for each, try one random
    neighbouring-character swap, substitution, deletion and insertion (TextAttack's ``random_one``
    transformations), keeping the best if it lowers the score. Constraints: stopwords (scikit-learn's
    English list) are never modified, no word twice, total Levenshtein ≤ 30. Stops at score < threshold
    or when the words run out (or at ``query_budget``)."""

    def __init__(self, detector: Scorer, settings: LoopSettings, query_budget: int | None = None,
                 seed: int = 0) -> None:
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        self.detector, self.settings, self.budget = detector, settings, query_budget
        self.stopwords = frozenset(ENGLISH_STOP_WORDS)
        self.rng = np.random.default_rng(seed)
        self.calls = 0

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def _variants(self, word: str) -> list[str]:
        rng, out = self.rng, []
        letters = string.ascii_lowercase
        if len(word) > 1:  # neighbouring swap
            i = int(rng.integers(len(word) - 1))
            out.append(word[:i] + word[i + 1] + word[i] + word[i + 2:])
        i = int(rng.integers(len(word)))  # substitution
        out.append(word[:i] + letters[int(rng.integers(26))] + word[i + 1:])
        if len(word) > 1:  # deletion
            i = int(rng.integers(len(word)))
            out.append(word[:i] + word[i + 1:])
        i = int(rng.integers(len(word) + 1))  # insertion
        out.append(word[:i] + letters[int(rng.integers(26))] + word[i:])
        return [v for v in out if v != word]

    def run(self, text: str, score_before: float) -> AttackResult:
        start, cpu0 = time.perf_counter(), time.process_time()
        thr = self.settings.threshold
        spans = [m.span() for m in _WORD.finditer(text)]
        words = [text[a:b] for a, b in spans]
        queries = 1
        order: list[int] = []
        allowed = [i for i, w in enumerate(words) if w.lower() not in self.stopwords]
        if allowed:
            unk = [text[:spans[i][0]] + UNK + text[spans[i][1]:] for i in allowed]
            drop = score_before - self.detector.scores(unk)
            queries += len(unk)
            order = [allowed[j] for j in np.argsort(-drop, kind="stable")]
        current, score = list(words), score_before

        def render(ws: list[str]) -> str:
            out, last = [], 0
            for (a, b), w in zip(spans, ws, strict=True):
                out += [text[last:a], w]
                last = b
            return "".join(out + [text[last:]])

        chain = [text]
        for i in order:
            if score < thr or (self.budget is not None and queries >= self.budget):
                break
            candidates = []
            for v in self._variants(words[i]):
                trial = list(current)
                trial[i] = v
                rendered = render(trial)
                if levenshtein(text, rendered, DEEPWORDBUG_MAX_LEVENSHTEIN) <= DEEPWORDBUG_MAX_LEVENSHTEIN:
                    candidates.append((trial, rendered))
            if not candidates:
                continue
            scored = self.detector.scores([r for _, r in candidates])
            queries += len(candidates)
            best = int(np.argmin(scored))
            if scored[best] < score:
                current, score = candidates[best][0], float(scored[best])
                chain.append(candidates[best][1])
        adversarial = render(current)
        verified: bool | None = None
        if score < thr:
            verified = bool(float(self.detector.scores([adversarial])[0]) < thr) and \
                levenshtein(text, adversarial) <= DEEPWORDBUG_MAX_LEVENSHTEIN
        return AttackResult(
            text=text, adversarial=adversarial, success=bool(verified), score_before=score_before, score_after=score,
            queries=queries, levenshtein=levenshtein(text, adversarial), steps=len(chain) - 1,
            stop="success" if score < thr else ("budget" if self.budget and queries >= self.budget else "exhausted"),
            verified=verified, seconds=time.perf_counter() - start, cpu_seconds=time.process_time() - cpu0,
            chain=chain)


def deepwordbug(detector: Scorer, settings: LoopSettings, query_budget: int | None = None,
                seed: int = 0) -> tuple[Any, str]:
    """TextAttack's DeepWordBug when TextAttack imports here, else our port; with which one ran."""
    why = textattack_available()
    if why is None:
        import textattack

        return DeepWordBug(detector, settings, query_budget), f"textattack {textattack.__version__}"
    return DeepWordBugPort(detector, settings, query_budget, seed), f"trustgen port (TextAttack: {why})"
