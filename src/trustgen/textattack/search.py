"""LLM-search: the paper's small attacker LLM used where it is strong, inside a detector-guided beam search.

Struppek et al. (arXiv 2402.09132) let an LLM rewrite the whole text a few characters per step; with a
135M model that loop rarely makes a targeted edit (``docs/textattack.md``). This attacker (ours, issue 22)
keeps the LLM as the source of *natural* edits and lets the detector's scores steer:

1. **Which words does the detector react to?** Leave-one-out: each word of every beam text is deleted and
   the deletions are scored in one detector batch (queries counted); the importance of a word is the score
   drop. The deletions are candidates too (``deletions``).
2. **What could replace them?** For the ``words_per_step`` most important words the LLM proposes
   replacements under a "rewrite it politely, change few words" prompt whose answer is prefilled with the
   text itself: the next-token distribution at each word's first token gives the ``mask_candidates`` most
   likely other words, completed greedily as one batch — one forward pass for all positions, no sampling
   (:meth:`~trustgen.textattack.llm.TransformersLLM.word_candidates`). Optionally ``samples`` sampled
   rewrites of the text from that word on (one prefill, a batch of answers). An endpoint without logits
   (``OpenAIChatLLM``) gives generated rewrites only, with the word to replace named in the prompt.
3. **Meaning constraint.** Candidates whose MiniLM (all-MiniLM-L6-v2) cosine similarity to the original
   text is below ``similarity_floor`` are dropped before the detector sees them; with ``step_bound`` the
   paper's per-step edit bound (``min_changes``–``max_changes`` characters of Levenshtein) applies too.
4. **Beam.** The remaining candidates are scored in one detector batch; children that lower their
   parent's score form the pool, and the ``beam`` lowest-scoring ones are the next step's texts. The
   search stops at success (a score below the threshold: of the successful candidates the one most similar
   to the original is taken), when no child lowers a score (``exhausted``), after ``max_steps`` steps, or
   when the next batch would exceed ``query_budget`` detector queries (the text's first scoring included).

A success is verified as in :mod:`.loop`: the detector re-scores the final text, its similarity to the
original is recomputed, and the step limit (and, with ``step_bound``, every step's edit bound) is re-checked.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trustgen.core.errors import TrustgenError
from trustgen.textattack.loop import AttackResult, Attempt, LoopSettings, Scorer, check_chain, levenshtein
from trustgen.textattack.prompt import parse_answer, rewrite_message

WORD = re.compile(r"[A-Za-z0-9']+")  # words, as the DeepWordBug port splits them

Similarity = Callable[[str, list[str]], np.ndarray]  # (original, texts) -> cosine of each text to the original


def word_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the words of ``text``."""
    return [m.span() for m in WORD.finditer(text)]


def delete_span(text: str, span: tuple[int, int]) -> str:
    """``text`` without ``text[a:b]`` and one adjacent space (the one before it if there is one)."""
    a, b = span
    if a > 0 and text[a - 1] == " ":
        a -= 1
    elif b < len(text) and text[b] == " ":
        b += 1
    return text[:a] + text[b:]


def _same_case(new: str, old: str) -> bool:
    """An all-capitals replacement only for an all-capitals word ("lady" for "bitch", not "ASSASSIN")."""
    return not (len(new) > 1 and new.isupper()) or old.isupper()


def replace_span(text: str, span: tuple[int, int], new: str) -> str:
    return text[: span[0]] + new + text[span[1]:]


@dataclass
class SearchSettings:
    """Settings of :class:`LLMSearch` (``AttackSettings`` maps onto them; the defaults are ours)."""

    beam: int = 3  # texts kept per step
    similarity_floor: float = 0.7  # MiniLM cosine to the original, at least
    words_per_step: int = 2  # most important words of each beam text that get LLM candidates
    mask_candidates: int = 12  # next-token candidates per word (0: none; needs a local LM)
    samples: int = 0  # sampled rewrites per word (the only source for an endpoint)
    deletions: bool = True  # the leave-one-out deletions are candidates too
    step_bound: bool = False  # the paper's per-step Levenshtein bound (min_changes..max_changes)
    query_budget: int | None = None  # detector queries per text (None: unlimited)
    max_steps: int = 50
    min_changes: int = 1
    max_changes: int = 10
    threshold: float = 0.5
    extend: int = 2  # extra tokens to complete a candidate word
    length_slack: int = 12  # sampled rewrites: new tokens beyond the text's own

    def __post_init__(self) -> None:
        if self.beam < 1:
            raise TrustgenError(f"beam must be at least 1, got {self.beam}")
        if not 0.0 <= self.similarity_floor <= 1.0:
            raise TrustgenError(f"similarity_floor must lie in [0, 1], got {self.similarity_floor}")
        if self.mask_candidates == 0 and self.samples == 0:
            raise TrustgenError("llm-search needs mask_candidates > 0 or samples > 0: the LLM proposes nothing")

    def step_need(self, text: str) -> int:
        """Detector queries of the first step on ``text``: its scoring, the leave-one-out deletions of every
        word and the candidates for the ``words_per_step`` most important words."""
        words = len(word_spans(text))
        return 1 + words + min(self.words_per_step, words) * (self.mask_candidates + self.samples)

    def loop(self) -> LoopSettings:
        return LoopSettings(max_steps=self.max_steps, min_changes=self.min_changes, max_changes=self.max_changes,
                            threshold=self.threshold)


@dataclass
class Node:
    text: str
    score: float
    similarity: float
    chain: list[str] = field(default_factory=list)  # accepted texts, original first


@dataclass
class Proposal:
    text: str | None
    what: str  # how it was made, for the history: "delete 'w'", "mask 'w' -> 'v'", "sample 'w': ..."
    parent: Node


class LLMSearch:
    """The LLM-search attacker: leave-one-out word importance, LLM-proposed replacements, MiniLM similarity
    floor, detector-scored beam (see the module docstring)."""

    def __init__(self, llm: Any, detector: Scorer, similarity: Similarity, settings: SearchSettings) -> None:
        if settings.samples == 0 and not getattr(llm, "has_logits", False):
            raise TrustgenError(f"the LLM {getattr(llm, 'name', llm)} gives no next-token distributions (an "
                                "endpoint): llm-search needs search_samples >= 1 to generate candidates")
        self.llm, self.detector, self.similarity, self.settings = llm, detector, similarity, settings

    @property
    def calls(self) -> int:
        return int(self.llm.calls)

    def run(self, text: str, score_before: float) -> AttackResult:
        """Attack one text already scored (``score_before``, one query) at or above the threshold."""
        s = self.settings
        start, cpu0, calls0 = time.perf_counter(), time.process_time(), self.llm.calls
        scores: dict[str, float] = {text: score_before}
        sims: dict[str, float] = {text: 1.0}
        state = {"queries": 1, "budget_hit": False}
        attempts: list[Attempt] = []
        answers = valid = 0

        def score(texts: list[str]) -> None:
            new = list(dict.fromkeys(t for t in texts if t not in scores))
            if s.query_budget is not None:
                room = s.query_budget - state["queries"]
                if len(new) > room:
                    new, state["budget_hit"] = new[: max(room, 0)], True
            if new:
                for t, v in zip(new, self.detector.scores(new), strict=True):
                    scores[t] = float(v)
                state["queries"] += len(new)

        def similar(texts: list[str]) -> None:
            new = list(dict.fromkeys(t for t in texts if t not in sims))
            if new:
                for t, v in zip(new, self.similarity(text, new), strict=True):
                    sims[t] = float(v)

        root = Node(text, score_before, 1.0, [text])
        beam, best, stop, chosen = [root], root, "", root
        step = 0
        while not stop:
            if step >= s.max_steps:
                stop = "max_steps"
                break
            step += 1
            proposals: list[Proposal] = []
            # 1. leave-one-out importance of every word of every beam text (the deletions are candidates)
            spans_of = {id(n): word_spans(n.text) for n in beam}
            deletions = {id(n): [delete_span(n.text, sp) for sp in spans_of[id(n)]] for n in beam}
            score([t for n in beam for t in deletions[id(n)]])
            for n in beam:
                spans = spans_of[id(n)]
                drops = [n.score - scores.get(t, n.score) for t in deletions[id(n)]]
                if s.deletions:
                    proposals += [Proposal(t, f"delete {n.text[a:b]!r}", n)
                                  for t, (a, b) in zip(deletions[id(n)], spans, strict=True)]
                order = [spans[i] for i in np.argsort(-np.asarray(drops), kind="stable")[: s.words_per_step]]
                # 2. the LLM's replacements of the most important words
                proposals += self._propose(n, order)
            # 3. constraints, then 4. one detector batch
            seen_before = set(scores) | sims.keys()
            fresh: list[tuple[Proposal, Attempt]] = []
            tried: set[str] = set()
            for p in proposals:
                answers += 1
                a = Attempt(step, p.what, p.text, None, None, "")
                attempts.append(a)
                if p.text is None:
                    a.status = "unparseable"
                elif p.text == p.parent.text:
                    a.status = "unchanged"
                elif self.detector.max_chars is not None and len(p.text) > self.detector.max_chars:
                    a.status = "too_long"
                elif p.text in tried or (p.text in seen_before and not p.what.startswith("delete")):
                    a.status = "duplicate"
                else:
                    if s.step_bound:
                        a.levenshtein = levenshtein(p.parent.text, p.text, s.max_changes)
                        if not s.min_changes <= a.levenshtein <= s.max_changes:
                            a.status = "too_many_changes" if a.levenshtein > s.max_changes else "too_few_changes"
                            continue
                    tried.add(p.text)
                    fresh.append((p, a))
            similar([p.text for p, _ in fresh if p.text is not None])
            kept = []
            for p, a in fresh:
                assert p.text is not None
                if sims[p.text] < s.similarity_floor:
                    a.status = "below_similarity"
                else:
                    kept.append((p, a))
            score([p.text for p, _ in kept if p.text is not None])
            children: dict[str, tuple[Node, Attempt]] = {}
            for p, a in kept:
                assert p.text is not None
                if p.text not in scores:
                    a.status = "over_budget"
                    continue
                valid += 1
                a.score = scores[p.text]
                if a.score >= p.parent.score:
                    a.status = "not_lower"
                    continue
                a.status = "better_unused"
                old = children.get(p.text)
                if old is None or old[0].score > a.score:
                    children[p.text] = (Node(p.text, a.score, sims[p.text], [*p.parent.chain, p.text]), a)
            pool = sorted(children.values(), key=lambda c: c[0].score)
            wins = [c for c in pool if c[0].score < s.threshold]
            if wins:
                node, a = max(wins, key=lambda c: (c[0].similarity, -c[0].score))
                a.status, chosen, stop = "accepted", node, "success"
                break
            beam = [c[0] for c in pool[: s.beam]]
            for c in pool[: s.beam]:
                c[1].status = "accepted"
            if beam and beam[0].score < best.score:
                best = beam[0]
            if state["budget_hit"]:
                stop = "budget"
            elif not beam:
                stop = "exhausted"
        if stop != "success":
            chosen = best
        verified: bool | None = None
        if stop == "success":
            final = chosen.text
            again = float(self.detector.scores([final])[0])
            similarity = float(self.similarity(text, [final])[0])
            verified = (again < s.threshold and similarity >= s.similarity_floor - 1e-6
                        and len(chosen.chain) - 1 <= s.max_steps
                        and (not s.step_bound or check_chain(chosen.chain, s.loop())))
        return AttackResult(
            text=text, adversarial=chosen.text, success=bool(verified), score_before=score_before,
            score_after=chosen.score, queries=state["queries"], levenshtein=levenshtein(text, chosen.text),
            steps=len(chosen.chain) - 1, llm_calls=self.llm.calls - calls0, answers=answers, valid_answers=valid,
            stop=stop, verified=verified, seconds=time.perf_counter() - start,
            cpu_seconds=time.process_time() - cpu0, chain=chosen.chain,
            attempts=attempts)

    def _propose(self, node: Node, spans: Sequence[tuple[int, int]]) -> list[Proposal]:
        s, text = self.settings, node.text
        out: list[Proposal] = []
        if not spans:
            return out
        if s.mask_candidates and getattr(self.llm, "has_logits", False):
            words = self.llm.word_candidates(rewrite_message(text), "|", text, list(spans), s.mask_candidates,
                                             extend=s.extend)
            for (a, b), options in zip(spans, words, strict=True):
                out += [Proposal(replace_span(text, (a, b), w), f"mask {text[a:b]!r} -> {w!r}", node)
                        for w in options if w.lower() != text[a:b].lower() and _same_case(w, text[a:b])]
        if s.samples:
            budget = self.llm.count_tokens(text) + s.length_slack
            for a, b in spans:
                if getattr(self.llm, "has_logits", False):  # a local LM: the answer is prefilled up to the word
                    raw = self.llm.complete(rewrite_message(text), prefix="|" + text[:a].rstrip(), n=s.samples,
                                            max_new_tokens=budget)
                else:  # an endpoint: the prompt names the word
                    raw = self.llm.complete(rewrite_message(text, text[a:b]), n=s.samples, max_new_tokens=budget)
                out += [Proposal(parse_answer(r), f"sample {text[a:b]!r}: {r[:200]}", node) for r in raw]
        return out


__all__ = ["LLMSearch", "SearchSettings", "Similarity", "delete_span", "replace_span", "word_spans"]
