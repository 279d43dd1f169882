"""How long name removal fine-tunes on this machine: seconds per step at the paper's batch and at the CPU one.

The paper (Hintersdorf et al., arXiv 2310.08320) fine-tunes for 400 steps of 128 clean + 128 poisoned
captions and reports "minutes" on a GPU. This times ``--steps`` real steps of :class:`NameRemover` on the
shipped MiniLM (after one warm-up step) for each batch size and extrapolates to 400 steps. Wall time and
process CPU time are both recorded: on a shared machine the wall clock measures the neighbours too, CPU
seconds divided by the cores used do not. The ratio column compares each batch with the CPU default
(32 + 32) measured in the same process.

    python benchmarks/bench_name_removal.py --steps 5
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    import torch

    from trustgen.name_removal.backdoor import NameRemover
    from trustgen.name_removal.config import RemovalSettings
    from trustgen.name_removal.corpus import generate_captions
    from trustgen.name_removal.encoders import load_text_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--names", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "name_removal_speed.json")
    args = parser.parse_args()
    encoder = load_text_model("minilm")
    captions = generate_captions(2000, seed=0)
    names = [f"Person Number{i}" for i in range(args.names)]
    rows = []
    for clean, poison in ((32, 32), (128, 128)):
        NameRemover(RemovalSettings(names=names, steps=1, clean_batch=clean, poison_batch=poison)).fit(encoder,
                                                                                                       captions)
        wall, cpu = time.perf_counter(), time.process_time()
        NameRemover(RemovalSettings(names=names, steps=args.steps, clean_batch=clean,
                                    poison_batch=poison)).fit(encoder, captions)
        wall, cpu = (time.perf_counter() - wall) / args.steps, (time.process_time() - cpu) / args.steps
        rows.append({"clean_batch": clean, "poison_batch": poison, "wall_s_per_step": wall, "cpu_s_per_step": cpu,
                     "wall_min_400_steps": wall * 400 / 60, "cpu_min_400_steps": cpu * 400 / 60})
        print(f"{clean}+{poison}: {wall:.2f} s/step wall, {cpu:.2f} s/step CPU "
              f"-> 400 steps {wall * 400 / 60:.1f} min wall, {cpu * 400 / 60:.1f} CPU-min", flush=True)
    for row in rows:
        row["cpu_ratio_vs_32"] = row["cpu_s_per_step"] / rows[0]["cpu_s_per_step"]
    with open("/proc/loadavg", encoding="utf-8") as f:
        load = float(f.read().split()[0])
    result = {"encoder": "minilm", "names": args.names, "timed_steps": args.steps, "threads": torch.get_num_threads(),
              "load_average_1min": load, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
