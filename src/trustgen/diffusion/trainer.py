"""One denoiser's optimisation state and its training step (ε-prediction MSE, AdamW, EMA).

``train_diffusion`` drives one of these over a data set; CollaFuse drives a client's and the
server's side by side, one step at a time, on different timestep bands.
"""

from __future__ import annotations

from typing import Any

from trustgen.diffusion.bundle import DiffusionModel


class DenoiserTrainer:
    """AdamW + EMA around ``model.unet``, with the model's own noise schedule."""

    def __init__(self, model: DiffusionModel, *, lr: float, weight_decay: float = 0.0, ema_decay: float = 0.999):
        import torch
        from diffusers import DDPMScheduler

        self.model = model
        self.unet = model.unet.train()
        self.noise_schedule = DDPMScheduler.from_config(model.scheduler_config)
        self.optimizer = torch.optim.AdamW(self.unet.parameters(), lr=lr, weight_decay=weight_decay)
        self.ema = {k: v.detach().clone() for k, v in self.unet.state_dict().items()}
        self.ema_decay = ema_decay

    def step(self, x0: Any, t: Any, noise: Any, unet_kwargs: dict[str, Any], *, lr: float, step: int) -> float:
        """One optimizer step on ``x_t = add_noise(x0, noise, t)``; returns the loss. ``step`` (0-based)
        sets the EMA warm-up."""
        import torch.nn.functional as F

        for group in self.optimizer.param_groups:
            group["lr"] = lr
        xt = self.noise_schedule.add_noise(x0, noise, t)
        loss = F.mse_loss(self.unet(xt, t, **unet_kwargs).sample, noise)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self._update_ema(step)
        return float(loss.detach())

    def _update_ema(self, step: int) -> None:
        import torch

        d = min(self.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for name, value in self.unet.state_dict().items():
                if value.dtype.is_floating_point:
                    self.ema[name].lerp_(value, 1 - d)
                else:
                    self.ema[name].copy_(value)

    def state_tensors(self, prefix: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
        """Model, EMA and optimizer state as flat tensors (keys ``{prefix}model.*``, ``{prefix}ema.*``,
        ``{prefix}opt.*``) plus the optimizer's JSON structure: what a resumable checkpoint stores."""
        from trustgen.core.checkpoint import flatten_optimizer

        tensors = {f"{prefix}model.{k}": v for k, v in self.unet.state_dict().items()}
        tensors.update({f"{prefix}ema.{k}": v for k, v in self.ema.items()})
        opt, structure = flatten_optimizer(self.optimizer.state_dict())
        tensors.update({f"{prefix}opt.{k}": v for k, v in opt.items()})
        return tensors, structure

    def load_state_tensors(self, tensors: dict[str, Any], structure: dict[str, Any], prefix: str = "") -> None:
        """Restore what :meth:`state_tensors` returned (other keys in ``tensors`` are ignored)."""
        from trustgen.core.checkpoint import unflatten_optimizer

        def part(name: str) -> dict[str, Any]:
            start = f"{prefix}{name}."
            return {k[len(start):]: v for k, v in tensors.items() if k.startswith(start)}

        self.unet.load_state_dict(part("model"))
        self.ema = {k: v.clone() for k, v in part("ema").items()}
        self.optimizer.load_state_dict(unflatten_optimizer(part("opt"), structure))

    def finish(self) -> DiffusionModel:
        """Load the EMA weights into the model and switch it to eval mode."""
        self.unet.load_state_dict(self.ema)
        self.unet.eval()
        return self.model
