"""The whole NeMo validation on a model with known memorized captions (``trustgen memorization evaluate``).

1. Calibrate the threshold and activation statistics on non-memorized calibration captions.
2. Detection: AUROC of the NeMo score (and of Wen et al.'s score) separating the memorized captions from
   held-out non-memorized ones.
3. Localize every memorized caption; count UNet evaluations against exhaustive single-neuron ablation.
4. Mitigation: generate ``gen_seeds`` images per memorized caption with all neurons on, with its neurons off,
   and with as many random neurons off (control). A caption is *replicated* when the largest SSIM between its
   generations and its training image reaches an image threshold calibrated like NeMo's (mean + 1 std, over
   held-out non-memorized captions, of the largest SSIM between their generations and the nearest training
   image); *mitigated* when it no longer does.
5. Utility: prompted-digit accuracy of the digits classifier on "a handwritten N" with the union of all found
   neurons off (one model patched for every caption), against the unpatched model; also the median change with
   one caption's neurons off at a time.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from trustgen.core.errors import TrustgenError
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.memorization.config import NemoSettings
from trustgen.memorization.layers import Neurons, all_neurons, as_pairs, count, from_pairs, union_neurons, value_layers
from trustgen.memorization.replication import generate, image_threshold, pairwise_ssim
from trustgen.memorization.resume import LocalizationCache
from trustgen.memorization.statistics import ActivationStats

__all__ = ["evaluate_memorization"]


def evaluate_memorization(model: DiffusionModel, captions: dict[str, list[str]], images: Any, train_images: Any,
                          *, seed: int = 0, s: NemoSettings | None = None, gen_seeds: int = 10, gen_steps: int = 25,
                          per_digit: int = 20, image_calibration: int = 20, resume_folder: Path | None = None,
                          progress: bool = False) -> tuple[dict[str, Any], Any]:
    """Run the validation; ``images[i]`` is the training image of ``captions['memorized'][i]``. Returns metrics
    and a grid (memorized caption × [training image, before, after, random control]). With ``resume_folder``
    each caption's localization is kept there as it finishes and read back by a rerun (:mod:`.resume`)."""
    import torch

    from trustgen.memorization.resume import cache_key

    s = (s or NemoSettings()).model_copy(update={"seed": seed})
    mem = captions["memorized"]
    if len(mem) != len(images):
        raise TrustgenError(f"{len(mem)} memorized captions but {len(images)} training images")
    metrics, calib, stats = detection_stage(model, captions, s, progress=progress)
    tau = calib["threshold"]
    gen_seed = seed + 1000
    tau_img = image_threshold(model, captions["nonmemorized"][:image_calibration], train_images, gen_seeds=gen_seeds,
                              seed=gen_seed, steps=gen_steps, progress=progress)
    cache = LocalizationCache(resume_folder, cache_key(s, seed, tau, stats)) if resume_folder else None
    metrics["localizations_resumed"] = cache.resumed if cache else 0
    rows, grid = mitigation_stage(model, mem, images, stats, tau, s, gen_seeds=gen_seeds, gen_seed=gen_seed,
                                  gen_steps=gen_steps, cache=cache, progress=progress)
    union = union_neurons(from_pairs(r["neurons"]) for r in rows)
    utility = utility_stage(model, union, [r for r in rows if r["num_neurons"] > 0], per_digit=per_digit,
                            seed=seed, gen_steps=gen_steps, progress=progress)
    metrics |= summary(rows, union, utility, tau_img)
    metrics |= {"calibration_unet_evals": calib["unet_evals"], "gen_steps": gen_steps, "gen_seeds": gen_seeds,
                "per_caption": rows}
    if metrics["unet_evals_per_prompt"]:
        ratio = metrics["exhaustive_unet_evals_per_prompt"] / metrics["unet_evals_per_prompt"]
        metrics["evals_ratio_exhaustive"] = ratio
    return metrics, torch.cat(grid)


# -- 1.–2. calibration and detection ------------------------------------------------------------------------------

def detection_stage(model: DiffusionModel, captions: dict[str, list[str]], s: NemoSettings, *,
                    progress: bool = False) -> tuple[dict[str, Any], dict[str, Any], ActivationStats]:
    """Calibrate on ``captions['calibration']``, then how well NeMo's (and Wen et al.'s) score separates the memorized
    captions from the non-memorized ones; returns those metrics, the calibration and the activation statistics."""
    from trustgen.memorization.calibration import calibrate, scores
    from trustgen.memorization.detection import auroc, make_probe

    mem, non = captions["memorized"], captions["nonmemorized"]
    calib, stats = calibrate(model, captions["calibration"], s, progress=progress)
    tau = calib["threshold"]
    det_mem = scores(model, mem, s, progress=progress, what="memorized captions")
    det_non = scores(model, non, s, progress=progress, what="non-memorized captions")
    metrics: dict[str, Any] = {
        "threshold": tau, "detection_auroc": auroc([d.nemo_score for d in det_mem], [d.nemo_score for d in det_non]),
        "wen_auroc": auroc([d.wen_score for d in det_mem], [d.wen_score for d in det_non]),
        "detection_tpr": float(np.mean([d.nemo_score > tau for d in det_mem])),
        "detection_fpr": float(np.mean([d.nemo_score > tau for d in det_non])),
        "num_memorized": len(mem), "num_nonmemorized": len(non), "num_calibration": len(captions["calibration"]),
        "probe_step": make_probe(model, mem[0], seeds=2, steps=s.steps, probe_step=s.probe_step).index,
    }
    if metrics["probe_step"] != 0:  # the paper's probe (first timestep) on the same prompts, for comparison
        first = s.model_copy(update={"probe_step": 0})
        metrics["detection_auroc_first_step"] = auroc(
            [d.nemo_score for d in scores(model, mem, first, progress=progress, what="memorized (paper's probe)")],
            [d.nemo_score for d in scores(model, non, first, progress=progress, what="non-memorized (paper's probe)")])
    return metrics, calib, stats


# -- 3.–4. localization and mitigation, caption by caption ---------------------------------------------------------

def localization_record(model: DiffusionModel, caption: str, stats: ActivationStats, tau: float,
                        s: NemoSettings) -> dict[str, Any]:
    """NeMo's localization of one memorized caption, as the JSON-ready fields of its report row."""
    from trustgen.memorization.localization import exhaustive_evals, localize

    loc = localize(model, caption, stats, tau, s)
    kept = sum(v > tau for v in loc.detection.seed_scores)
    return {"nemo_score": loc.detection.nemo_score, "neurons": [list(p) for p in as_pairs(loc.refined)],
            "ssim_noise_after": loc.ssim_refined, "unet_evals": loc.unet_evals,
            "exhaustive_unet_evals": exhaustive_evals(model, s, kept, loc.probe_step) if kept else 0,
            "probe_step": loc.probe_step}


def random_neurons(layers: dict[str, Any], k: int, rng: np.random.Generator) -> Neurons:
    """``k`` neurons of ``layers`` drawn without replacement (the random control)."""
    pairs = as_pairs(all_neurons(layers))
    return from_pairs(pairs[int(i)] for i in rng.choice(len(pairs), size=min(k, len(pairs)), replace=False))


def mitigation_stage(model: DiffusionModel, mem: list[str], images: Any, stats: ActivationStats, tau: float,
                     s: NemoSettings, *, gen_seeds: int, gen_seed: int, gen_steps: int,
                     cache: LocalizationCache | None = None, progress: bool = False) -> tuple[list[dict[str, Any]],
                                                                                              list[Any]]:
    """Localize each memorized caption (or read it back from ``cache``), then generate it with all neurons on, with
    its neurons off and with as many random neurons off (the control, drawn from ``s.seed``). Returns one report row
    per caption and its grid row (training image, before, after, random control)."""
    import torch

    from trustgen.core.progress import track

    layers = value_layers(model.unet, include_up=s.include_up)
    rng = np.random.default_rng(s.seed)
    rows: list[dict[str, Any]] = []
    grid: list[Any] = []
    for caption, image in track(list(zip(mem, images, strict=True)), description="localizing and mitigating",
                                enabled=progress):
        record = cache.get(caption) if cache else None
        if record is None:
            record = localization_record(model, caption, stats, tau, s)
            if cache:
                cache.put(caption, record)
        neurons = from_pairs(record["neurons"])
        control = random_neurons(layers, count(neurons), rng) if neurons else {}
        gens = {name: generate(model, caption, gen_seeds, gen_seed, gen_steps, n)
                for name, n in (("before", None), ("after", neurons), ("random", control))}
        sims = {name: float(pairwise_ssim(g, image[None]).max()) for name, g in gens.items()}
        rows.append({"caption": caption, **record, "num_neurons": count(neurons), "max_ssim_before": sims["before"],
                     "max_ssim_after": sims["after"], "max_ssim_random": sims["random"]})
        grid.append(torch.cat([image[None], gens["before"][:1], gens["after"][:1], gens["random"][:1]]))
    return rows, grid


# -- 5. utility ------------------------------------------------------------------------------------------------------

def utility_stage(model: DiffusionModel, union: Neurons, localized: list[dict[str, Any]], *, per_digit: int,
                  seed: int, gen_steps: int, progress: bool = False) -> dict[str, Any]:
    """Prompted-digit accuracy unpatched, with ``union`` off, and its change (in points) with each localized row's
    neurons off alone."""
    from trustgen.core.progress import track
    from trustgen.diffusion.evaluation import prompted_accuracy
    from trustgen.memorization.hooks import deactivate

    base, _ = prompted_accuracy(model, per_digit=per_digit, seed=seed, steps=gen_steps)
    with deactivate(model.unet, union) if union else nullcontext():
        patched, _ = prompted_accuracy(model, per_digit=per_digit, seed=seed, steps=gen_steps)
    single = []  # a model patched for one caption only: that caption's neurons off
    for r in track(localized, description="accuracy per caption's neurons", enabled=progress):
        with deactivate(model.unet, from_pairs(r["neurons"])):
            acc, _ = prompted_accuracy(model, per_digit=per_digit, seed=seed, steps=gen_steps)
        single.append(100 * (acc["prompted_accuracy"] - base["prompted_accuracy"]))
    return {"before": base["prompted_accuracy"], "after": patched["prompted_accuracy"], "delta_one_caption": single}


def summary(rows: list[dict[str, Any]], union: Neurons, utility: dict[str, Any], tau_img: float) -> dict[str, Any]:
    """The headline numbers over the caption rows: replication and mitigation against the image threshold,
    neuron counts, utility and localization cost."""
    localized = [r for r in rows if r["num_neurons"] > 0]
    single = utility["delta_one_caption"]
    return {
        "image_threshold": tau_img,
        "frac_replicated_before": float(np.mean([r["max_ssim_before"] >= tau_img for r in rows])),
        "frac_mitigated": float(np.mean([r["max_ssim_after"] < tau_img for r in rows])),
        "random_control_frac_mitigated": float(np.mean([r["max_ssim_random"] < tau_img for r in rows])),
        "median_neurons": float(np.median([r["num_neurons"] for r in rows])),
        "neurons_total_union": count(union),
        "nonmem_accuracy_before": utility["before"], "nonmem_accuracy_after": utility["after"],
        "nonmem_accuracy_delta": 100 * (utility["after"] - utility["before"]),
        "nonmem_accuracy_delta_one_caption_median": float(np.median(single)) if single else None,
        "unet_evals_per_prompt": float(np.mean([r["unet_evals"] for r in localized])) if localized else None,
        "exhaustive_unet_evals_per_prompt": (float(np.mean([r["exhaustive_unet_evals"] for r in localized]))
                                             if localized else None),
        "median_max_ssim_before": float(np.median([r["max_ssim_before"] for r in rows])),
        "median_max_ssim_after": float(np.median([r["max_ssim_after"] for r in rows])),
        "median_max_ssim_random": float(np.median([r["max_ssim_random"] for r in rows])),
    }
