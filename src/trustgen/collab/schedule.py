"""The maths of the cut: where the chain is split and how the server's forward process is defined.

Indexing follows diffusers: the noisy image at step ``t ∈ [0, T)`` is
``x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε`` and the sampler step at ``t`` maps ``x_t`` to ``x_{t−1}``, where
``x_{−1}`` is the clean image. The client owns the steps ``t < t_c`` (exactly ``t_c`` UNet
evaluations with the full sampler), so the hand-off image is ``x_{t_c−1}``, noise level ``ᾱ_{t_c−1}``
(``ᾱ_{−1} = 1``: at ``c = 0`` the client hands over its raw data, the centralised baseline).

``handoff="exact"`` (default): the server treats the hand-off images as its data and uses the exact
conditional forward process ``q(x_t | x_{t_c−1}) = N(√(ᾱ_t/ᾱ_{t_c−1})·x_{t_c−1}, (1 − ᾱ_t/ᾱ_{t_c−1})·I)``,
i.e. a DDPM whose betas are ``β_{t_c} … β_{T−1}``; its samples are then distributed like real hand-off
images and the client can start exactly at ``t_c − 1``.
``handoff="marginal"``: the authors' construction — the server applies the *marginal* formula
``√ᾱ_t·y + √(1−ᾱ_t)·ε′`` to the hand-off image ``y`` as if it were clean data, for ``t ∈ [t_c, T)``;
at generation the client compensates by starting at ``t = round((c + c(1−c))·T)`` (their commit
"update t split in inference"), spreading its ``t_c`` steps over the longer range.
"""

from __future__ import annotations

from typing import Any

from trustgen.core.errors import TrustgenError

HANDOFFS = ("exact", "marginal")


def cut_timestep(c: float, T: int) -> int:
    """``t_c = round(c·T)`` for a client share ``c ∈ [0, 1]``."""
    if not 0.0 <= float(c) <= 1.0:
        raise TrustgenError(f"cut must be in [0, 1], got {c}")
    return int(round(float(c) * T))


def alpha_bars(scheduler_config: dict[str, Any]) -> Any:
    """``ᾱ_t`` for ``t ∈ [0, T)`` of a diffusers DDPM schedule config (float64 tensor)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_config(scheduler_config).alphas_cumprod.double()


def handoff_alpha_bar(scheduler_config: dict[str, Any], t_c: int) -> float:
    """``ᾱ_{t_c−1}`` (1 at ``t_c = 0``): the noise level of the image handed over at the cut."""
    return 1.0 if t_c == 0 else float(alpha_bars(scheduler_config)[t_c - 1])


def noise_to_cut(x0: Any, t_c: int, scheduler_config: dict[str, Any], noise: Any) -> Any:
    """The hand-off image ``x_{t_c−1} = √ᾱ·x0 + √(1−ᾱ)·ε`` a client sends (``x0`` itself at ``t_c = 0``)."""
    a = handoff_alpha_bar(scheduler_config, t_c)
    return (a**0.5) * x0 + ((1 - a) ** 0.5) * noise


HANDOFF_SIGMAS = 5.0  # the server's x0 estimate is clipped at 5 noise σ beyond √ᾱ (a pixel exceeds it w.p. 6e-7)


def handoff_range(scheduler_config: dict[str, Any], t_c: int) -> float:
    """Bound on the pixels of hand-off images ``√ᾱ·x0 + √(1−ᾱ)·ε`` (``x0`` in [-1, 1]): ``√ᾱ + 5·√(1−ᾱ)``;
    1 at ``t_c = 0``, where the hand-off is the clean image."""
    a = handoff_alpha_bar(scheduler_config, t_c)
    return a**0.5 + HANDOFF_SIGMAS * (1 - a) ** 0.5


def server_scheduler_config(base: dict[str, Any], t_c: int, handoff: str,
                            range_t_c: int | None = None) -> dict[str, Any]:
    """The server's noise schedule: the tail ``β_{t_c…T−1}`` (exact) or the full schedule (marginal).

    The server's "clean" data are hand-off images, which are not confined to [-1, 1], so its x0 estimate
    is clipped to the range they take (:func:`handoff_range` at ``range_t_c``, default ``t_c``; a marginal
    server shared by several cuts gives its noisiest). Without any clip the full-T DDPM chain diverges:
    its first step, β = 0.999 in the cosine schedule, multiplies the denoiser's error by 1/√0.001 ≈ 32.
    """
    from diffusers import DDPMScheduler

    if handoff not in HANDOFFS:
        raise TrustgenError(f"unknown handoff {handoff!r}: use exact or marginal")
    T = int(base["num_train_timesteps"])
    if not 0 <= t_c < T:
        raise TrustgenError(f"the server needs t_c < T, got t_c={t_c}, T={T}")
    config = {k: v for k, v in base.items() if not k.startswith("_")}
    config["clip_sample"] = True
    config["clip_sample_range"] = handoff_range(base, t_c if range_t_c is None else range_t_c)
    if handoff == "marginal":
        return config
    betas = DDPMScheduler.from_config(base).betas[t_c:].double().tolist()
    return {**config, "num_train_timesteps": T - t_c, "trained_betas": betas}


def server_timestep(t: int, t_c: int, handoff: str) -> int:
    """The server model's own timestep index for chain step ``t ≥ t_c``."""
    return t - t_c if handoff == "exact" else t


def split_timesteps(T: int, t_c: int, steps: int | None) -> tuple[list[int], list[int]]:
    """The sampler's descending timesteps split at the cut: (server's ``t ≥ t_c``, client's ``t < t_c``).

    With all ``T`` steps the client gets exactly ``t_c - 1 … 0``. With a ``K``-step grid the client gets
    the grid's steps below ``t_c``, its first one moved to ``t_c − 1`` so that it starts exactly at the
    hand-off noise level (the count is unchanged).
    """
    from diffusers import DDPMScheduler

    k = T if steps is None else steps  # 0 is an error, not "all T"
    if not 1 <= k <= T:
        raise TrustgenError(f"sample steps must be between 1 and {T}, got {k}")
    sched: Any = DDPMScheduler(num_train_timesteps=T)
    sched.set_timesteps(k)
    grid = [int(t) for t in sched.timesteps]
    server = [t for t in grid if t >= t_c]
    client = [t for t in grid if t < t_c]
    if client:
        client[0] = t_c - 1
    return server, client


def marginal_client_timesteps(T: int, c: float, n_steps: int) -> list[int]:
    """The authors' overlap: ``n_steps`` descending steps spread over ``[0, round((c + c(1−c))·T))``."""
    import numpy as np

    start = min(T, int(round((c + c * (1 - c)) * T)))
    if n_steps == 0 or start == 0:
        return []
    steps = np.unique(np.linspace(0, start - 1, n_steps).round().astype(int))[::-1]
    return [int(t) for t in steps]
