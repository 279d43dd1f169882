"""What the memorization commands read: prompt files, text-conditional models with value layers, calibration
folders, neuron files, and the caption lists of a model trained on ``digits-memorized``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trustgen.core.errors import TrustgenError
from trustgen.core.safe_io import read_json
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.memorization.layers import Neurons, from_pairs, value_layers
from trustgen.memorization.statistics import ActivationStats

__all__ = ["load_calibration", "load_text_model", "memorized_benchmark", "model_caption_lists", "neurons_from_file",
           "read_neurons_file", "read_prompts"]

CALIBRATION = "calibration.json"  # a calibrate run's threshold ...
STATS = "activation_stats.safetensors"  # ... and activation statistics
NEURONS = "neurons.json"  # a localize run's neurons
CAPTION_LISTS = "memorization_captions.json"  # written next to a zoo model by scripts/build_zoo.py


def read_prompts(path: str | Path) -> list[str]:
    """Non-empty lines of a UTF-8 text file; :class:`TrustgenError` if it is missing, binary or empty."""
    p = Path(path)
    if not p.is_file():
        raise TrustgenError(f"prompt file not found: {p}")
    raw = p.read_bytes()
    if b"\0" in raw:
        raise TrustgenError(f"prompt file {p} is not text (it contains NUL bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TrustgenError(f"prompt file {p} is not UTF-8 text") from None
    prompts = [line.strip() for line in text.splitlines() if line.strip()]
    if not prompts:
        raise TrustgenError(f"prompt file {p} has no prompts (one per line)")
    return prompts


def load_text_model(name: str, *, allow_pickle: bool = False, include_up: bool = False) -> DiffusionModel:
    """A text-conditional model with cross-attention value layers to search (else :class:`TrustgenError`)."""
    from trustgen.diffusion.bundle import load_model

    model = load_model(name, allow_pickle=allow_pickle)
    if model.conditioning != "text":
        raise TrustgenError(f"model {name!r} is not text-conditional: it has no cross-attention to search")
    value_layers(model.unet, include_up=include_up)
    return model


def load_calibration(folder: str | Path, model: DiffusionModel, include_up: bool) -> tuple[dict[str, Any],
                                                                                           ActivationStats]:
    """The threshold and statistics written by ``trustgen memorization calibrate --out FOLDER``."""
    folder = Path(folder)
    if not (folder / CALIBRATION).is_file() or not (folder / STATS).is_file():
        raise TrustgenError(f"{folder} is not a calibration folder (needs {CALIBRATION} and {STATS})")
    calib = read_json(folder / CALIBRATION)
    return calib, ActivationStats.load(folder / STATS, value_layers(model.unet, include_up=include_up))


def read_neurons_file(path: Path) -> tuple[Neurons, dict[str, list[str]]]:
    """The neurons of a localize run (its folder or ``neurons.json``) and, per neuron, the prompts it carries."""
    path = path / NEURONS if path.is_dir() else path
    if not path.is_file():
        raise TrustgenError(f"neurons file not found: {path}")
    record = read_json(path)
    return record.get("neurons", {}), record.get("why", {})


def neurons_from_file(path: Path) -> tuple[dict[str, Neurons], dict[str, int]]:
    """Per-caption NeMo neurons (and their localization cost) from an ``evaluate`` run's ``metrics.json``."""
    data = read_json(path)
    rows = data.get("per_caption") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "neurons" in r and "caption" in r for r in rows):
        raise TrustgenError(f"{path}: not the metrics.json of `trustgen memorization evaluate` (needs per_caption "
                            "rows with caption and neurons)")
    return ({r["caption"]: from_pairs(r["neurons"]) for r in rows},
            {r["caption"]: int(r.get("unet_evals", 0)) for r in rows})


def model_caption_lists(name: str, model: DiffusionModel) -> dict[str, list[str]] | None:
    """The caption lists shipped beside a model trained on ``digits-memorized`` (``memorized``, ``nonmemorized``,
    ``calibration``), or None when it has none."""
    from trustgen.core.data.memorized import MEMORIZED_DATASETS
    from trustgen.diffusion.bundle import resolve_model_path

    if model.meta.get("dataset") not in MEMORIZED_DATASETS:
        return None
    lists_file = resolve_model_path(name) / CAPTION_LISTS
    return read_json(lists_file) if lists_file.is_file() else None


def memorized_benchmark(name: str, model: DiffusionModel, *, seed: int, command: str
                        ) -> tuple[dict[str, list[str]], Any, Any]:
    """What ``evaluate`` (and ``evaluate --compare``: ``command``) validates against on a model trained on
    ``digits-memorized``: the caption lists (the model folder's ``memorization_captions.json``, which the zoo card
    hashes, or else :func:`~trustgen.core.data.memorized.caption_lists`), the memorized captions' training images
    and the training images of ``digits-captioned``."""
    from trustgen.core.data import load_dataset
    from trustgen.core.data.memorized import MEMORIZED_DATASETS, caption_lists, memorized_pairs
    from trustgen.diffusion.bundle import resolve_model_path

    if model.meta.get("dataset") not in MEMORIZED_DATASETS:
        raise TrustgenError(f"{command} needs a model trained on digits-memorized(-rare) (its memorized captions "
                            f"are known); {name!r} was trained on {model.meta.get('dataset')!r}")
    lists_file = resolve_model_path(name) / CAPTION_LISTS
    captions = read_json(lists_file) if lists_file.is_file() else caption_lists(seed=seed)
    memorized, images = memorized_pairs()
    if captions["memorized"] != memorized:
        raise TrustgenError(f"{lists_file}: its memorized captions are not digits-memorized's")
    return captions, images, load_dataset("digits-captioned", "train").images
