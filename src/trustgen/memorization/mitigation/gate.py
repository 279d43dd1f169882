"""NeMo's detector as the switch of an inference-time mitigation (``embedding``, ``attention``), as Wen et al.
(ICLR 2024) pair their detector with their mitigation. No I/O here."""

from __future__ import annotations

from trustgen.diffusion.bundle import DiffusionModel
from trustgen.memorization.config import NemoSettings

__all__ = ["DetectorGate"]


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
