"""Throughput of trustgen's diffusion training step and sampler against bare diffusers, in one process.

Both sides use the same UNet (the digits-ddpm recipe), batch and thread count; runs are
interleaved (A, B, A, B, ...) so machine noise hits both. The result is a ratio
(trustgen throughput / bare throughput; ≥ 0.95 is the target) written to
``benchmarks/results/diffusion.json`` and quoted in ``docs/diffusion.md``.

    python benchmarks/bench_diffusion.py [--rounds 5] [--steps 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from diffusers import DDPMPipeline, DDPMScheduler  # noqa: E402

from trustgen.core.config import read_yaml  # noqa: E402
from trustgen.core.data import load_dataset  # noqa: E402
from trustgen.diffusion.config import DiffusionTrainSettings  # noqa: E402
from trustgen.diffusion.sampling import sample  # noqa: E402
from trustgen.diffusion.training import new_model, train_diffusion  # noqa: E402

RECIPE = Path(__file__).resolve().parent.parent / "scripts" / "zoo" / "digits-ddpm.yaml"
RESULTS = Path(__file__).resolve().parent / "results" / "diffusion.json"


def bare_train_seconds(settings: DiffusionTrainSettings, data: torch.Tensor, steps: int) -> float:
    """Seconds per step of a minimal diffusers training loop (the baseline)."""
    model = new_model(settings, load_dataset(settings.dataset))
    unet = model.unet.train()
    sched = DDPMScheduler.from_config(model.scheduler_config)
    opt = torch.optim.AdamW(unet.parameters(), lr=settings.lr)
    g = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        x0 = data[torch.randint(0, len(data), (settings.batch_size,), generator=g)]
        t = torch.randint(0, sched.config.num_train_timesteps, (settings.batch_size,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        loss = F.mse_loss(unet(sched.add_noise(x0, noise, t), t).sample, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def trustgen_train_seconds(settings: DiffusionTrainSettings, dataset, steps: int) -> float:
    """Seconds per step of trustgen's training loop (EMA, LR schedule, seeded draws included)."""
    stamps: list[float] = []
    run = settings.model_copy(update={"steps": steps + 1})
    start = time.perf_counter()
    train_diffusion(run, dataset, on_step=lambda step, loss: stamps.append(time.perf_counter()))
    deltas = [b - a for a, b in zip([start, *stamps[:-1]], stamps, strict=True)]
    return statistics.median(deltas[1:])


def sample_seconds(model, batch: int, steps: int, bare: bool) -> float:
    start = time.perf_counter()
    if bare:
        pipe = DDPMPipeline(unet=model.unet, scheduler=DDPMScheduler.from_config(model.scheduler_config))
        pipe.set_progress_bar_config(disable=True)
        pipe(batch_size=batch, num_inference_steps=steps, generator=torch.Generator().manual_seed(0), output_type="np")
    else:
        sample(model, batch, sampler="ddpm", steps=steps, seed=0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="training steps per round and side")
    parser.add_argument("--sample-steps", type=int, default=100)
    parser.add_argument("--sample-batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    settings = DiffusionTrainSettings.model_validate(read_yaml(RECIPE))
    dataset = load_dataset(settings.dataset)
    ours, bare, s_ours, s_bare = [], [], [], []
    model = new_model(settings, dataset).to("cpu")
    model.unet.eval()
    for r in range(args.rounds):
        bare.append(bare_train_seconds(settings, dataset.images, args.steps))
        ours.append(trustgen_train_seconds(settings, dataset, args.steps))
        s_bare.append(sample_seconds(model, args.sample_batch, args.sample_steps, bare=True))
        s_ours.append(sample_seconds(model, args.sample_batch, args.sample_steps, bare=False))
        print(f"round {r}: train {ours[-1]:.3f}s vs bare {bare[-1]:.3f}s; "
              f"sample {s_ours[-1]:.2f}s vs bare {s_bare[-1]:.2f}s", flush=True)
    result = {
        "config": {"recipe": str(RECIPE.name), "batch_size": settings.batch_size, "threads": args.threads,
                   "rounds": args.rounds, "train_steps_per_round": args.steps,
                   "sample_batch": args.sample_batch, "sample_steps": args.sample_steps,
                   "torch": torch.__version__, "machine": platform.machine(), "cpus": os.cpu_count()},
        "train_step_seconds": {"trustgen": statistics.median(ours), "bare_diffusers": statistics.median(bare)},
        "sample_seconds": {"trustgen": statistics.median(s_ours), "bare_diffusers": statistics.median(s_bare)},
    }
    result["train_throughput_ratio"] = result["train_step_seconds"]["bare_diffusers"] / result[
        "train_step_seconds"]["trustgen"]
    result["sample_throughput_ratio"] = result["sample_seconds"]["bare_diffusers"] / result["sample_seconds"][
        "trustgen"]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
