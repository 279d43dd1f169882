"""CollaFuse on Flower's simulation engine against the in-process engine: wall time, traffic, exactness.

Runs the same experiment (digits, 3 clients, the default UNet and batch) with ``collab run``'s
in-process engine and with ``collab simulate``, one thread per process, and writes
``benchmarks/results/flower.json``: the wall-time ratio (simulation / in-process), where the
simulation's time goes (waiting for ClientApps vs. the server's own training), the traffic ratio
(bytes in Flower messages / raw tensor bytes) per training sample and per generated image, and the
difference of the server weights (0 when the two runs agree). Quoted in ``docs/collafuse-deployment.md``.

    OMP_NUM_THREADS=1 python benchmarks/bench_flower.py [--steps 40] [--local-steps 10] [--samples 50] \\
        [--timesteps 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from trustgen.collab.config import CollabSettings  # noqa: E402
from trustgen.collab.experiment import run_collab  # noqa: E402
from trustgen.collab.flower.config import FederationSettings  # noqa: E402
from trustgen.collab.flower.simulation import simulate  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "flower.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--local-steps", type=int, default=10)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--sample-steps", type=int, default=50)
    parser.add_argument("--timesteps", type=int, default=1000)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    settings = CollabSettings(steps=args.steps, samples_per_client=args.samples, sample_steps=args.sample_steps,
                              num_train_timesteps=args.timesteps, warmup_steps=min(100, args.steps // 4))
    federation = FederationSettings(local_steps=args.local_steps, join_timeout=600, round_timeout=3600)
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        local = run_collab(settings, Path(tmp) / "in-process")
        t_local = time.perf_counter() - began
        print(f"in-process: {t_local:.1f} s", flush=True)
        began = time.perf_counter()
        sim = simulate(settings, federation, Path(tmp) / "simulation", cpus=args.cpus)
        t_sim = time.perf_counter() - began
    traffic = sim["traffic"]
    result = {
        "settings": {"dataset": settings.dataset, "clients": settings.clients, "cut": settings.cut,
                     "steps": settings.steps, "T": settings.num_train_timesteps, "batch_size": settings.batch_size,
                     "local_steps": args.local_steps,
                     "samples_per_client": args.samples, "sample_steps": args.sample_steps,
                     "unet": list(settings.unet.block_out_channels)},
        "machine": {"cpus": os.cpu_count(), "threads": os.environ["OMP_NUM_THREADS"], "ray_cpus": args.cpus,
                    "python": platform.python_version()},
        "wall_seconds": {"in_process": t_local, "simulation": t_sim},
        "wall_ratio": t_sim / t_local,
        "simulation_seconds": sim["federation"]["seconds"],
        "traffic_ratio": sim["traffic_ratio"],
        "traffic_ratio_up": traffic["message_up"] / traffic["raw_up"],
        "traffic_ratio_generation": traffic["message_down_generation"] / traffic["raw_down"],
        "message_bytes_per_train_sample": traffic["message_bytes_per_train_sample"],
        "raw_bytes_per_train_sample": traffic["raw_up"] / traffic["samples_up"],
        "message_bytes_per_generated_image": traffic["message_bytes_per_generated_image"],
        "raw_bytes_per_generated_image": traffic["raw_down"] / traffic["images_down"],
        "server_weight_norm": {"in_process": local["server_weight_norm"], "simulation": sim["server_weight_norm"]},
        "server_weight_norm_difference": abs(local["server_weight_norm"] - sim["server_weight_norm"]),
        "pooled_fd_difference": abs(local["pooled"]["fd_digits"] - sim["pooled"]["fd_digits"]),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
