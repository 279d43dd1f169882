"""Localizing the value neurons that carry a memorized prompt (NeMo, Hintersdorf et al., 2024, §3.2–3.3).

1. **Initial selection** (their Alg. 2): switch off every neuron whose activation z-score exceeds θ plus the
   top-k neurons per layer by activation; while the memorization persists — the largest same-seed MS-SSIM
   between the noise differences with and without the selection exceeds τ — lower θ by 0.25 (not below 1)
   and grow k by 1.
2. **Refinement** (Alg. 3–4): layer-wise, re-enable each layer's candidates (last layer first) and keep them
   on if the memorization stays suppressed; then neuron-wise in the same way.

Only seeds whose own score exceeds τ are used ("memorized seeds"); a prompt without such seeds is not
memorized and gets no neurons. Every check runs the probe again with the neurons off: i + 2 UNet evaluations per
memorized seed for probe step i (two at the paper's first step); :class:`Checker` has the paper's rule and ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trustgen.diffusion.bundle import DiffusionModel
from trustgen.memorization.config import NemoSettings
from trustgen.memorization.detection import (
    Detection,
    Probe,
    detect,
    noise_differences,
    paired_ms_ssim,
    pairwise_ms_ssim,
)
from trustgen.memorization.hooks import count_unet_evals
from trustgen.memorization.layers import Neurons, all_neurons, as_pairs, count, value_layers
from trustgen.memorization.statistics import ActivationStats, prompt_activations


@dataclass
class Localization:
    """Result for one prompt: detection, the initial and refined neurons, similarities and costs."""

    detection: Detection
    initial: Neurons = field(default_factory=dict)
    refined: Neurons = field(default_factory=dict)
    ssim_initial: float | None = None  # max same-seed MS-SSIM with the initial selection off
    ssim_refined: float | None = None  # … with the refined selection off
    theta: float | None = None
    top_k: int | None = None
    threshold: float = 0.0
    unet_evals: int = 0
    probe_step: int = 0  # index of the DDIM timestep the probe started at

    def to_dict(self) -> dict[str, Any]:
        return {**self.detection.to_dict(), "initial_neurons": as_pairs(self.initial),
                "neurons": as_pairs(self.refined), "num_neurons": count(self.refined),
                "ssim_before": 1.0 if self.refined else None, "ssim_after": self.ssim_refined,
                "ssim_initial": self.ssim_initial, "theta": self.theta, "top_k": self.top_k,
                "threshold": self.threshold, "unet_evals": self.unet_evals, "probe_step": self.probe_step}


class Checker:
    """Does switching ``neurons`` off still leave the prompt memorized? Returns a similarity compared with τ.

    * ``"paper"`` (NeMo's code): the largest same-seed MS-SSIM between each memorized seed's unblocked noise
      difference and its noise difference with the neurons off — the prediction must move away from the
      memorized one.
    * ``"score"`` (our option): the detection score itself with the neurons off — the largest pairwise MS-SSIM
      across all seeds — so "mitigated" means "scores like a non-memorized prompt", the statistic τ was
      calibrated on. Where non-memorized prompts are themselves alike across seeds (τ close to 1, as for 16×16
      digits), a small change of every seed's prediction passes the paper's rule while the seeds still agree.
    """

    def __init__(self, probe: Probe, reference: Any, seed_scores: list[float], threshold: float,
                 settings: NemoSettings):
        import torch

        self.probe, self.scale, self.rule = probe, settings.scale, settings.check
        self.rows = torch.tensor([i for i, v in enumerate(seed_scores) if v > threshold], dtype=torch.long)
        self.reference = reference[self.rows]

    @property
    def memorized_seeds(self) -> int:
        return len(self.rows)

    def __call__(self, neurons: Neurons) -> float:
        if self.rule == "score":
            blocked = noise_differences(self.probe, neurons=neurons, scale=self.scale)
            return float(pairwise_ms_ssim(blocked).max())
        blocked = noise_differences(self.probe, neurons=neurons, scale=self.scale, rows=self.rows)
        return float(paired_ms_ssim(self.reference, blocked).max())


def _candidates(z: dict[str, Any], acts: dict[str, Any], theta: float, k: int) -> Neurons:
    out: Neurons = {}
    for name, zl in z.items():
        chosen = set((zl > theta).nonzero().flatten().tolist())
        if k > 0:
            chosen |= set(acts[name].topk(min(k, acts[name].numel())).indices.tolist())
        if chosen:
            out[name] = sorted(chosen)
    return out


def initial_selection(check: Checker, z: dict[str, Any], acts: dict[str, Any], s: NemoSettings,
                      threshold: float) -> tuple[Neurons, float, float, int]:
    """NeMo's initial selection: returns neurons, the similarity they leave, and the final θ and k."""
    theta, k = s.initial_theta, s.initial_k
    width = max(a.numel() for a in acts.values())
    while True:
        neurons = _candidates(z, acts, theta, k)
        sim = check(neurons) if neurons else 1.0
        if sim <= threshold or theta <= s.min_theta or k >= width:
            return neurons, sim, theta, k
        theta, k = max(theta - s.theta_step, s.min_theta), k + 1


def refine(check: Checker, neurons: Neurons, threshold: float) -> tuple[Neurons, float]:
    """NeMo's refinement: drop whole layers, then single neurons, while memorization stays below ``threshold``."""
    current = {k: list(v) for k, v in neurons.items()}
    for layer in reversed(list(current)):
        trial = {k: v for k, v in current.items() if k != layer}
        if trial and check(trial) < threshold:
            current = trial
    for layer in reversed(list(current)):
        for index in reversed(list(current[layer])):
            trial = {k: [i for i in v if not (k == layer and i == index)] for k, v in current.items()}
            trial = {k: v for k, v in trial.items() if v}
            if trial and check(trial) < threshold:
                current = trial
    return current, check(current) if current else 1.0


def localize(model: DiffusionModel, prompt: str, stats: ActivationStats, threshold: float,
             settings: NemoSettings | None = None) -> Localization:
    """Detect, then localize the memorization neurons of ``prompt`` (none if it is not memorized)."""
    s = settings or NemoSettings()
    layers = value_layers(model.unet, include_up=s.include_up)
    with count_unet_evals(model.unet) as evals:
        det, probe, diffs = detect(model, prompt, seeds=s.seeds, seed=s.seed, steps=s.steps, threshold=threshold,
                                   probe_step=s.probe_step)
        result = Localization(det, threshold=threshold, probe_step=probe.index)
        check = Checker(probe, diffs, det.seed_scores, threshold, s)
        if check.memorized_seeds == 0:
            result.unet_evals = evals[0]
            return result
        acts = {k: v[0] for k, v in prompt_activations(model, [prompt], layers).items()}
        z = stats.z_scores(acts)
        initial, sim, theta, k = initial_selection(check, z, acts, s, threshold)
        result.initial, result.ssim_initial, result.theta, result.top_k = initial, sim, theta, k
        tau = threshold if sim <= threshold else sim  # as NeMo: if the selection never got below τ, refine to it
        result.refined, result.ssim_refined = refine(check, initial, tau + 1e-9) if initial else ({}, sim)
    result.unet_evals = evals[0]
    return result


def exhaustive_evals(model: DiffusionModel, settings: NemoSettings, memorized_seeds: int, probe_step: int = 0) -> int:
    """UNet evaluations of exhaustive single-neuron ablation with the same probe and check: the same detection as
    :func:`localize` (``probe_step`` + 2 per seed, plus Wen's unconditional prediction), then every searched neuron
    once, ``probe_step`` + 2 per checked seed (the memorized seeds; all seeds for ``check="score"``)."""
    layers = value_layers(model.unet, include_up=settings.include_up)
    neurons = count(all_neurons(layers))
    per_seed = probe_step + 2
    checked = settings.seeds if settings.check == "score" else memorized_seeds
    return (per_seed + 1) * settings.seeds + per_seed * checked * neurons


@dataclass
class Ablation:
    """Exhaustive single-neuron ablation of one prompt (the baseline NeMo's search is measured against)."""

    prompt: str
    similarity: dict[str, list[float]]  # per layer and neuron: max same-seed MS-SSIM with that neuron alone off
    selected: Neurons  # greedy set: neurons in order of their single-neuron drop until below the threshold
    ssim_selected: float | None
    unet_evals_single: int  # detection + one probe per neuron (the count :func:`exhaustive_evals` predicts)
    unet_evals: int  # … + the greedy selection's checks (one with every neuron off, one per added neuron)

    def to_dict(self) -> dict[str, Any]:
        flat = sorted(((v, k, i) for k, vs in self.similarity.items() for i, v in enumerate(vs)))
        return {"prompt": self.prompt, "best_single": [[k, i, v] for v, k, i in flat[:10]],
                "selected": as_pairs(self.selected), "num_selected": count(self.selected),
                "ssim_selected": self.ssim_selected, "unet_evals_single": self.unet_evals_single,
                "unet_evals": self.unet_evals}


def exhaustive_ablation(model: DiffusionModel, prompt: str, threshold: float,
                        settings: NemoSettings | None = None) -> Ablation | None:
    """Switch every searched value neuron off alone and re-run the probe on the memorized seeds (what NeMo's
    search avoids); then add neurons in order of the similarity drop they cause until the memorization falls
    below ``threshold`` — or, where all searched neurons off cannot get there, to what that reaches (NeMo's own
    fallback). ``None`` when the prompt is not memorized."""

    s = settings or NemoSettings()
    layers = value_layers(model.unet, include_up=s.include_up)
    with count_unet_evals(model.unet) as evals:
        det, probe, diffs = detect(model, prompt, seeds=s.seeds, seed=s.seed, steps=s.steps, threshold=threshold,
                                   probe_step=s.probe_step)
        check = Checker(probe, diffs, det.seed_scores, threshold, s)
        if check.memorized_seeds == 0:
            return None
        similarity = {name: [check({name: [i]}) for i in indices] for name, indices in all_neurons(layers).items()}
        single = evals[0]
        # as NeMo's refinement: where even every searched neuron off cannot get below τ, aim for what that reaches
        floor = check(all_neurons(layers))
        target = max(threshold, floor) + 1e-9
        order = sorted((v, name, i) for name, vs in similarity.items() for i, v in enumerate(vs))
        selected: Neurons = {}
        sim: float | None = None
        for _, name, i in order:  # one check per added neuron: the greedy part is not free either
            selected.setdefault(name, []).append(i)
            sim = check(selected)
            if sim < target:
                break
    return Ablation(prompt, similarity, {k: sorted(v) for k, v in selected.items()}, sim, single, evals[0])
