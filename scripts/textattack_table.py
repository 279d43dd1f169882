"""The side-by-side tables of docs/textattack.md from run folders (finished or still running).

Metrics are recomputed from each folder's ``results.jsonl`` (so a run stopped early is reported with the
``n`` it reached), with the same MiniLM similarity and SmolLM2 perplexity as ``metrics.json``.

    python scripts/textattack_table.py RUNS_DIR [--json OUT.json] [--previous OLD.json] [--first N]

RUNS_DIR holds folders named ``<attacker>-<detector>`` (e.g. ``llm-hatesonar``, ``llm-search-hatesonar``,
``random-hatesonar``). ``--previous`` (an earlier ``--json`` file, e.g. ``benchmarks/results/textattack_runs.json``)
supplies the rows whose folders are not in RUNS_DIR.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from trustgen.textattack.experiment import read_rows
from trustgen.textattack.llm import TransformersLLM, smollm2_path
from trustgen.textattack.metrics import minilm_similarity, summarize

DETECTORS = ["minilm-offensive", "alt-profanity-check", "hatesonar", "toxic-comment-classifier"]
ATTACKERS = ["llm", "llm-search", "deepwordbug", "random"]


def fmt(v, digits=3):
    return "–" if v is None else (f"{v:.{digits}g}" if isinstance(v, float) else str(v))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--previous", type=Path)
    parser.add_argument("--first", type=int, help="only the first N drawn texts of every run (the same texts)")
    args = parser.parse_args()
    previous = json.loads(args.previous.read_text(encoding="utf-8")) if args.previous else {}
    models: dict[str, object] = {}

    def similarity(a, b):
        models.setdefault("sim", minilm_similarity())
        return models["sim"](a, b)

    def perplexity(texts):
        models.setdefault("lm", TransformersLLM(smollm2_path()).perplexity)
        return models["lm"](texts)

    table: dict[str, dict[str, dict]] = {}
    for det in DETECTORS:
        for atk in ATTACKERS:
            folder = args.runs / f"{atk}-{det}"
            rows = read_rows(folder / "results.jsonl")
            if args.first is not None:
                rows = [r for r in rows if int(r["index"]) < args.first]
            if not rows:
                if atk in previous.get(det, {}):
                    table.setdefault(det, {})[atk] = previous[det][atk]
                continue
            done = folder / "metrics.json"
            attacked = sum(1 for r in rows if not r.get("skipped"))
            if args.first is None and done.is_file() and json.loads(done.read_text())["n"] == attacked:
                table.setdefault(det, {})[atk] = json.loads(done.read_text())  # a finished run: its own metrics
            else:  # still running or stopped early: recompute over the texts it finished
                table.setdefault(det, {})[atk] = summarize(rows, similarity=similarity, perplexity=perplexity)
    for det in DETECTORS:
        by = {atk: table[det][atk] for atk in ATTACKERS if atk in table.get(det, {})}
        if not by:
            continue
        print(f"\n**{det}**\n")
        print("| attacker | n (skipped) | success rate | queries / success | Levenshtein | word change | similarity "
              "| perplexity ratio | valid answers | s / text | CPU s / text |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for atk, m in by.items():
            print(f"| {atk} | {m['n']} ({m['skipped']}) | {fmt(m['success_rate'])} | {fmt(m['queries_per_success'])} "
                  f"| {fmt(m['mean_levenshtein'])} | {fmt(m['word_change_rate'])} | {fmt(m['mean_similarity'])} "
                  f"| {fmt(m['perplexity_ratio'])} | {fmt(m['valid_answer_rate']) if atk == 'llm' else '–'} "
                  f"| {fmt(m['seconds_per_text'])} | {fmt(m.get('cpu_seconds_per_text'))} |")
    if args.json:
        args.json.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
