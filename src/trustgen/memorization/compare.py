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
from typing import TYPE_CHECKING, Any

import numpy as np

from trustgen.core.errors import TrustgenError
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.memorization.config import MITIGATION_METHODS, MitigationSettings, NemoSettings
from trustgen.memorization.layers import Neurons
from trustgen.memorization.replication import image_threshold, pairwise_ssim

if TYPE_CHECKING:
    from trustgen.memorization.mitigation import Localizer, Mitigation

__all__ = ["compare_mitigations", "mitigated_accuracy"]


def mitigated_accuracy(model: DiffusionModel, mitigation: Mitigation, *, per_digit: int, seed: int,
                       steps: int) -> float:
    """Prompted-digit accuracy with ``mitigation`` deployed for every prompt (digit d's images from seed ``seed+d``)."""
    import torch

    from trustgen.core.data.captions import prompt_for_digit
    from trustgen.core.metrics import get_extractor

    images = torch.cat([mitigation.generate(model, prompt_for_digit(d), per_digit, seed + d, steps, for_accuracy=True)
                        for d in range(10)])
    probs = get_extractor("digits").probabilities(images)  # type: ignore[attr-defined]
    return float((probs.argmax(axis=1) == np.repeat(np.arange(10), per_digit)).mean())


def _nemo_localizer(model: DiffusionModel, calibration: list[str], nemo: NemoSettings, progress: bool) -> Localizer:
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
    from trustgen.memorization.mitigation import DetectorGate, Mitigation, make_mitigation
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
