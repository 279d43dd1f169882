"""Four ways to stop a text-to-image model from reproducing a memorized caption's training image.

* ``nemo`` — switch off the value neurons NeMo localizes (Hintersdorf et al., NeurIPS 2024); a weight patch.
* ``embedding`` — Wen, Liu, Chen, Lyu, *Detecting, Explaining, and Mitigating Memorization in Diffusion Models*,
  ICLR 2024, inference-time mitigation: before sampling, a few AdamW steps on the prompt's token features (the
  beginning token frozen) lower the text-conditional noise norm ‖ε(x_t, e) − ε(x_t, ∅)‖₂ of the batch's own
  initial latents, stopping at a target loss; the image is then sampled from the optimised features.
* ``attention`` — Ren, Li, Zeng, Xu, Lyu, Xing, Tang, *Unveiling and Mitigating Memorization in Text-to-image
  Diffusion Models through Cross Attention*, ECCV 2024, inference-time mitigation: in every cross-attention layer
  and step the beginning token's attention logits are multiplied by ``c1`` (1.25) and the summary tokens (the end
  token and the padding after it) are masked out, which spreads the attention that memorized prompts concentrate
  on a few trigger tokens.
* ``finetune`` — a short fine-tune of the cross-attention weights (the direction of Hintersdorf et al., 2025,
  *Finding Dori*: memorization is not local enough to prune): a memorized caption is trained to predict what the
  frozen model predicts for the empty prompt (its non-memorized, unconditional behaviour) while a distillation loss
  holds every other caption's prediction to the frozen model's. The x0 pool is the frozen model's own samples for
  the utility captions, so no training data is needed.

Every mitigation generates through :meth:`Mitigation.generate` (same initial latents as
:func:`trustgen.diffusion.sampling.sample` for the same seed) and exposes the mitigated forward pass for the
re-trigger search (:mod:`.retrigger`). No I/O here.
"""

from __future__ import annotations

import copy
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

from trustgen.core.errors import TrustgenError
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.diffusion.text import TextFeatures
from trustgen.memorization.config import MITIGATION_METHODS, MitigationSettings
from trustgen.memorization.layers import Neurons, as_pairs, count

__all__ = ["Mitigation", "make_mitigation", "sample_features", "initial_latents"]


def initial_latents(model: DiffusionModel, n: int, seed: int) -> Any:
    """x_T for ``n`` samples from a generator seeded with ``seed`` — the latents ``sample`` draws for that seed."""
    import torch

    g = torch.Generator(device=model.device).manual_seed(seed)
    return torch.randn((n, *model.image_shape), generator=g, device=model.device)


def _cond(model: DiffusionModel, text: TextFeatures, n: int) -> Any:
    from trustgen.diffusion.sampling import Conditioning

    rows = text if len(text) == n else text.expand(n)
    null = model.text_encoder.encode([""])  # type: ignore[union-attr]
    return Conditioning(text=rows, null_text=null, guidance_scale=float(model.meta.get("guidance_scale", 1.0)))


def sample_features(model: DiffusionModel, text: TextFeatures, x: Any, steps: int, *, start: int = 0,
                    stop: int | None = None, decode_out: bool = True) -> Any:
    """Run the DDIM-``steps`` chain over timesteps[start:stop] from ``x`` conditioned on ``text`` (one row or one per
    sample); the decoded images in [-1, 1] when the chain ends (``decode_out``), else the latents."""
    from trustgen.diffusion.sampling import decode, denoise, make_scheduler

    scheduler = make_scheduler(model, "ddim", steps)
    timesteps = [int(t) for t in scheduler.timesteps][start:stop]
    x = denoise(model, x * scheduler.init_noise_sigma if start == 0 else x, scheduler, timesteps,
                _cond(model, text, len(x)))
    return decode(model, x).clamp(-1, 1).float().cpu() if decode_out else x


@dataclass
class Mitigation:
    """A prepared mitigation: how it generates, what it costs, what a pipeline needs to apply it."""

    name: str
    s: MitigationSettings
    setup_unet_evals: int = 0  # forward UNet evaluations (one per batch row) spent preparing (localize, fine-tune)
    setup_seconds: float = 0.0
    generation_unet_evals: int = 0  # forward evaluations spent by generate() beyond the plain chain
    generation_images: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    gate: Any = None  # prompt -> bool (memorized?); inference-time methods act only on flagged prompts when set

    def gated_out(self, prompt: str) -> bool:
        """True when a gate is set and does not flag ``prompt`` (the mitigation then leaves it alone)."""
        return self.gate is not None and not self.gate(prompt)

    def prepare(self, model: DiffusionModel, memorized: list[str], utility: list[str], *,
                progress: bool = False) -> None:
        """Get ready to mitigate ``memorized`` (``utility``: non-memorized captions some methods use)."""

    def unet_context(self, model: DiffusionModel, prompt: str) -> AbstractContextManager[Any]:
        """The mitigated forward pass for ``prompt`` (hooks or processors), for generation and the re-trigger."""
        return nullcontext()

    def mitigated_model(self, model: DiffusionModel) -> DiffusionModel:
        """The model whose UNet generation runs (a fine-tuned copy for ``finetune``)."""
        return model

    def features(self, model: DiffusionModel, prompt: str, text: TextFeatures, x: Any, steps: int) -> TextFeatures:
        """The text features sampling uses for ``prompt`` from latents ``x`` (changed by ``embedding``)."""
        return text

    def generate(self, model: DiffusionModel, prompt: str, n: int, seed: int, steps: int, *,
                 text: TextFeatures | None = None, for_accuracy: bool = False) -> Any:
        """``n`` images of ``prompt`` under the mitigation; ``text`` overrides the prompt's token features (the
        re-trigger search's perturbed features). ``for_accuracy``: the deployed setting for any prompt (NeMo: the
        union of all captions' neurons) rather than the one for a known memorized caption."""
        from trustgen.memorization.hooks import count_unet_evals

        m = self.mitigated_model(model)
        text = text if text is not None else m.text_encoder.encode([prompt])  # type: ignore[union-attr]
        x = initial_latents(m, n, seed)
        with self.accuracy_context(m) if for_accuracy else self.unet_context(m, prompt):
            with count_unet_evals(m.unet) as extra:
                if not self.gated_out(prompt):
                    text = self.features(m, prompt, text, x, steps)
            images = sample_features(m, text, x, steps)
        self.generation_unet_evals += extra[0]
        self.generation_images += n
        return images

    def accuracy_context(self, model: DiffusionModel) -> AbstractContextManager[Any]:
        """The mitigation as deployed for every prompt (used for the utility check)."""
        return nullcontext()

    def record(self) -> dict[str, Any]:
        """JSON-ready: method, settings it uses, what it found, cost."""
        return {"method": self.name, **self.info, "setup_unet_evals": self.setup_unet_evals,
                "setup_seconds": self.setup_seconds}


@dataclass
class NemoMitigation(Mitigation):
    """NeMo's neurons switched off: per memorized caption its own neurons, for any other prompt the union."""

    neurons: dict[str, Neurons] = field(default_factory=dict)
    localize_fn: Any = None  # caption -> (Neurons, unet_evals); set by the caller (it needs calibration)

    def prepare(self, model: DiffusionModel, memorized: list[str], utility: list[str], *,
                progress: bool = False) -> None:
        from trustgen.core.progress import track

        start = time.perf_counter()
        for caption in track([c for c in memorized if c not in self.neurons], description="NeMo: localizing",
                             enabled=progress):
            if self.localize_fn is None:
                raise TrustgenError("nemo needs a calibration to localize neurons")
            self.neurons[caption], evals = self.localize_fn(caption)
            self.setup_unet_evals += evals
        self.setup_seconds += time.perf_counter() - start
        self.info = {"neurons": {c: as_pairs(n) for c, n in self.neurons.items()},
                     "num_neurons_union": count(self.union())}

    def union(self) -> Neurons:
        out: Neurons = {}
        for neurons in self.neurons.values():
            for k, v in neurons.items():
                out[k] = sorted(set(out.get(k, [])) | set(v))
        return out

    def unet_context(self, model: DiffusionModel, prompt: str) -> AbstractContextManager[Any]:
        from trustgen.memorization.hooks import deactivate

        neurons = self.neurons.get(prompt) or {}
        return deactivate(model.unet, neurons) if neurons else nullcontext()

    def accuracy_context(self, model: DiffusionModel) -> AbstractContextManager[Any]:
        from trustgen.memorization.hooks import deactivate

        union = self.union()
        return deactivate(model.unet, union) if union else nullcontext()


def text_noise_norm(model: DiffusionModel, x: Any, t: int, tokens: Any, pooled: Any, eps_null: Any) -> Any:
    """Mean over samples of ‖ε(x, t, e) − ε(x, t, ∅)‖₂ (Wen et al.'s text-conditional noise norm), differentiable."""
    from trustgen.diffusion.sampling import Conditioning, predict_noise

    n = len(x)
    text = TextFeatures(tokens.expand(n, -1, -1), pooled.expand(n, -1))
    eps = predict_noise(model, x, t, Conditioning(text=text, guidance_scale=1.0))
    return (eps - eps_null).flatten(1).norm(dim=1).mean()


@dataclass
class EmbeddingMitigation(Mitigation):
    """Wen et al. (ICLR 2024): optimise the prompt's token features per generation before sampling."""

    target_loss: float | None = None
    iterations: list[int] = field(default_factory=list)

    def calibrate_target(self, model: DiffusionModel, prompts: list[str], steps: int, seed: int) -> float:
        """Mean text-conditional noise norm of ``prompts`` at the optimisation step (10 latents each)."""
        import numpy as np
        import torch

        values = []
        null = model.text_encoder.encode([""])  # type: ignore[union-attr]
        for p in prompts:
            text = model.text_encoder.encode([p])  # type: ignore[union-attr]
            x, t = self._at_step(model, text, initial_latents(model, 10, seed), steps)
            with torch.no_grad():
                eps_null = _predict(model, x, t, null)
                values.append(float(text_noise_norm(model, x, t, text.tokens, text.pooled, eps_null)))
        return float(np.mean(values))

    def prepare(self, model: DiffusionModel, memorized: list[str], utility: list[str], *,
                progress: bool = False) -> None:
        from trustgen.memorization.hooks import count_unet_evals

        start = time.perf_counter()
        target = self.s.embed_target_loss
        if target == "auto":
            if not utility:
                raise TrustgenError("embed_target_loss=auto needs non-memorized captions to calibrate on")
            with count_unet_evals(model.unet) as evals:
                self.target_loss = self.calibrate_target(model, utility[:20], self.info.get("steps", 25),
                                                         self.s.seed + 2000)
            self.setup_unet_evals += evals[0]
        elif target != "none":
            self.target_loss = float(target)
        self.setup_seconds += time.perf_counter() - start
        self.info |= {"target_loss": self.target_loss, "lr": self.s.embed_lr, "iters": self.s.embed_iters,
                      "step": self.s.embed_step}

    def _at_step(self, model: DiffusionModel, text: TextFeatures, x: Any, steps: int) -> tuple[Any, int]:
        from trustgen.diffusion.sampling import make_scheduler

        scheduler = make_scheduler(model, "ddim", steps)
        k = min(self.s.embed_step, len(scheduler.timesteps) - 1)
        if k:
            x = sample_features(model, text, x, steps, stop=k, decode_out=False)
        return x * (scheduler.init_noise_sigma if k == 0 else 1), int(scheduler.timesteps[k])

    def features(self, model: DiffusionModel, prompt: str, text: TextFeatures, x: Any, steps: int) -> TextFeatures:
        import torch

        x, t = self._at_step(model, text, x, steps)
        null = model.text_encoder.encode([""])  # type: ignore[union-attr]
        with torch.no_grad():
            eps_null = _predict(model, x, t, null)
        tokens = text.tokens[:1].detach().clone().requires_grad_(True)
        optimizer = torch.optim.AdamW([tokens], lr=self.s.embed_lr)
        done = 0
        with torch.enable_grad():
            for _ in range(self.s.embed_iters):
                loss = text_noise_norm(model, x, t, tokens, text.pooled[:1], eps_null)
                if self.target_loss is not None and float(loss.detach()) <= self.target_loss:
                    break
                (grad,) = torch.autograd.grad(loss, [tokens])
                grad[:, 0] = 0  # the beginning token stays (as Wen et al.'s code) ...
                tokens.grad = grad
                optimizer.step()
                with torch.no_grad():  # ... exactly: their AdamW's weight decay would still shrink it
                    tokens[:, 0] = text.tokens[:1, 0]
                optimizer.zero_grad()
                done += 1
        self.iterations.append(done)
        return TextFeatures(tokens.detach(), text.pooled[:1])

    def record(self) -> dict[str, Any]:
        import numpy as np

        return {**super().record(),
                "mean_iterations": float(np.mean(self.iterations)) if self.iterations else None}


def _predict(model: DiffusionModel, x: Any, t: int, text: TextFeatures) -> Any:
    from trustgen.diffusion.sampling import Conditioning, predict_noise

    return predict_noise(model, x, t, Conditioning(text=text.expand(len(x)), guidance_scale=1.0))


def summary_tokens(model: DiffusionModel, prompt: str) -> tuple[Any, int]:
    """A 1×S bool mask of ``prompt``'s summary tokens (its end token and the padding after it) and S."""
    enc = model.text_encoder
    tokens = enc.tokenizer([prompt], padding="max_length", truncation=True,  # type: ignore[union-attr]
                           max_length=enc.max_length, return_tensors="pt")  # type: ignore[union-attr]
    mask = tokens["attention_mask"][0]
    length = int(mask.sum())
    import torch

    positions = torch.arange(len(mask))
    return (positions >= max(length - 1, 1))[None], len(mask)


@dataclass
class AttentionMitigation(Mitigation):
    """Ren et al. (ECCV 2024): beginning-token logits × c1, summary tokens masked, in every cross-attention layer."""

    def prepare(self, model: DiffusionModel, memorized: list[str], utility: list[str], *,
                progress: bool = False) -> None:
        from trustgen.diffusion.attention import cross_attention_names

        if not cross_attention_names(model.unet):
            raise TrustgenError("attention mitigation re-weights cross-attention, and this model has no "
                                "cross-attention layers (attn2)")
        self.info |= {"c1": self.s.attn_c1, "mask_summary": self.s.attn_mask_summary,
                      "variant": "Ren et al. 2024: beginning-token logit × c1, summary tokens masked"}

    def unet_context(self, model: DiffusionModel, prompt: str) -> AbstractContextManager[Any]:
        import torch

        from trustgen.diffusion.attention import edit_cross_attention

        drop, length = summary_tokens(model, prompt)
        scale = torch.ones(1, length)
        scale[0, 0] = self.s.attn_c1
        return edit_cross_attention(model.unet, scale=scale, drop=drop if self.s.attn_mask_summary else None)

    def generate(self, model: DiffusionModel, prompt: str, n: int, seed: int, steps: int, *,
                 text: TextFeatures | None = None, for_accuracy: bool = False) -> Any:
        text = text if text is not None else model.text_encoder.encode([prompt])  # type: ignore[union-attr]
        x = initial_latents(model, n, seed)
        with nullcontext() if self.gated_out(prompt) else self.unet_context(model, prompt):  # the prompt's tokens
            images = sample_features(model, text, x, steps)
        self.generation_images += n
        return images


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


def make_mitigation(method: str, s: MitigationSettings | None = None, *, steps: int = 25,
                    localize_fn: Any = None, neurons: dict[str, Neurons] | None = None) -> Mitigation:
    """A mitigation by name (``nemo``, ``embedding``, ``attention``, ``finetune``); call ``prepare`` next."""
    s = s or MitigationSettings()
    if method not in MITIGATION_METHODS:
        raise TrustgenError(f"unknown mitigation method {method!r}: use one of {', '.join(MITIGATION_METHODS)}")
    info = {"steps": steps}
    if method == "nemo":
        return NemoMitigation("nemo", s, info=info, neurons=dict(neurons or {}), localize_fn=localize_fn)
    if method == "embedding":
        return EmbeddingMitigation("embedding", s, info=info)
    if method == "attention":
        return AttentionMitigation("attention", s, info=info)
    return FinetuneMitigation("finetune", s, info=info)
