"""``trustgen memorization evaluate --compare``: every mitigation on the same captions, seeds and measures.

For a model with known memorized captions (``digits-t2i-memorized``): per method (:mod:`.mitigation`)

* **mitigated** — share of memorized captions whose ``gen_seeds`` generations (DDIM, generation seed ``seed + 1000``,
  the same latents for every method) no longer reach the image threshold (max SSIM to the caption's training image;
  the threshold is calibrated as in :mod:`.evaluate`: mean + 1 std over held-out non-memorized captions of the max
  SSIM to the nearest training image);
* **re-trigger rate** — of the mitigated captions, the share that the embedding search of :mod:`.retrigger` brings
  back over the threshold (same seeds);
* **utility** — prompted accuracy ("a handwritten N", ``per_digit`` per digit, the digits classifier) without and
  with the mitigation as deployed for every prompt (NeMo: the union of all captions' neurons; the inference-time
  methods applied to each prompt; the fine-tuned weights);
* **cost** — UNet forward evaluations (and seconds) spent preparing per caption and per generated image, as a ratio
  to generating one image (``gen_steps`` evaluations).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from trustgen.core.errors import TrustgenError
from trustgen.core.runs import RunDir, metrics_table
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.memorization.config import MITIGATION_METHODS, MitigationSettings, NemoSettings
from trustgen.memorization.layers import Neurons

__all__ = ["compare_mitigations", "run_compare"]


def mitigated_accuracy(model: DiffusionModel, mitigation: Any, *, per_digit: int, seed: int, steps: int) -> float:
    """Prompted-digit accuracy with ``mitigation`` deployed for every prompt (digit d's images from seed ``seed+d``)."""
    import torch

    from trustgen.core.data.captions import prompt_for_digit
    from trustgen.core.metrics import get_extractor

    images = torch.cat([mitigation.generate(model, prompt_for_digit(d), per_digit, seed + d, steps, for_accuracy=True)
                        for d in range(10)])
    probs = get_extractor("digits").probabilities(images)  # type: ignore[attr-defined]
    return float((probs.argmax(axis=1) == np.repeat(np.arange(10), per_digit)).mean())


def image_threshold(model: DiffusionModel, captions: list[str], train_images: Any, *, gen_seeds: int, seed: int,
                    steps: int, progress: bool = False) -> float:
    """Mean + 1 std over ``captions`` of the max SSIM between their generations and the nearest training image."""
    from trustgen.core.progress import track
    from trustgen.memorization.evaluate import generate, pairwise_ssim

    nearest = [float(pairwise_ssim(generate(model, p, gen_seeds, seed, steps), train_images).max())
               for p in track(captions, description="image threshold", enabled=progress)]
    return float(np.mean(nearest) + np.std(nearest))


def _nemo_localizer(model: DiffusionModel, calibration: list[str], nemo: NemoSettings, progress: bool) -> Any:
    from trustgen.memorization.calibration import calibrate
    from trustgen.memorization.localization import localize

    state: dict[str, Any] = {}

    def run(caption: str) -> tuple[Neurons, int]:
        if not state:
            calib, stats = calibrate(model, calibration, nemo, progress=progress)
            state.update(threshold=calib["threshold"], stats=stats, evals=calib["unet_evals"])
        loc = localize(model, caption, state["stats"], state["threshold"], nemo)
        return loc.refined, loc.unet_evals

    return run


class DetectorGate:
    """NeMo's detector as the switch of an inference-time mitigation: a prompt is mitigated when its NeMo score
    exceeds the threshold calibrated (mean + 1 std) on non-memorized captions. Costs are counted."""

    def __init__(self, model: DiffusionModel, calibration: list[str], nemo: NemoSettings, progress: bool = False):
        from trustgen.memorization.calibration import scores
        from trustgen.memorization.detection import calibrate_threshold

        self.model, self.nemo = model, nemo
        dets = scores(model, calibration, nemo, progress=progress, what="gate calibration captions")
        self.threshold = calibrate_threshold([d.nemo_score for d in dets])
        self.setup_unet_evals = sum(d.unet_evals for d in dets)
        self.flags: dict[str, bool] = {}
        self.unet_evals = 0

    def __call__(self, prompt: str) -> bool:
        from trustgen.memorization.detection import detect

        if prompt not in self.flags:
            det = detect(self.model, prompt, seeds=self.nemo.seeds, seed=self.nemo.seed, steps=self.nemo.steps,
                         threshold=self.threshold, probe_step=self.nemo.probe_step)[0]
            self.flags[prompt] = bool(det.memorized)
            self.unet_evals += det.unet_evals
        return self.flags[prompt]


def compare_mitigations(model: DiffusionModel, captions: dict[str, list[str]], images: Any, train_images: Any, *,
                        methods: list[str] | None = None, s: MitigationSettings | None = None,
                        nemo: NemoSettings | None = None, seed: int = 0, gen_seeds: int = 10, gen_steps: int = 25,
                        per_digit: int = 20, image_calibration: int = 20, limit: int | None = None,
                        nemo_neurons: dict[str, Neurons] | None = None, nemo_evals: dict[str, int] | None = None,
                        tau_img: float | None = None, progress: bool = False) -> tuple[dict[str, Any], Any]:
    """Run every method on ``captions['memorized'][:limit]`` (``images[i]`` its training image); returns metrics and a
    grid (caption × [training image, before, each method])."""
    import torch

    from trustgen.core.progress import track
    from trustgen.memorization.evaluate import pairwise_ssim
    from trustgen.memorization.mitigation import Mitigation, make_mitigation
    from trustgen.memorization.retrigger import perturb_embedding

    s = s or MitigationSettings()
    methods = list(methods or MITIGATION_METHODS)
    for m in methods:
        if m not in MITIGATION_METHODS:
            raise TrustgenError(f"unknown mitigation method {m!r}: use one of {', '.join(MITIGATION_METHODS)}")
    mem = captions["memorized"][:limit]
    images = images[: len(mem)]
    utility = captions["calibration"]
    gen_seed = seed + 1000
    if tau_img is None:
        tau_img = image_threshold(model, captions["nonmemorized"][:image_calibration], train_images,
                                  gen_seeds=gen_seeds, seed=gen_seed, steps=gen_steps, progress=progress)
    plain = Mitigation("none", s)
    start = time.perf_counter()
    before = [plain.generate(model, c, gen_seeds, gen_seed, gen_steps)
              for c in track(mem, description="generating before", enabled=progress)]
    image_seconds = (time.perf_counter() - start) / (len(mem) * gen_seeds)
    sims_before = [float(pairwise_ssim(g, im[None]).max()) for g, im in zip(before, images, strict=True)]
    acc_before = mitigated_accuracy(model, plain, per_digit=per_digit, seed=seed, steps=gen_steps)
    grid = [torch.stack([im for im in images]), torch.stack([g[0] for g in before])]
    results: dict[str, Any] = {}
    gate = None
    if s.gate == "detector" and {"embedding", "attention"} & set(methods):
        gate = DetectorGate(model, utility, nemo or NemoSettings(), progress)
        for c in mem:  # detection cost is spent once per prompt
            gate(c)
    for name in methods:
        mit = make_mitigation(name, s, steps=gen_steps, neurons=nemo_neurons if name == "nemo" else None,
                              localize_fn=_nemo_localizer(model, utility, nemo or NemoSettings(), progress)
                              if name == "nemo" else None)
        if name == "nemo" and nemo_neurons:
            mit.setup_unet_evals = sum((nemo_evals or {}).get(c, 0) for c in mem if c in nemo_neurons)
            mit.info["neurons_from"] = "a previous NeMo localization (same model, seed and settings)"
        gated = gate is not None and name in ("embedding", "attention")
        if gated:
            mit.gate = gate
        mit.prepare(model, mem, utility, progress=progress)
        rows = []
        after_first = []
        for caption, image, sim0 in track(list(zip(mem, images, sims_before, strict=True)),
                                          description=f"{name}: mitigating and re-triggering", enabled=progress):
            gens = mit.generate(model, caption, gen_seeds, gen_seed, gen_steps)
            after_first.append(gens[0])
            sim = float(pairwise_ssim(gens, image[None]).max())
            row: dict[str, Any] = {"caption": caption, "max_ssim_before": sim0, "max_ssim_after": sim,
                                   "mitigated": sim < tau_img}
            if row["mitigated"]:
                target = mit.mitigated_model(model)
                text = target.text_encoder.encode([caption])  # type: ignore[union-attr]
                perturbed, search = perturb_embedding(
                    target, mit.unet_context(target, caption), text, image[None], radius=s.retrigger_radius,
                    steps=s.retrigger_steps, batch=s.retrigger_batch, seed=s.seed)
                regen = mit.generate(model, caption, gen_seeds, gen_seed, gen_steps, text=perturbed)
                row["max_ssim_retriggered"] = float(pairwise_ssim(regen, image[None]).max())
                row["retriggered"] = row["max_ssim_retriggered"] >= tau_img
                row["search"] = search
            rows.append(row)
        generation_images, generation_evals = mit.generation_images, mit.generation_unet_evals
        acc = mitigated_accuracy(model, mit, per_digit=per_digit, seed=seed, steps=gen_steps)
        mitigated = [r for r in rows if r["mitigated"]]
        setup_per_caption = (mit.setup_unet_evals + (gate.setup_unet_evals if gated and gate else 0)) / len(mem)
        if gated and gate is not None:
            mit.info["gate"] = {"threshold": gate.threshold, "calibration_unet_evals": gate.setup_unet_evals,
                                "detection_unet_evals_per_prompt": gate.unet_evals / max(len(gate.flags), 1),
                                "flagged": {p: f for p, f in gate.flags.items()}}
        results[name] = {
            "frac_mitigated": float(np.mean([r["mitigated"] for r in rows])),
            "retrigger_rate": (float(np.mean([r["retriggered"] for r in mitigated])) if mitigated else None),
            "num_mitigated": len(mitigated),
            "median_max_ssim_after": float(np.median([r["max_ssim_after"] for r in rows])),
            "nonmem_accuracy_before": acc_before, "nonmem_accuracy_after": acc,
            "nonmem_accuracy_delta": 100 * (acc - acc_before),
            "setup_unet_evals_per_caption": setup_per_caption,
            "extra_unet_evals_per_image": generation_evals / max(generation_images, 1),
            "cost_setup_images_per_caption": setup_per_caption / gen_steps,
            "cost_detect_images_per_prompt": (gate.unet_evals / max(len(gate.flags), 1) / gen_steps)
            if gated and gate is not None else 0.0,
            "cost_per_image_ratio": (gen_steps + generation_evals / max(generation_images, 1)) / gen_steps,
            "setup_seconds_per_caption": mit.setup_seconds / len(mem),
            "cost_setup_seconds_ratio": mit.setup_seconds / len(mem) / image_seconds,
            "mitigation": mit.record(), "per_caption": rows,
        }
        grid.append(torch.stack(after_first))
    metrics = {"seed": seed, "gen_seeds": gen_seeds, "gen_steps": gen_steps, "per_digit": per_digit,
               "image_threshold": tau_img, "num_memorized": len(mem),
               "frac_replicated_before": float(np.mean([v >= tau_img for v in sims_before])),
               "median_max_ssim_before": float(np.median(sims_before)), "nonmem_accuracy_before": acc_before,
               "seconds_per_image": image_seconds, "settings": s.model_dump(mode="json"), "methods": results}
    cols = torch.stack(grid, dim=1)  # caption × column
    return metrics, cols.flatten(0, 1)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def neurons_from_file(path: Path) -> tuple[dict[str, Neurons], dict[str, int]]:
    """Per-caption NeMo neurons (and their localization cost) from an ``evaluate`` run's ``metrics.json``."""
    from trustgen.core.safe_io import read_json
    from trustgen.memorization.layers import from_pairs

    data = read_json(path)
    rows = data.get("per_caption") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "neurons" in r and "caption" in r for r in rows):
        raise TrustgenError(f"{path}: not the metrics.json of `trustgen memorization evaluate` (needs per_caption "
                            "rows with caption and neurons)")
    return ({r["caption"]: from_pairs(r["neurons"]) for r in rows},
            {r["caption"]: int(r.get("unet_evals", 0)) for r in rows})


def run_compare(model_name: str, out: Path, *, methods: list[str] | None = None, s: MitigationSettings | None = None,
                seed: int = 0, per_digit: int = 20, gen_steps: int = 25, limit: int | None = None,
                nemo_from: Path | None = None, image_threshold_value: float | None = None,
                progress: bool = False) -> dict[str, Any]:
    """``trustgen memorization evaluate --compare`` on a model trained on ``digits-memorized``."""
    from trustgen.core.data import load_dataset
    from trustgen.core.data.memorized import MEMORIZED_DATASETS, caption_lists, memorized_pairs
    from trustgen.core.figures import save_grid
    from trustgen.core.safe_io import read_json
    from trustgen.diffusion.bundle import resolve_model_path
    from trustgen.memorization.config import effective_settings
    from trustgen.memorization.evaluate import CAPTION_LISTS
    from trustgen.memorization.inputs import load_text_model

    model = load_text_model(model_name)
    if model.meta.get("dataset") not in MEMORIZED_DATASETS:
        raise TrustgenError(f"evaluate --compare needs a model trained on digits-memorized(-rare) (its memorized "
                            f"captions are known); {model_name!r} was trained on {model.meta.get('dataset')!r}")
    nemo = effective_settings(NemoSettings(seed=seed), model.meta)
    lists_file = resolve_model_path(model_name) / CAPTION_LISTS
    captions = read_json(lists_file) if lists_file.is_file() else caption_lists(seed=seed)
    memorized, images = memorized_pairs()
    if captions["memorized"] != memorized:
        raise TrustgenError(f"{lists_file}: its memorized captions are not digits-memorized's")
    neurons, evals = neurons_from_file(nemo_from) if nemo_from else (None, None)
    train = load_dataset("digits-captioned", "train").images
    s = s or MitigationSettings()
    with RunDir(out) as run:
        run.write_config(s)
        metrics, grid = compare_mitigations(model, captions, images, train, methods=methods, s=s, nemo=nemo,
                                            seed=seed, gen_steps=gen_steps, per_digit=per_digit, limit=limit,
                                            nemo_neurons=neurons, nemo_evals=evals, tau_img=image_threshold_value,
                                            progress=progress)
        metrics = {"model": model_name, **metrics}
        names = list(metrics["methods"])
        save_grid(grid, run.file("compare.png"), nrow=2 + len(names))
        rows = "\n".join(
            f"| {n} | {r['frac_mitigated']:.2f} | {_fmt(r['retrigger_rate'])} | "
            f"{100 * r['nonmem_accuracy_before']:.1f} → {100 * r['nonmem_accuracy_after']:.1f} "
            f"({r['nonmem_accuracy_delta']:+.1f}) | {r['cost_setup_images_per_caption']:.1f} | "
            f"{r['cost_per_image_ratio']:.2f} |" for n, r in metrics["methods"].items())
        run.write_report(
            f"# Memorization mitigations compared on `{model_name}` (seed {seed})\n\n"
            f"{metrics_table(metrics, ['image_threshold', 'num_memorized', 'frac_replicated_before'])}\n\n"
            "| method | share mitigated | re-trigger rate | prompted accuracy before → after (points) | "
            "setup cost per caption (images) | cost per image (× one image) |\n|---|---|---|---|---|---|\n"
            f"{rows}\n\n![training image, before, then each method: {', '.join(names)}](compare.png)\n")
        run.write_metrics(metrics)
    return metrics
