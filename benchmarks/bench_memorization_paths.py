"""Where does a memorized caption reach the image? Switch whole groups of value neurons off and count replications.

For each memorized caption of ``digits-memorized``: 10 generations (DDIM-25, generation seed 7, not an evaluation
seed) with (a) every neuron on, (b) every down- and mid-block ``attn2.to_v`` neuron off (what NeMo searches by
default), (c) every ``attn2.to_v`` neuron off; the largest SSIM to the caption's training image, and how many
captions still replicate (≥ 0.96). docs/memorization.md, "Where the memorization runs".

    python benchmarks/bench_memorization_paths.py --model digits-t2i-memorized
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPLICATED = 0.96


def main() -> None:
    import numpy as np

    from trustgen.core.data.memorized import memorized_pairs
    from trustgen.memorization.inputs import load_text_model
    from trustgen.memorization.layers import Neurons, all_neurons, value_layers
    from trustgen.memorization.replication import generate, pairwise_ssim

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="digits-t2i-memorized")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "memorization_paths.json")
    args = parser.parse_args()
    model = load_text_model(args.model)
    captions, images = memorized_pairs()

    def every(include_up: bool) -> Neurons:
        return all_neurons(value_layers(model.unet, include_up=include_up))

    result = {}
    for name, neurons in (("all on", {}), ("down+mid value neurons off", every(False)),
                          ("all value neurons off", every(True))):
        sims = [float(pairwise_ssim(generate(model, c, 10, 7, 25, neurons or None), img[None]).max())
                for c, img in zip(captions, images, strict=True)]
        result[name] = {"neurons_off": sum(map(len, neurons.values())), "max_ssim": sims,
                        "replicated": sum(s >= REPLICATED for s in sims), "median": float(np.median(sims))}
        print(f"{name}: {result[name]['neurons_off']} off, {result[name]['replicated']}/{len(sims)} replicated, "
              f"median {result[name]['median']:.3f}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model": args.model, "threshold": REPLICATED, **result}, indent=2) + "\n",
                        encoding="utf-8")


if __name__ == "__main__":
    main()
