"""Caia: class attribute inference from a black-box classifier with diffusion edits.

Struppek, Hintersdorf, Friedrich, Brack, Schramowski & Kersting, *Image Classifiers Leak Sensitive Attributes
About Their Classes* (arXiv 2303.09289, 2023). The attacker edits public images to carry each value of a
sensitive attribute, keeps the edits a filter classifier confirms, queries the target as a black box and, per
class, votes for the value whose variants the class prefers.

* ``writers`` — the offline setting: 20 synthetic writers (classes) with hidden thickness and slant;
* ``editing`` — SDEdit-style attribute edits with a text-conditional ``trustgen.diffusion`` model;
* ``attack`` — filter, black-box queries (probabilities or top-1 only), the score-advantage vote, chance;
* ``pipeline`` / ``experiment`` — targets (standard and PGD-robust), filters, ``trustgen caia`` run folders.

>>> from trustgen.attribute_inference import CaiaEvaluateSettings, run_evaluate   # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trustgen.core.lazy import lazy_exports

if TYPE_CHECKING:
    from trustgen.attribute_inference.attack import BlackBox, CaiaResult, ClassInference, accept_sets, infer, vote
    from trustgen.attribute_inference.config import CaiaEvaluateSettings, CaiaSettings, TargetSettings
    from trustgen.attribute_inference.editing import sdedit
    from trustgen.attribute_inference.experiment import run_attack, run_evaluate
    from trustgen.attribute_inference.pipeline import run_caia, train_filter, train_target
    from trustgen.attribute_inference.writers import build_writers

_EXPORTS = {
    "BlackBox": "trustgen.attribute_inference.attack",
    "CaiaResult": "trustgen.attribute_inference.attack",
    "ClassInference": "trustgen.attribute_inference.attack",
    "accept_sets": "trustgen.attribute_inference.attack",
    "infer": "trustgen.attribute_inference.attack",
    "vote": "trustgen.attribute_inference.attack",
    "CaiaEvaluateSettings": "trustgen.attribute_inference.config",
    "CaiaSettings": "trustgen.attribute_inference.config",
    "TargetSettings": "trustgen.attribute_inference.config",
    "sdedit": "trustgen.attribute_inference.editing",
    "run_attack": "trustgen.attribute_inference.experiment",
    "run_evaluate": "trustgen.attribute_inference.experiment",
    "run_caia": "trustgen.attribute_inference.pipeline",
    "train_filter": "trustgen.attribute_inference.pipeline",
    "train_target": "trustgen.attribute_inference.pipeline",
    "build_writers": "trustgen.attribute_inference.writers",
}
__all__ = [
    "BlackBox",
    "CaiaEvaluateSettings",
    "CaiaResult",
    "CaiaSettings",
    "ClassInference",
    "TargetSettings",
    "accept_sets",
    "build_writers",
    "infer",
    "run_attack",
    "run_caia",
    "run_evaluate",
    "sdedit",
    "train_filter",
    "train_target",
    "vote",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
