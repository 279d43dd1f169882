"""A short fine-tune of the cross-attention weights (the direction of Hintersdorf et al., 2025, *Finding Dori*:
memorization is not local enough to prune). A memorized caption is trained to predict what the frozen model predicts
for the empty prompt (its non-memorized, unconditional behaviour) while a distillation loss holds every other
caption's prediction to the frozen model's. The x0 pool is the frozen model's own samples for the utility captions,
so no training data is needed."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace
from typing import Any

from trustgen.core.errors import TrustgenError
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.diffusion.text import TextFeatures
from trustgen.memorization.config import MitigationSettings
from trustgen.memorization.mitigation.base import Mitigation, initial_latents, sample_features

__all__ = ["FinetuneMitigation", "finetune_unet"]


@dataclass
class FinetuneMitigation(Mitigation):
    """Cross-attention weights fine-tuned: memorized captions → the frozen model's empty-prompt prediction."""

    unet: Any = None

    def prepare(self, model: DiffusionModel, memorized: list[str], utility: list[str], *,
                progress: bool = False) -> None:
        self.unet, stats = finetune_unet(model, memorized, utility, self.s, steps=self.info.get("steps", 25),
                                         progress=progress)
        self.setup_unet_evals += stats["unet_evals"]
        self.setup_seconds += stats["seconds"]
        self.info |= {k: v for k, v in stats.items() if k not in ("unet_evals", "seconds")}

    def mitigated_model(self, model: DiffusionModel) -> DiffusionModel:
        if self.unet is None:
            raise TrustgenError("finetune: prepare() first")
        return replace(model, unet=self.unet)


def finetune_unet(model: DiffusionModel, memorized: list[str], utility: list[str], s: MitigationSettings, *,
                  steps: int = 25, progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """A copy of the UNet whose cross-attention (``attn2``) weights are trained for ``s.ft_steps`` steps on
    L = ‖ε_θ(x_t, c_mem) − ε_θ0(x_t, ∅)‖² + λ·‖ε_θ(x_t, c_util) − ε_θ0(x_t, c_util)‖², x_t noised from the frozen
    model's own samples of the utility captions. Returns the UNet and training statistics."""
    import torch

    from trustgen.core.progress import track
    from trustgen.diffusion.models import text_inputs
    from trustgen.memorization.hooks import count_unet_evals

    if not memorized:
        raise TrustgenError("finetune needs at least one memorized caption")
    if not utility:
        raise TrustgenError("finetune needs non-memorized captions for its utility loss")
    start = time.perf_counter()
    enc = model.text_encoder
    teacher = model.unet
    g = torch.Generator().manual_seed(s.seed)
    with count_unet_evals(teacher) as teacher_evals:
        pool_prompts = [utility[i % len(utility)] for i in range(s.ft_images)]
        feats = enc.encode(pool_prompts)  # type: ignore[union-attr]
        x0 = sample_features(model, feats, initial_latents(model, s.ft_images, s.seed + 3000), steps,
                             decode_out=False)
    student = copy.deepcopy(teacher).train()
    params = []
    for name, p in student.named_parameters():
        p.requires_grad_(".attn2." in name)
        if ".attn2." in name:
            params.append(p)
    if not params:
        raise TrustgenError("finetune needs a UNet with cross-attention layers (attn2)")
    optimizer = torch.optim.Adam(params, lr=s.ft_lr)
    from diffusers import DDPMScheduler

    noise_sched = DDPMScheduler.from_config(model.scheduler_config)
    mem_feats = enc.encode(memorized)  # type: ignore[union-attr]
    util_feats = enc.encode(list(dict.fromkeys(utility)))  # type: ignore[union-attr]
    null = enc.encode([""])  # type: ignore[union-attr]
    T = model.num_train_timesteps
    b = s.ft_batch
    losses: list[tuple[float, float]] = []
    student_evals = 0
    for _ in track(range(s.ft_steps), description="fine-tuning cross-attention", enabled=progress):
        rows = torch.randint(0, len(x0), (2 * b,), generator=g)
        t = torch.randint(0, T, (2 * b,), generator=g)
        noise = torch.randn((2 * b, *x0.shape[1:]), generator=g)
        xt = noise_sched.add_noise(x0[rows], noise, t)
        mem = mem_feats[torch.randint(0, len(mem_feats), (b,), generator=g)]
        util = util_feats[torch.randint(0, len(util_feats), (b,), generator=g)]
        with torch.no_grad(), count_unet_evals(teacher) as te:
            target_mem = teacher(xt[:b], t[:b], **text_inputs(teacher, null.expand(b))).sample
            target_util = teacher(xt[b:], t[b:], **text_inputs(teacher, util)).sample
        teacher_evals[0] += te[0]
        both = TextFeatures.cat([mem, util])
        pred = student(xt, t, **text_inputs(student, both)).sample
        student_evals += 2 * b
        forget = torch.nn.functional.mse_loss(pred[:b], target_mem)
        keep = torch.nn.functional.mse_loss(pred[b:], target_util)
        loss = forget + s.ft_utility_weight * keep
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append((float(forget.detach()), float(keep.detach())))
    student.eval().requires_grad_(False)
    return student, {"unet_evals": teacher_evals[0] + student_evals, "seconds": time.perf_counter() - start,
                     "trained": "attn2 (cross-attention) weights", "num_trained_parameters": sum(p.numel()
                                                                                                  for p in params),
                     "ft_steps": s.ft_steps, "forget_loss_first_last": [losses[0][0], losses[-1][0]],
                     "utility_loss_first_last": [losses[0][1], losses[-1][1]],
                     "note": "backward passes are not counted in unet_evals (about 2 forward passes each)"}
