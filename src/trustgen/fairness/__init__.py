"""Fair Diffusion: steer the proportions of an attribute in a text-to-image model's output at inference.

Friedrich, Brack, Struppek, Hintersdorf, Schramowski, Luccioni & Kersting, *Fair Diffusion: Instructing
Text-to-Image Generation Models on Fairness* (arXiv 2302.10893, 2023), built on semantic guidance:
Brack, Friedrich, Hintersdorf, Struppek, Schramowski & Kersting, *SEGA: Instructing Text-to-Image
Models using Semantic Guidance* (NeurIPS 2023, arXiv 2301.12247).

* ``sega`` — :class:`~trustgen.fairness.sega.SemanticGuidance` and
  :func:`~trustgen.fairness.sega.semantic_denoise`: SEGA over any diffusers text-conditional UNet and
  scheduler, pixel or latent, with per-image edit directions (equal to diffusers' deprecated
  ``SemanticStableDiffusionPipeline``);
* ``sampling`` — fair sampling: each image steered towards one attribute value and away from the others,
  drawn per image or in exact counts (:class:`~trustgen.fairness.sampling.FairGenerator`);
* ``closed_loop`` — trustgen's addition: measure while generating and adapt the steering probabilities;
* ``attributes`` — attribute measures (``stroke-thickness`` for the digits demo) and their reliability;
* ``config`` / ``experiment`` — settings with the paper's defaults, and ``trustgen fairness`` run folders.

>>> from trustgen.fairness import FairGenerateSettings, run_generate
>>> settings = FairGenerateSettings(model="digits-t2i-biased", prompt="a handwritten seven",
...                                 attribute="thin strokes:thick strokes", target=0.3, num=8)   # doctest: +SKIP
>>> run_generate(settings, Path("runs/fair7"))["share"]   # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trustgen.core.lazy import lazy_exports

if TYPE_CHECKING:
    from trustgen.fairness.attributes import AttributeMeasure, get_measure
    from trustgen.fairness.closed_loop import ClosedLoopResult, closed_loop
    from trustgen.fairness.config import EditSettings, FairEvaluateSettings, FairGenerateSettings
    from trustgen.fairness.experiment import run_evaluate, run_generate
    from trustgen.fairness.sampling import FairGenerator
    from trustgen.fairness.sega import EditConcept, SemanticGuidance, semantic_denoise

_EXPORTS = {
    "AttributeMeasure": "trustgen.fairness.attributes",
    "ClosedLoopResult": "trustgen.fairness.closed_loop",
    "EditConcept": "trustgen.fairness.sega",
    "EditSettings": "trustgen.fairness.config",
    "FairEvaluateSettings": "trustgen.fairness.config",
    "FairGenerateSettings": "trustgen.fairness.config",
    "FairGenerator": "trustgen.fairness.sampling",
    "SemanticGuidance": "trustgen.fairness.sega",
    "closed_loop": "trustgen.fairness.closed_loop",
    "get_measure": "trustgen.fairness.attributes",
    "run_evaluate": "trustgen.fairness.experiment",
    "run_generate": "trustgen.fairness.experiment",
    "semantic_denoise": "trustgen.fairness.sega",
}
__all__ = [
    "AttributeMeasure",
    "ClosedLoopResult",
    "EditConcept",
    "EditSettings",
    "FairEvaluateSettings",
    "FairGenerateSettings",
    "FairGenerator",
    "SemanticGuidance",
    "closed_loop",
    "get_measure",
    "run_evaluate",
    "run_generate",
    "semantic_denoise",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
