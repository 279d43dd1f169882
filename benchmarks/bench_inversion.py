"""Speed of PPA's latent optimisation against a bare PyTorch loop doing the same passes, in one process.

Both sides optimise the same latents of the same generator against the same target (the shipped
``mi-digits-target-hard`` and ``mi-digits-generator`` when present, else fresh networks of the same shapes) with
the same per-step work: generator forward, a per-image random resized crop, target forward, the Poincaré loss,
backward, Adam step. trustgen's side is :meth:`PlugAndPlayAttack.optimize` (batching, frozen target, lr schedule,
loss bookkeeping); the bare side is a plain loop written with torch calls only. Rounds are interleaved (A, B, A, B,
…) so machine noise hits both; the result is a ratio of steps per second (trustgen / bare, the goal is ≥ 0.9),
from wall-clock and from this process's CPU time (robust when other jobs share the machine), written to
``benchmarks/results/inversion_speed.json`` and quoted in ``docs/inversion.md``.

    python benchmarks/bench_inversion.py [--rounds 5] [--steps 20] [--latents 250] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from trustgen.classifiers.bundle import Classifier
from trustgen.inversion.config import AttackSettings, OptimizationSettings
from trustgen.inversion.ppa import PlugAndPlayAttack
from trustgen.inversion.vae import DecoderGenerator

RESULTS = Path(__file__).resolve().parent / "results" / "inversion_speed.json"


def load_models() -> tuple[Classifier, DecoderGenerator, str]:
    from trustgen.core.zoo import is_zoo_name

    if is_zoo_name("mi-digits-target-hard") and is_zoo_name("mi-digits-generator"):
        from trustgen.classifiers.bundle import load_classifier
        from trustgen.inversion.vae import load_generator

        return load_classifier("mi-digits-target-hard"), load_generator("mi-digits-generator"), "zoo"
    from trustgen.classifiers.config import ArchitectureSettings
    from trustgen.classifiers.models import build_network
    from trustgen.inversion.vae import Decoder

    torch.manual_seed(0)
    arch = ArchitectureSettings()
    target = Classifier(build_network(arch, 1, 5), classes=[0, 1, 2, 3, 4], class_names=list("01234"),
                        dataset="digits", image_shape=(1, 16, 16), architecture=arch.model_dump()).eval()
    gen = DecoderGenerator(Decoder(16, (1, 16, 16), [32, 64]), 16, (1, 16, 16), {"widths": [32, 64]}).eval()
    for p in gen.parameters():
        p.requires_grad_(False)
    return target, gen, "fresh networks (zoo models not built)"


def bare_loop(target: torch.nn.Module, gen: torch.nn.Module, w0: torch.Tensor, t: torch.Tensor, steps: int,
              o: OptimizationSettings) -> None:
    """The same passes as PPA's optimisation, written plainly."""
    target.eval()
    for p in target.parameters():
        p.requires_grad_(False)
    rng = torch.Generator().manual_seed(0)
    w = w0.clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=o.lr, betas=o.betas)
    n = len(w)
    for _ in range(steps):
        x = gen(w)
        area = torch.rand(n, generator=rng) * (o.crop_scale[1] - o.crop_scale[0]) + o.crop_scale[0]
        r = torch.exp(torch.rand(n, generator=rng) * (math.log(o.crop_ratio[1]) - math.log(o.crop_ratio[0]))
                      + math.log(o.crop_ratio[0]))
        sw, sh = torch.sqrt(area * r).clamp(max=1), torch.sqrt(area / r).clamp(max=1)
        cx, cy = (torch.rand(n, generator=rng) * 2 - 1) * (1 - sw), (torch.rand(n, generator=rng) * 2 - 1) * (1 - sh)
        torch.rand(n, generator=rng)  # the flip draw
        zero = torch.zeros(n)
        theta = torch.stack([torch.stack([sw, zero, cx], 1), torch.stack([zero, sh, cy], 1)], 1)
        x = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), padding_mode="border",
                          align_corners=False)
        logits = target(x)
        u = logits / logits.abs().sum(1, keepdim=True)
        v = (F.one_hot(t, logits.shape[1]).float() - o.xi).clamp(0, 1)
        delta = 2 * ((u - v) ** 2).sum(1) / ((1 - (u * u).sum(1)) * (1 - (v * v).sum(1)))
        loss = torch.arccosh(1 + delta).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--latents", type=int, default=250)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    target, gen, source = load_models()
    o = OptimizationSettings(steps=args.steps, batch_size=args.latents)
    attack = PlugAndPlayAttack(target, gen, AttackSettings(optimization=o, device="cpu"))
    w0 = gen.sample_latents(args.latents, generator=torch.Generator().manual_seed(0), truncation=0.5)
    t = torch.arange(args.latents) % target.num_classes
    ours: list[tuple[float, float]] = []
    bare: list[tuple[float, float]] = []
    timed(lambda: bare_loop(target, gen, w0, t, 2, o))  # warm-up
    timed(lambda: attack.optimize(w0, t, torch.Generator().manual_seed(0)))
    for _ in range(args.rounds):
        ours.append(timed(lambda: attack.optimize(w0, t, torch.Generator().manual_seed(0))))
        bare.append(timed(lambda: bare_loop(target, gen, w0, t, args.steps, o)))
    ours_wall, bare_wall = statistics.median(a for a, _ in ours), statistics.median(a for a, _ in bare)
    ours_cpu, bare_cpu = statistics.median(b for _, b in ours), statistics.median(b for _, b in bare)
    result = {
        "what": "PPA latent optimisation steps/s (generator + crop + target + Poincaré + Adam), trustgen vs bare",
        "models": source, "latents_per_step": args.latents, "steps_per_round": args.steps, "rounds": args.rounds,
        "threads": args.threads, "torch": torch.__version__, "machine": platform.machine(),
        "trustgen_steps_per_s": round(args.steps / ours_wall, 3), "bare_steps_per_s": round(args.steps / bare_wall, 3),
        "ratio_wall": round(bare_wall / ours_wall, 3), "ratio_cpu": round(bare_cpu / ours_cpu, 3), "goal": 0.9,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
