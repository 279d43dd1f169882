"""NeMo's neuron search against exhaustive single-neuron ablation, same model, same probe, same process.

For each of the first ``--captions`` memorized captions of the model's card: NeMo localization (initial selection +
refinement, ``trustgen.memorization.localization.localize``) and exhaustive ablation (every searched value neuron
switched off alone, then a greedy set in order of the drop, ``exhaustive_ablation``). Reports UNet evaluations and
wall time of both, their ratio, the neurons each found and whether the found set brings the memorization below the
threshold. The threshold and activation statistics are calibrated first on the card's calibration captions.

    python benchmarks/bench_memorization_localize.py --model digits-t2i-memorized --captions 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    from trustgen.core.safe_io import read_json
    from trustgen.diffusion.bundle import resolve_model_path
    from trustgen.memorization.calibration import calibrate
    from trustgen.memorization.config import NemoSettings, effective_settings
    from trustgen.memorization.inputs import load_text_model
    from trustgen.memorization.localization import exhaustive_ablation, exhaustive_evals, localize

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="digits-t2i-memorized")
    parser.add_argument("--captions", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="detection seed")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "memorization_localize.json")
    args = parser.parse_args()
    model = load_text_model(args.model)
    s = effective_settings(NemoSettings(seed=args.seed), model.meta)
    lists = read_json(resolve_model_path(args.model) / "memorization_captions.json")
    start = time.perf_counter()
    calib, stats = calibrate(model, lists["calibration"], s)
    calibration_seconds = time.perf_counter() - start
    tau = calib["threshold"]
    rows = []
    for caption in lists["memorized"][:args.captions]:
        start = time.perf_counter()
        loc = localize(model, caption, stats, tau, s)
        nemo_seconds = time.perf_counter() - start
        start = time.perf_counter()
        ablation = exhaustive_ablation(model, caption, tau, s)
        exhaustive_seconds = time.perf_counter() - start
        if ablation is None:
            rows.append({"caption": caption, "memorized": False})
            continue
        kept = sum(v > tau for v in loc.detection.seed_scores)
        row = {"caption": caption, "memorized": True, "nemo": loc.to_dict(), "exhaustive": ablation.to_dict(),
               "nemo_seconds": nemo_seconds, "exhaustive_seconds": exhaustive_seconds,
               "exhaustive_unet_evals_predicted": exhaustive_evals(model, s, kept, loc.probe_step),
               "evals_ratio_single": ablation.unet_evals_single / loc.unet_evals,
               "evals_ratio_with_greedy": ablation.unet_evals / loc.unet_evals,
               "seconds_ratio": exhaustive_seconds / nemo_seconds}
        rows.append(row)
        print(f"{caption!r}: NeMo {loc.unet_evals} evals, {nemo_seconds:.0f} s, {row['nemo']['num_neurons']} neurons; "
              f"exhaustive {ablation.unet_evals_single} (+ greedy {ablation.unet_evals - ablation.unet_evals_single})"
              f" evals, {exhaustive_seconds:.0f} s, {ablation.to_dict()['num_selected']} neurons; "
              f"ratio {row['evals_ratio_single']:.2f}× evals, {row['seconds_ratio']:.2f}× time", flush=True)
    result = {"model": args.model, "seed": args.seed, "threshold": tau, "settings": s.model_dump(mode="json"),
              "calibration_seconds": calibration_seconds, "captions": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
