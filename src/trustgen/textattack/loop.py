"""The attack loop of the paper as a hill climb over proposals, shared by the LLM and the random search.

Each step a proposer (the attacker LLM, or random character edits) offers ``k`` answers for the
current text. An answer is *valid* when it parses and changes the current text by
``min_changes``–``max_changes`` characters (Levenshtein) and was not tried before; valid answers are
scored by the detector in one batch, and the lowest score is accepted if it is below the current
score. The attack stops at success (score below the threshold), after ``max_steps`` accepted steps, or
after ``patience`` rejected answers in a row. A success is only reported after verification: the
detector re-scores the final text and every accepted step is re-checked against the edit bounds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from trustgen.textattack.prompt import Step, answer_prefix, parse_answer, user_message


def levenshtein(a: str, b: str, limit: int | None = None) -> int:
    """Edit distance (insertions, deletions, substitutions) between ``a`` and ``b``. With ``limit``, the
    computation stops early once the distance must exceed it and returns ``limit + 1``."""
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    if limit is not None and len(a) - len(b) > limit:
        return limit + 1
    if not b:
        return len(a)
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if limit is not None and min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


class Scorer(Protocol):
    """What the loop needs of a detector (``trustgen.textattack.detectors.Detector``)."""

    name: str
    max_chars: int | None

    def scores(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass
class Answer:
    """One proposal: the raw answer and the text parsed from it (``None``: unparseable)."""

    raw: str
    text: str | None


class Proposer(Protocol):
    """Offers ``k`` answers for the current text given the accepted history."""

    calls: int

    def propose(self, history: Sequence[Step], k: int) -> list[Answer]: ...


@dataclass
class LoopSettings:
    max_steps: int = 50
    min_changes: int = 1
    max_changes: int = 10
    threshold: float = 0.5
    patience: int = 25
    candidates: int = 8


@dataclass
class Attempt:
    """One answer in the history file: the step it answered, what it proposed and what happened to it."""

    step: int
    answer: str
    candidate: str | None
    levenshtein: int | None
    score: float | None
    # accepted | better_unused | not_lower | unparseable | unchanged | too_many_changes | too_few_changes |
    # duplicate | too_long
    status: str


@dataclass
class AttackResult:
    """The outcome for one text (``results.jsonl`` row plus the history of every attempt)."""

    text: str
    adversarial: str
    success: bool
    score_before: float
    score_after: float
    queries: int  # detector queries, the first scoring of the text included
    levenshtein: int  # original → adversarial
    steps: int = 0  # accepted steps
    llm_calls: int = 0
    answers: int = 0
    valid_answers: int = 0  # parseable and within the edit bounds
    stop: str = ""  # success | max_steps | patience | budget | error
    verified: bool | None = None  # re-checked success (None: not a claimed success)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of this process for the text (all threads): less sensitive to other jobs
    chain: list[str] = field(default_factory=list)  # accepted texts, original first
    attempts: list[Attempt] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """The ``results.jsonl`` object (no history)."""
        keep = ("text", "adversarial", "success", "score_before", "score_after", "queries", "levenshtein", "steps",
                "llm_calls", "answers", "valid_answers", "stop", "verified", "seconds", "cpu_seconds")
        return {k: getattr(self, k) for k in keep}

    def history(self) -> dict[str, Any]:
        return {"text": self.text, "chain": self.chain, "attempts": [asdict(a) for a in self.attempts]}


class LLMProposer:
    """Answers from an attacker LLM prompted with the paper's prompt (see :mod:`trustgen.textattack.prompt`)."""

    def __init__(self, llm: Any, *, prefill: bool = True, max_new_tokens: int = 500, length_slack: int = 24,
                 history_limit: int | None = None) -> None:
        self.llm, self.prefill = llm, prefill
        self.max_new_tokens, self.length_slack, self.history_limit = max_new_tokens, length_slack, history_limit

    @property
    def calls(self) -> int:
        return int(self.llm.calls)

    def visible(self, history: Sequence[Step]) -> list[Step]:
        """The history shown in the prompt: step 0 and the last ``history_limit`` accepted steps, fewer
        if the prompt would not fit the LLM's context (the oldest go first)."""
        shown = list(history)
        if self.history_limit is not None and len(shown) > self.history_limit + 1:
            shown = [shown[0], *shown[-self.history_limit:]]
        limit = getattr(self.llm, "context_length", None)
        while limit is not None and len(shown) > 2 and self._tokens(shown) > limit:
            del shown[1]
        return shown

    def _tokens(self, shown: Sequence[Step]) -> int:
        return int(self.llm.count_tokens(user_message(shown) + answer_prefix(shown))) + self.budget(shown[-1].text)

    def budget(self, text: str) -> int:
        """New tokens for one answer: the current text's length plus slack, at most ``max_new_tokens``."""
        return min(self.max_new_tokens, self.llm.count_tokens(text) + self.length_slack)

    def prompt_tokens(self, history: Sequence[Step]) -> int:
        """Tokens of the prompt plus the answer budget (what must fit the LLM's context)."""
        return self._tokens(self.visible(history))

    def propose(self, history: Sequence[Step], k: int) -> list[Answer]:
        shown = self.visible(history)
        prefix = answer_prefix(shown) if self.prefill else ""
        raw = self.llm.complete(user_message(shown), prefix=prefix, n=k, max_new_tokens=self.budget(shown[-1].text))
        return [Answer(r, parse_answer(r)) for r in raw]


def check_chain(chain: Sequence[str], settings: LoopSettings) -> bool:
    """Every accepted step changes its predecessor by ``min_changes``–``max_changes`` characters, and there
    are at most ``max_steps`` of them."""
    if len(chain) - 1 > settings.max_steps:
        return False
    return all(settings.min_changes <= levenshtein(a, b, settings.max_changes) <= settings.max_changes
               for a, b in zip(chain, chain[1:], strict=False))


def attack_text(text: str, detector: Scorer, proposer: Proposer, settings: LoopSettings,
                score_before: float | None = None) -> AttackResult:
    """Run the loop on one text (already scored at or above the threshold, or scored here)."""
    start, cpu0, calls0 = time.perf_counter(), time.process_time(), proposer.calls
    queries = 0
    if score_before is None:
        score_before = float(detector.scores([text])[0])
    queries += 1
    history = [Step(0, text, score_before)]
    current, score = text, score_before
    tried = {text}
    attempts: list[Attempt] = []
    streak = answers = valid = 0
    stop = "success" if score < settings.threshold else ""
    while not stop:
        if len(history) - 1 >= settings.max_steps:
            stop = "max_steps"
            break
        if streak >= settings.patience:
            stop = "patience"
            break
        step = len(history)
        proposals = proposer.propose(history, settings.candidates)
        answers += len(proposals)
        fresh: list[Attempt] = []
        for p in proposals:
            a = Attempt(step, p.raw, p.text, None, None, "")
            attempts.append(a)
            if p.text is None:
                a.status = "unparseable"
                continue
            a.levenshtein = levenshtein(current, p.text, settings.max_changes)
            if a.levenshtein == 0:
                a.status = "unchanged"
            elif a.levenshtein > settings.max_changes:
                a.status, a.levenshtein = "too_many_changes", None
            elif a.levenshtein < settings.min_changes:
                a.status = "too_few_changes"
            elif detector.max_chars is not None and len(p.text) > detector.max_chars:
                a.status = "too_long"
            elif p.text in tried:
                a.status = "duplicate"
                valid += 1
            else:
                valid += 1
                tried.add(p.text)
                fresh.append(a)
        if fresh:
            scored = detector.scores([a.candidate for a in fresh if a.candidate is not None])
            queries += len(fresh)
            for a, s in zip(fresh, scored, strict=True):
                a.score = float(s)
                a.status = "not_lower" if a.score >= score else "better_unused"
        better = [a for a in fresh if a.status == "better_unused"]
        if better:
            best = min(better, key=lambda a: a.score if a.score is not None else 1.0)
            best.status = "accepted"
            assert best.candidate is not None and best.score is not None
            current, score = best.candidate, best.score
            history.append(Step(step, current, score))
            streak = 0
            if score < settings.threshold:
                stop = "success"
        else:
            streak += len(proposals)
    chain = [s.text for s in history]
    verified: bool | None = None
    if stop == "success":  # re-query the detector and re-check every step's edit bounds
        verified = bool(float(detector.scores([current])[0]) < settings.threshold) and check_chain(chain, settings)
    return AttackResult(
        text=text, adversarial=current, success=bool(verified), score_before=score_before, score_after=score,
        queries=queries, levenshtein=levenshtein(text, current), steps=len(history) - 1,
        llm_calls=proposer.calls - calls0, answers=answers, valid_answers=valid, stop=stop, verified=verified,
        seconds=time.perf_counter() - start, cpu_seconds=time.process_time() - cpu0, chain=chain, attempts=attempts)
