"""Memorization mitigations side by side: NeMo, Wen et al.'s embedding optimisation, Ren et al.'s attention
re-weighting and a cross-attention fine-tune, on the same captions and seeds (``evaluate --compare``).

docs/memorization.md, "Mitigations compared". NeMo's neurons are read from the seed-0 ``evaluate`` run
(``benchmarks/results/memorization_evaluate_seed0.json``, same model, seed and settings) instead of searching again;
the image threshold is that run's (0.955) so both tables judge replication alike.

    python benchmarks/bench_memorization_compare.py embed_step=2 embed_target_loss=none ft_steps=300 ft_lr=3e-4
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    from trustgen.memorization import CompareSettings, MitigationSettings, run_compare

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    parser.add_argument("--model", default="digits-t2i-memorized")
    parser.add_argument("--methods", default="nemo,embedding,attention,finetune")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--per-digit", type=int, default=20)
    parser.add_argument("--run", type=Path, default=Path("runs/bench-memorization-compare"))
    parser.add_argument("--out", type=Path, default=RESULTS / "memorization_compare_seed0.json")
    args = parser.parse_args()
    evaluate = json.loads((RESULTS / "memorization_evaluate_seed0.json").read_text())
    settings = MitigationSettings(**dict(kv.split("=", 1) for kv in args.overrides))
    if args.run.exists():
        shutil.rmtree(args.run)
    run_settings = CompareSettings(model=args.model, seed=0, methods=args.methods.split(","),
                                   per_digit=args.per_digit, limit=args.limit,
                                   nemo_from=RESULTS / "memorization_evaluate_seed0.json",
                                   image_threshold=float(evaluate["image_threshold"]), mitigation=settings)
    metrics = run_compare(run_settings, args.run, progress=True)
    args.out.write_text(json.dumps(metrics, indent=2) + "\n")
    for name, r in metrics["methods"].items():
        print(name, {k: v for k, v in r.items() if k not in ("per_caption", "mitigation")})


if __name__ == "__main__":
    main()
