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
from trustgen.core.runs import RunDir, metrics_table
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.memorization.config import NemoSettings, effective_settings
from trustgen.memorization.layers import Neurons, all_neurons, as_pairs, count, from_pairs, value_layers
from trustgen.memorization.resume import PARTIAL_FILE
from trustgen.memorization.statistics import ActivationStats

CAPTION_LISTS = "memorization_captions.json"  # written next to a zoo model by scripts/build_zoo.py


def pairwise_ssim(a: Any, b: Any, chunk: int = 8192) -> Any:
    """SSIM of every image of ``a`` (N) with every image of ``b`` (M): an N×M array (11×11 Gaussian window)."""
    import torch
    from torchmetrics.functional.image import structural_similarity_index_measure

    n, m = len(a), len(b)
    i, j = torch.meshgrid(torch.arange(n), torch.arange(m), indexing="ij")
    i, j = i.flatten(), j.flatten()
    out = torch.empty(n * m)
    for s in range(0, n * m, chunk):
        x, y = a[i[s:s + chunk]] + 1, b[j[s:s + chunk]] + 1
        out[s:s + chunk] = torch.as_tensor(structural_similarity_index_measure(x, y, data_range=2.0,
                                                                              reduction="none"))
    return out.reshape(n, m).numpy()


def generate(model: DiffusionModel, prompt: str, n: int, seed: int, steps: int,
              neurons: Neurons | None = None) -> Any:
    from trustgen.diffusion.sampling import sample
    from trustgen.memorization.hooks import deactivate

    block = deactivate(model.unet, neurons) if neurons else nullcontext()
    with block:
        return sample(model, n, prompts=[prompt], sampler="ddim", steps=steps, seed=seed)


def _random_neurons(layers: dict[str, Any], k: int, rng: np.random.Generator) -> Neurons:
    pairs = as_pairs(all_neurons(layers))
    return from_pairs(pairs[int(i)] for i in rng.choice(len(pairs), size=min(k, len(pairs)), replace=False))


def _localization_record(model: DiffusionModel, caption: str, stats: ActivationStats, tau: float,
                         s: NemoSettings) -> dict[str, Any]:
    """NeMo's localization of one memorized caption, as the JSON-ready fields of its report row."""
    from trustgen.memorization.localization import exhaustive_evals, localize

    loc = localize(model, caption, stats, tau, s)
    kept = sum(v > tau for v in loc.detection.seed_scores)
    return {"nemo_score": loc.detection.nemo_score, "neurons": [list(p) for p in as_pairs(loc.refined)],
            "ssim_noise_after": loc.ssim_refined, "unet_evals": loc.unet_evals,
            "exhaustive_unet_evals": exhaustive_evals(model, s, kept, loc.probe_step) if kept else 0,
            "probe_step": loc.probe_step}


def evaluate_memorization(model: DiffusionModel, captions: dict[str, list[str]], images: Any, train_images: Any,
                          *, seed: int = 0, s: NemoSettings | None = None, gen_seeds: int = 10, gen_steps: int = 25,
                          per_digit: int = 20, image_calibration: int = 20, resume_folder: Path | None = None,
                          progress: bool = False) -> tuple[dict[str, Any], Any]:
    """Run the validation; ``images[i]`` is the training image of ``captions['memorized'][i]``. Returns metrics
    and a grid (memorized caption × [training image, before, after, random control]). With ``resume_folder``
    each caption's localization is kept there as it finishes and read back by a rerun (:mod:`.resume`)."""
    import torch

    from trustgen.core.progress import track
    from trustgen.diffusion.evaluation import prompted_accuracy
    from trustgen.memorization.calibration import calibrate, scores
    from trustgen.memorization.detection import auroc, make_probe
    from trustgen.memorization.hooks import deactivate
    from trustgen.memorization.resume import LocalizationCache, cache_key

    s = (s or NemoSettings()).model_copy(update={"seed": seed})
    mem, non = captions["memorized"], captions["nonmemorized"]
    if len(mem) != len(images):
        raise TrustgenError(f"{len(mem)} memorized captions but {len(images)} training images")
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
    # image-space replication threshold from held-out non-memorized captions
    gen_seed = seed + 1000
    nearest = [float(pairwise_ssim(generate(model, p, gen_seeds, gen_seed, gen_steps), train_images).max())
               for p in track(non[:image_calibration], description="image threshold", enabled=progress)]
    tau_img = float(np.mean(nearest) + np.std(nearest))
    layers = value_layers(model.unet, include_up=s.include_up)
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    grid: list[Any] = []
    union: Neurons = {}
    cache = LocalizationCache(resume_folder, cache_key(s, seed, tau, stats)) if resume_folder else None
    metrics["localizations_resumed"] = cache.resumed if cache else 0
    for caption, image in track(list(zip(mem, images, strict=True)), description="localizing and mitigating",
                                enabled=progress):
        record = cache.get(caption) if cache else None
        if record is None:
            record = _localization_record(model, caption, stats, tau, s)
            if cache:
                cache.put(caption, record)
        neurons = from_pairs(record["neurons"])
        for k, v in neurons.items():
            union[k] = sorted(set(union.get(k, [])) | set(v))
        control = _random_neurons(layers, count(neurons), rng) if neurons else {}
        gens = {name: generate(model, caption, gen_seeds, gen_seed, gen_steps, n)
                for name, n in (("before", None), ("after", neurons), ("random", control))}
        sims = {name: float(pairwise_ssim(g, image[None]).max()) for name, g in gens.items()}
        rows.append({"caption": caption, **record, "num_neurons": count(neurons), "max_ssim_before": sims["before"],
                     "max_ssim_after": sims["after"], "max_ssim_random": sims["random"]})
        grid.append(torch.cat([image[None], gens["before"][:1], gens["after"][:1], gens["random"][:1]]))
    localized = [r for r in rows if r["num_neurons"] > 0]
    base, _ = prompted_accuracy(model, per_digit=per_digit, seed=seed, steps=gen_steps)
    with deactivate(model.unet, union) if union else nullcontext():
        patched, _ = prompted_accuracy(model, per_digit=per_digit, seed=seed, steps=gen_steps)
    single = []  # a model patched for one caption only: that caption's neurons off
    for r in track(localized, description="accuracy per caption's neurons", enabled=progress):
        with deactivate(model.unet, from_pairs(r["neurons"])):
            acc, _ = prompted_accuracy(model, per_digit=per_digit, seed=seed, steps=gen_steps)
        single.append(100 * (acc["prompted_accuracy"] - base["prompted_accuracy"]))
    metrics |= {
        "image_threshold": tau_img,
        "frac_replicated_before": float(np.mean([r["max_ssim_before"] >= tau_img for r in rows])),
        "frac_mitigated": float(np.mean([r["max_ssim_after"] < tau_img for r in rows])),
        "random_control_frac_mitigated": float(np.mean([r["max_ssim_random"] < tau_img for r in rows])),
        "median_neurons": float(np.median([r["num_neurons"] for r in rows])),
        "neurons_total_union": count(union),
        "nonmem_accuracy_before": base["prompted_accuracy"], "nonmem_accuracy_after": patched["prompted_accuracy"],
        "nonmem_accuracy_delta": 100 * (patched["prompted_accuracy"] - base["prompted_accuracy"]),
        "nonmem_accuracy_delta_one_caption_median": float(np.median(single)) if single else None,
        "unet_evals_per_prompt": float(np.mean([r["unet_evals"] for r in localized])) if localized else None,
        "exhaustive_unet_evals_per_prompt": (float(np.mean([r["exhaustive_unet_evals"] for r in localized]))
                                             if localized else None),
        "median_max_ssim_before": float(np.median([r["max_ssim_before"] for r in rows])),
        "median_max_ssim_after": float(np.median([r["max_ssim_after"] for r in rows])),
        "median_max_ssim_random": float(np.median([r["max_ssim_random"] for r in rows])),
        "calibration_unet_evals": calib["unet_evals"], "gen_steps": gen_steps, "gen_seeds": gen_seeds,
        "per_caption": rows,
    }
    if metrics["unet_evals_per_prompt"]:
        ratio = metrics["exhaustive_unet_evals_per_prompt"] / metrics["unet_evals_per_prompt"]
        metrics["evals_ratio_exhaustive"] = ratio
    return metrics, torch.cat(grid)


def run_evaluate(model_name: str, out: Path, *, seed: int = 0, s: NemoSettings | None = None,
                 per_digit: int = 20, gen_steps: int = 25, progress: bool = False) -> dict[str, Any]:
    """``trustgen memorization evaluate``: the validation on a model trained on ``digits-memorized``; caption
    lists come from the model folder's ``memorization_captions.json`` (the zoo card hashes it) or, failing that,
    from :func:`~trustgen.core.data.memorized.caption_lists`."""
    from trustgen.core.data import load_dataset
    from trustgen.core.data.memorized import MEMORIZED_DATASETS, caption_lists, memorized_pairs
    from trustgen.core.figures import save_grid
    from trustgen.core.safe_io import read_json
    from trustgen.diffusion.bundle import resolve_model_path
    from trustgen.memorization.inputs import load_text_model

    model = load_text_model(model_name)
    s = effective_settings(s or NemoSettings(), model.meta)
    if model.meta.get("dataset") not in MEMORIZED_DATASETS:
        raise TrustgenError(f"evaluate needs a model trained on digits-memorized(-rare) (its memorized captions are "
                            f"known); {model_name!r} was trained on {model.meta.get('dataset')!r}")
    lists_file = resolve_model_path(model_name) / CAPTION_LISTS
    captions = read_json(lists_file) if lists_file.is_file() else caption_lists(seed=seed)
    memorized, images = memorized_pairs()
    if captions["memorized"] != memorized:
        raise TrustgenError(f"{lists_file}: its memorized captions are not digits-memorized's")
    train = load_dataset("digits-captioned", "train").images
    with RunDir(out) as run:
        run.start_over(s)
        metrics, grid = evaluate_memorization(model, captions, images, train, seed=seed, s=s, per_digit=per_digit,
                                              gen_steps=gen_steps, resume_folder=run.path, progress=progress)
        if metrics["localizations_resumed"]:
            run.log(f"resumed {metrics['localizations_resumed']} caption localizations from {PARTIAL_FILE}")
        metrics = {"model": model_name, "seed": seed, **metrics}
        save_grid(grid, run.file("mitigation.png"), nrow=4)
        keys = [k for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)]
        rows = "\n".join(f"| {r['caption']} | {r['nemo_score']:.3f} | {r['num_neurons']} | "
                         f"{r['max_ssim_before']:.3f} | {r['max_ssim_after']:.3f} | {r['max_ssim_random']:.3f} | "
                         f"{r['unet_evals']} |"
                         for r in metrics["per_caption"])
        run.write_report(
            f"# NeMo validation on `{model_name}` (seed {seed})\n\n{metrics_table(metrics, keys)}\n\n"
            "| memorized caption | NeMo score | neurons | max SSIM before | after | random control | UNet evals |\n"
            f"|---|---|---|---|---|---|---|\n{rows}\n\n"
            "![training image, before, after, random control](mitigation.png)\n")
        run.write_metrics(metrics)
        (run.path / PARTIAL_FILE).unlink(missing_ok=True)
    return metrics
