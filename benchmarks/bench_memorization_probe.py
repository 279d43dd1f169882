"""NeMo detection AUROC against the probe step (docs/memorization.md, "Probe step").

For each caption, one deterministic DDIM-50 chain (10 seeds, no guidance) is run once and every probe step is
scored from it: the paper's noise difference δ = ε(x_{t_{i+1}}) − x_T and trustgen's adapted
δ = ε(x_t) − x_t/√(1−ᾱ_t) (equal at i = 0), each as the largest pairwise MS-SSIM over seeds; AUROC of the
memorized captions against non-memorized ones. Wen et al.'s norm at the same steps is reported too.
Run on a tuning seed (default 1), not on the evaluation seed 0:

    python benchmarks/bench_memorization_probe.py --model digits-t2i-memorized --seed 1
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

STEPS = [0, 2, 4, 6, 8, 10, 12, 14, 16, 17, 18, 20, 24, 30]


def main() -> None:
    import numpy as np
    import torch

    from trustgen.core.safe_io import read_json
    from trustgen.diffusion.bundle import resolve_model_path
    from trustgen.diffusion.sampling import Conditioning, predict_noise
    from trustgen.memorization.detection import auroc, make_probe, pairwise_ms_ssim, total_snr
    from trustgen.memorization.inputs import load_text_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="digits-t2i-memorized")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--negatives", default="calibration", choices=["calibration", "nonmemorized"])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "memorization_probe.json")
    args = parser.parse_args()
    model = load_text_model(args.model)
    lists = read_json(resolve_model_path(args.model) / "memorization_captions.json")
    scores: dict[str, dict[int, dict[str, list[float]]]] = {}
    dims = int(np.prod(model.image_shape))
    timesteps: list[int] = []
    for group, prompts in (("memorized", lists["memorized"]), ("other", lists[args.negatives])):
        for prompt in prompts:
            probe = make_probe(model, prompt, seeds=10, seed=args.seed, steps=50, probe_step=0)
            sch = probe.scheduler
            timesteps = [int(t) for t in sch.timesteps]
            x, x_T = probe.latents, probe.latents
            cond = Conditioning(text=probe.text.expand(len(x)), guidance_scale=1.0)
            null = Conditioning(text=probe.null_text.expand(len(x)), guidance_scale=1.0)
            eps_at, x_at, wen = [], [], {}
            with torch.no_grad():
                for i, t in enumerate(timesteps[:max(STEPS) + 2]):
                    eps = predict_noise(model, x, t, cond)
                    if i in STEPS:
                        wen[i] = float((eps - predict_noise(model, x, t, null)).flatten(1).norm(dim=1).mean())
                    eps_at.append(eps)
                    x_at.append(x)
                    x = sch.step(eps, t, x).prev_sample
            for i in STEPS:
                a = float(sch.alphas_cumprod[timesteps[i + 1]])
                paper = eps_at[i + 1] - x_T
                adapted = paper if i == 0 else eps_at[i + 1] - x_at[i + 1] / (1 - a) ** 0.5
                for name, value in (("nemo_paper_delta", float(pairwise_ms_ssim(paper).max())),
                                    ("nemo_adapted_delta", float(pairwise_ms_ssim(adapted).max())),
                                    ("wen", wen[i])):
                    scores.setdefault(name, {}).setdefault(i, {"memorized": [], "other": []})[group].append(value)
    rows = []
    for i in STEPS:
        t = timesteps[i]
        row = {"probe_step": i, "t": t, "total_snr": total_snr(float(probe.scheduler.alphas_cumprod[t]), dims)}
        for name, by_step in scores.items():
            g = by_step[i]
            row[f"{name}_auroc"] = auroc(g["memorized"], g["other"])
            row[f"{name}_median_memorized"] = float(np.median(g["memorized"]))
            row[f"{name}_median_other"] = float(np.median(g["other"]))
        rows.append(row)
    result = {"model": args.model, "seed": args.seed, "negatives": args.negatives,
              "num_memorized": len(lists["memorized"]), "num_other": len(lists[args.negatives]), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| probe step i | t_i | total SNR | NeMo AUROC (paper δ) | NeMo AUROC (adapted δ) | Wen AUROC |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['probe_step']} | {r['t']} | {r['total_snr']:.2f} | {r['nemo_paper_delta_auroc']:.2f} | "
              f"{r['nemo_adapted_delta_auroc']:.2f} | {r['wen_auroc']:.2f} |")


if __name__ == "__main__":
    main()
