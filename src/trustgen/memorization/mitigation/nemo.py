"""NeMo as a mitigation: the value neurons NeMo localizes for a memorized caption switched off (Hintersdorf et al.,
NeurIPS 2024); a weight patch once exported."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from trustgen.core.errors import TrustgenError
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.memorization.layers import Neurons, as_pairs, count, union_neurons
from trustgen.memorization.mitigation.base import Mitigation

__all__ = ["NemoMitigation"]


@dataclass
class NemoMitigation(Mitigation):
    """NeMo's neurons switched off: per memorized caption its own neurons, for any other prompt the union."""

    neurons: dict[str, Neurons] = field(default_factory=dict)
    # caption -> (its neurons, UNet evaluations spent); set by the caller (it needs a calibration)
    localize_fn: Callable[[str], tuple[Neurons, int]] | None = None

    def prepare(self, model: DiffusionModel, memorized: list[str], utility: list[str], *,
                progress: bool = False) -> None:
        from trustgen.core.progress import track

        start = time.perf_counter()
        for caption in track([c for c in memorized if c not in self.neurons], description="NeMo: localizing",
                             enabled=progress):
            if self.localize_fn is None:
                raise TrustgenError("nemo needs a calibration to localize neurons")
            self.neurons[caption], evals = self.localize_fn(caption)
            self.setup_unet_evals += evals
        self.setup_seconds += time.perf_counter() - start
        self.info = {"neurons": {c: as_pairs(n) for c, n in self.neurons.items()},
                     "num_neurons_union": count(self.union())}

    def union(self) -> Neurons:
        """Every caption's neurons: what a model patched for all of them switches off."""
        return union_neurons(self.neurons.values())

    def unet_context(self, model: DiffusionModel, prompt: str) -> AbstractContextManager[Any]:
        from trustgen.memorization.hooks import deactivate

        neurons = self.neurons.get(prompt) or {}
        return deactivate(model.unet, neurons) if neurons else nullcontext()

    def accuracy_context(self, model: DiffusionModel) -> AbstractContextManager[Any]:
        from trustgen.memorization.hooks import deactivate

        union = self.union()
        return deactivate(model.unet, union) if union else nullcontext()
