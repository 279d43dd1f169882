"""Memorization in text-to-image diffusion models: detect memorized prompts, localize the
cross-attention value neurons that carry them, switch them off, export the patched model.

Mitigation (``mitigate``, ``evaluate --compare``): NeMo's pruning beside Wen et al.'s prompt-embedding
optimisation, Ren et al.'s (ECCV 2024) cross-attention re-weighting and a cross-attention fine-tune, each with a
re-trigger search (Hintersdorf et al. 2025, *Finding Dori*).

Implements NeMo (Hintersdorf, Struppek, Kersting, Dziedzic, Boenisch: "Finding NeMo: Localizing
Neurons Responsible for Memorization in Diffusion Models", NeurIPS 2024) and, as a second detector,
the text-conditional noise-norm score of Wen, Liu, Chen, Lyu: "Detecting, Explaining, and Mitigating
Memorization in Diffusion Models", ICLR 2024. See ``docs/memorization.md``.

>>> from trustgen.memorization import NemoSettings, calibrate, load_text_model, localize
>>> model = load_text_model("digits-t2i-memorized", include_up=True)   # doctest: +SKIP
>>> calib, stats = calibrate(model, non_memorized_prompts, NemoSettings(include_up=True))   # doctest: +SKIP
>>> localize(model, memorized_prompt, stats, calib["threshold"]).neurons   # doctest: +SKIP

Each command has its settings model (model and input paths + the algorithm settings) and its run function:

>>> from trustgen.memorization import CalibrateSettings, run_calibrate
>>> run_calibrate(CalibrateSettings(model="digits-t2i-memorized", prompts=path), out)   # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trustgen.core.lazy import lazy_exports

if TYPE_CHECKING:
    from trustgen.memorization.calibration import calibrate, scores
    from trustgen.memorization.compare import compare_mitigations
    from trustgen.memorization.config import (
        CalibrateSettings,
        CompareSettings,
        DetectSettings,
        EvaluateSettings,
        LocalizeSettings,
        MitigateSettings,
        MitigationSettings,
        NemoSettings,
        PruneSettings,
    )
    from trustgen.memorization.detection import Detection, detect
    from trustgen.memorization.evaluate import evaluate_memorization
    from trustgen.memorization.experiment import (
        run_calibrate,
        run_compare,
        run_detect,
        run_evaluate,
        run_localize,
        run_mitigate,
        run_prune,
    )
    from trustgen.memorization.export import export_patched
    from trustgen.memorization.hooks import deactivate
    from trustgen.memorization.inputs import load_text_model, read_prompts
    from trustgen.memorization.localization import Localization, localize
    from trustgen.memorization.mitigation import Mitigation, make_mitigation
    from trustgen.memorization.replication import image_threshold, pairwise_ssim
    from trustgen.memorization.retrigger import perturb_embedding
    from trustgen.memorization.statistics import ActivationStats

_EXPORTS = {
    "ActivationStats": "trustgen.memorization.statistics",
    "CalibrateSettings": "trustgen.memorization.config",
    "CompareSettings": "trustgen.memorization.config",
    "DetectSettings": "trustgen.memorization.config",
    "Detection": "trustgen.memorization.detection",
    "EvaluateSettings": "trustgen.memorization.config",
    "Localization": "trustgen.memorization.localization",
    "LocalizeSettings": "trustgen.memorization.config",
    "MitigateSettings": "trustgen.memorization.config",
    "Mitigation": "trustgen.memorization.mitigation",
    "MitigationSettings": "trustgen.memorization.config",
    "NemoSettings": "trustgen.memorization.config",
    "PruneSettings": "trustgen.memorization.config",
    "calibrate": "trustgen.memorization.calibration",
    "compare_mitigations": "trustgen.memorization.compare",
    "deactivate": "trustgen.memorization.hooks",
    "detect": "trustgen.memorization.detection",
    "evaluate_memorization": "trustgen.memorization.evaluate",
    "export_patched": "trustgen.memorization.export",
    "image_threshold": "trustgen.memorization.replication",
    "load_text_model": "trustgen.memorization.inputs",
    "localize": "trustgen.memorization.localization",
    "make_mitigation": "trustgen.memorization.mitigation",
    "pairwise_ssim": "trustgen.memorization.replication",
    "perturb_embedding": "trustgen.memorization.retrigger",
    "read_prompts": "trustgen.memorization.inputs",
    "run_calibrate": "trustgen.memorization.experiment",
    "run_compare": "trustgen.memorization.experiment",
    "run_detect": "trustgen.memorization.experiment",
    "run_evaluate": "trustgen.memorization.experiment",
    "run_localize": "trustgen.memorization.experiment",
    "run_mitigate": "trustgen.memorization.experiment",
    "run_prune": "trustgen.memorization.experiment",
    "scores": "trustgen.memorization.calibration",
}
__all__ = [
    "ActivationStats",
    "CalibrateSettings",
    "CompareSettings",
    "DetectSettings",
    "Detection",
    "EvaluateSettings",
    "Localization",
    "LocalizeSettings",
    "MitigateSettings",
    "Mitigation",
    "MitigationSettings",
    "NemoSettings",
    "PruneSettings",
    "calibrate",
    "compare_mitigations",
    "deactivate",
    "detect",
    "evaluate_memorization",
    "export_patched",
    "image_threshold",
    "load_text_model",
    "localize",
    "make_mitigation",
    "pairwise_ssim",
    "perturb_embedding",
    "read_prompts",
    "run_calibrate",
    "run_compare",
    "run_detect",
    "run_evaluate",
    "run_localize",
    "run_mitigate",
    "run_prune",
    "scores",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
