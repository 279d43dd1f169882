"""Run metrics of an attack: success, cost, and how much the adversarial texts differ from the originals.

Over the attacked texts (those scored at or above the threshold; the rest are counted as skipped):

* ``success_rate`` — verified successes / attacked texts;
* ``queries_per_text`` — detector queries per attacked text; ``queries_per_success`` — all queries of the
  run / successes (the cost of one success; ``None`` without a success); ``mean_queries_successful``;
* ``mean_levenshtein`` — characters changed (original → adversarial), mean over successes;
* ``word_change_rate`` — share of the original's words that changed (word-level edit distance / words),
  mean over successes;
* ``mean_similarity`` — MiniLM cosine (all-MiniLM-L6-v2) of original and adversarial, mean over successes;
* ``perplexity_ratio`` — geometric mean over successes of perplexity(adversarial) / perplexity(original)
  under the local LM (SmolLM2-135M-Instruct): > 1 means less natural text;
* ``valid_answer_rate`` — answers that parsed and changed the text by the allowed number of characters /
  all answers (LLM and random attackers);
* ``llm_calls``, ``llm_answers``, ``seconds_per_text`` (wall clock), ``cpu_seconds_per_text`` (this
  process's CPU time: the cost without the waiting for other jobs), ``unverified`` (claimed successes
  that failed the final re-check, counted as failures).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from trustgen.textattack.loop import levenshtein


def word_change_rate(original: str, adversarial: str) -> float:
    """Word-level edit distance between the texts / number of words of the original."""
    a, b = original.split(), adversarial.split()
    if not a:
        return 0.0
    vocab: dict[str, str] = {}
    code = lambda words: "".join(vocab.setdefault(w, chr(0x4E00 + len(vocab))) for w in words)  # noqa: E731
    return levenshtein(code(a), code(b)) / len(a)


def _mean(values: Sequence[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else None


Similarity = Callable[[list[str], list[str]], list[float]]
Perplexity = Callable[[list[str]], list[float]]


def summarize(rows: Sequence[dict[str, Any]], *, similarity: Similarity | None = None,
              perplexity: Perplexity | None = None) -> dict[str, Any]:
    """Metrics of a run from its ``results.jsonl`` rows (skipped rows carry a ``skipped`` reason)."""
    attacked = [r for r in rows if not r.get("skipped")]
    skipped = [r for r in rows if r.get("skipped")]
    wins = [r for r in attacked if r["success"]]
    n = len(attacked)
    queries = sum(int(r["queries"]) for r in attacked)
    answers = sum(int(r.get("answers", 0)) for r in attacked)
    seconds = sum(float(r.get("seconds", 0.0)) for r in attacked)
    calls = sum(int(r.get("llm_calls", 0)) for r in attacked)
    m: dict[str, Any] = {
        "n": n,
        "success_rate": len(wins) / n if n else None,
        "successes": len(wins),
        "queries_per_success": queries / len(wins) if wins else None,
        "queries_per_text": queries / n if n else None,
        "mean_queries_successful": _mean([r["queries"] for r in wins]),
        "mean_levenshtein": _mean([r["levenshtein"] for r in wins]),
        "word_change_rate": _mean([word_change_rate(r["text"], r["adversarial"]) for r in wins]),
        "mean_similarity": None,
        "perplexity_ratio": None,
        "valid_answer_rate": sum(int(r.get("valid_answers", 0)) for r in attacked) / answers if answers else None,
        "llm_calls": calls,
        "llm_answers": answers,
        "mean_steps_successful": _mean([r.get("steps", 0) for r in wins]),
        "unverified": sum(1 for r in attacked if r.get("verified") is False),
        "skipped": len(skipped),
        "skipped_reasons": {k: sum(1 for r in skipped if r["skipped"] == k)
                            for k in sorted({r["skipped"] for r in skipped})},
        "seconds_per_text": seconds / n if n else None,
        "cpu_seconds_per_text": (sum(float(r["cpu_seconds"]) for r in attacked) / n
                                 if n and all("cpu_seconds" in r for r in attacked) else None),
        "llm_calls_per_s": calls / seconds if seconds and calls else None,
    }
    if wins and similarity is not None:
        m["mean_similarity"] = _mean(similarity([r["text"] for r in wins], [r["adversarial"] for r in wins]))
    if wins and perplexity is not None:
        before = perplexity([r["text"] for r in wins])
        after = perplexity([r["adversarial"] for r in wins])
        logs = [math.log(a / b) for a, b in zip(after, before, strict=True)
                if math.isfinite(a) and math.isfinite(b) and a > 0 and b > 0]
        m["perplexity_ratio"] = float(math.exp(np.mean(logs))) if logs else None
    return m


def minilm_similarity() -> Callable[[list[str], list[str]], list[float]]:
    """Cosine similarity of all-MiniLM-L6-v2 sentence embeddings (mean pooling, as sentence-transformers),
    through :func:`trustgen.textattack.detectors.minilm.embed`: the same model in memory as the
    ``minilm-offensive`` detector, loaded once per process."""
    from trustgen.textattack.detectors.minilm import embed

    def cosine(a: list[str], b: list[str]) -> list[float]:
        return [float(x) for x in np.sum(embed(a) * embed(b), axis=1)]

    return cosine


def minilm_similarity_to() -> Callable[[str, list[str]], np.ndarray]:
    """``(original, texts) -> cosine of each text to the original`` with the same MiniLM as
    :func:`minilm_similarity` (the LLM-search attacker's meaning constraint); the original's embedding is
    kept between calls."""
    from trustgen.textattack.detectors.minilm import embed

    memo: dict[str, np.ndarray] = {}

    def cosine(original: str, texts: list[str]) -> np.ndarray:
        if original not in memo:
            memo.clear()
            memo[original] = embed([original])[0]
        return np.asarray(embed(texts) @ memo[original], dtype=np.float64)

    return cosine
