"""``report.md`` of ``trustgen textattack run``: what was attacked and how, the numbers, a few examples."""

from __future__ import annotations

import time
from typing import Any

from trustgen.core.runs import metrics_table
from trustgen.textattack.config import AttackSettings
from trustgen.textattack.search import SearchSettings

__all__ = ["REPORT_KEYS", "attack_report", "method_description"]

REPORT_KEYS = ["n", "success_rate", "queries_per_success", "queries_per_text", "mean_levenshtein", "word_change_rate",
               "mean_similarity", "perplexity_ratio", "valid_answer_rate", "llm_calls", "llm_answers", "unverified",
               "skipped", "seconds_per_text"]


def method_description(s: AttackSettings, plan: SearchSettings | None = None) -> str:
    """One paragraph on the attack's rules: the LLM-search plan ``plan``, else the step-by-step loop's bounds."""
    if plan is not None:
        p = plan
        return (f"Beam search (beam {p.beam}): per step the words the detector reacts to (leave-one-out), "
                f"{p.mask_candidates} LLM next-token replacements and {p.samples} sampled rewrites for each of "
                f"the {p.words_per_step} most important words" + (", word deletions" if p.deletions else "") +
                f"; candidates below MiniLM similarity {p.similarity_floor} to the original are dropped"
                + (f", and each step changes {p.min_changes}–{p.max_changes} characters" if p.step_bound else "")
                + f"; query budget {p.query_budget or 'unlimited'} per text, at most {p.max_steps} steps.")
    return (f"Each accepted step changes {s.min_changes}–{s.max_changes} characters and lowers the score; at most "
            f"{s.max_steps} steps, stop after {s.patience} rejected answers in a row; {s.candidates} answers per step.")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def attack_report(m: dict[str, Any], rows: list[dict[str, Any]], s: AttackSettings,
                  plan: SearchSettings | None = None) -> str:
    """``report.md`` from the metrics ``m``, the per-text ``rows`` (the first five successes are shown) and the
    settings (``plan``: the LLM-search plan of an ``llm-search`` run)."""
    examples = [r for r in rows if r.get("success")][:5]
    lines = [f"# Adversarial text: {s.attacker} attack on `{m['detector']}`", "",
             f"{m['texts']} texts from `{s.data}` (seed {s.seed}); texts the detector already scored below "
             f"{s.threshold} are skipped ({m['skipped']}). " + method_description(s, plan)
             + " Every success was re-verified.", "", metrics_table(m, REPORT_KEYS), ""]
    if m.get("llm"):
        lines.insert(3, f"Attacker LLM: `{m['llm']}`.")
    if examples:
        lines += ["## Examples", "", "| original | adversarial | score before → after |", "|---|---|---|"]
        for r in examples:
            lines.append(f"| {_cell(r['text'])} | {_cell(r['adversarial'])} | "
                         f"{r['score_before']:.3f} → {r['score_after']:.3f} |")
    lines.append(f"\n_written {time.strftime('%Y-%m-%d %H:%M:%S')}_\n")
    return "\n".join(lines)
