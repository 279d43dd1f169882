"""Run-directory entry points of ``trustgen memorization``: prompts in, run folder out.

``calibrate`` (threshold + activation statistics from non-memorized prompts), ``detect``, ``localize``,
``prune`` (export a patched model) and ``evaluate`` (the whole validation on a model whose card lists
memorized and non-memorized captions). Methods: NeMo (Hintersdorf et al., NeurIPS 2024) and the noise-norm
detector of Wen et al. (ICLR 2024).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trustgen.core.errors import TrustgenError
from trustgen.core.runs import RunDir, metrics_table, write_text_atomic
from trustgen.core.safe_io import read_json
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.memorization.calibration import calibrate, scores
from trustgen.memorization.config import NemoSettings, effective_settings
from trustgen.memorization.inputs import load_text_model, read_prompts
from trustgen.memorization.layers import Neurons, check_neurons, value_layers
from trustgen.memorization.statistics import ActivationStats

CALIBRATION = "calibration.json"
STATS = "activation_stats.safetensors"
NEURONS = "neurons.json"


def load_calibration(folder: str | Path, model: DiffusionModel, include_up: bool) -> tuple[dict[str, Any],
                                                                                           ActivationStats]:
    """The threshold and statistics written by ``trustgen memorization calibrate --out FOLDER``."""
    folder = Path(folder)
    if not (folder / CALIBRATION).is_file() or not (folder / STATS).is_file():
        raise TrustgenError(f"{folder} is not a calibration folder (needs {CALIBRATION} and {STATS})")
    calib = read_json(folder / CALIBRATION)
    return calib, ActivationStats.load(folder / STATS, value_layers(model.unet, include_up=include_up))


def run_calibrate(model_name: str, prompts_file: Path, out: Path, s: NemoSettings, *,
                  progress: bool = False) -> dict[str, Any]:
    model = load_text_model(model_name)
    s = effective_settings(s, model.meta)
    value_layers(model.unet, include_up=s.include_up)
    prompts = read_prompts(prompts_file)
    with RunDir(out) as run:
        run.write_config(s)
        calib, stats = calibrate(model, prompts, s, progress=progress)
        stats.save(run.file(STATS))
        write_text_atomic(run.file(CALIBRATION), json.dumps(calib, indent=2) + "\n")
        metrics = {"model": model_name, **{k: v for k, v in calib.items() if k != "settings"}}
        run.write_report(f"# Memorization threshold of `{model_name}`\n\n{len(prompts)} non-memorized prompts; "
                         f"threshold = mean + 1 std of their NeMo scores.\n\n{metrics_table(metrics)}\n")
        run.write_metrics(metrics)
    return metrics


def run_detect(model_name: str, prompts_file: Path, calibration: Path, out: Path, s: NemoSettings, *,
               progress: bool = False) -> dict[str, Any]:
    model = load_text_model(model_name)
    s = effective_settings(s, model.meta)
    value_layers(model.unet, include_up=s.include_up)
    prompts = read_prompts(prompts_file)
    calib, _ = load_calibration(calibration, model, s.include_up)
    dets = scores(model, prompts, s, calib["threshold"], progress=progress)
    rows = [d.to_dict() for d in dets]
    metrics = {"model": model_name, "threshold": calib["threshold"], "num_prompts": len(rows),
               "num_memorized": sum(bool(r["memorized"]) for r in rows), "prompts": rows}
    with RunDir(out) as run:
        run.write_config(s)
        table = "\n".join(f"| {r['prompt']} | {r['nemo_score']:.3f} | {r['wen_score']:.3f} | {r['memorized']} |"
                          for r in rows)
        run.write_report(f"# Memorization detection on `{model_name}`\n\nThreshold {calib['threshold']:.3f}.\n\n"
                         f"| prompt | NeMo score | Wen score | memorized |\n|---|---|---|---|\n{table}\n")
        run.write_metrics(metrics)
    return metrics


def run_localize(model_name: str, prompts_file: Path, calibration: Path, out: Path,
                 s: NemoSettings, *, progress: bool = False) -> dict[str, Any]:
    from trustgen.core.progress import track
    from trustgen.memorization.localization import localize

    model = load_text_model(model_name)
    s = effective_settings(s, model.meta)
    value_layers(model.unet, include_up=s.include_up)
    prompts = read_prompts(prompts_file)
    calib, stats = load_calibration(calibration, model, s.include_up)
    results = [localize(model, p, stats, calib["threshold"], s).to_dict()
               for p in track(prompts, description="localizing", enabled=progress)]
    metrics = {"model": model_name, "threshold": calib["threshold"], "num_prompts": len(results),
               "num_memorized": sum(bool(r["memorized"]) for r in results), "prompts": results}
    with RunDir(out) as run:
        run.write_config(s)
        write_text_atomic(run.file(NEURONS), json.dumps(neurons_record(results), indent=2) + "\n")
        table = "\n".join(f"| {r['prompt']} | {r['nemo_score']:.3f} | {r['num_neurons']} | {r['ssim_after']} | "
                          f"{r['unet_evals']} |" for r in results)
        run.write_report(f"# Memorization neurons of `{model_name}`\n\n| prompt | score | neurons | "
                         f"SSIM after | UNet evaluations |\n|---|---|---|---|---|\n{table}\n")
        run.write_metrics(metrics)
    return metrics


def neurons_record(results: list[dict[str, Any]]) -> dict[str, Any]:
    """``neurons.json``: the union of found neurons and, per neuron, the prompts it was found for."""
    union: Neurons = {}
    why: dict[str, list[str]] = {}
    for r in results:
        for layer, index in r["neurons"]:
            union.setdefault(layer, [])
            if index not in union[layer]:
                union[layer].append(index)
            why.setdefault(f"{layer}:{index}", []).append(r["prompt"])
    return {"neurons": {k: sorted(v) for k, v in union.items()}, "why": why}


def parse_neurons(text: str) -> Neurons:
    """``LAYER:I,LAYER:J,…`` → neurons."""
    out: Neurons = {}
    for item in (t.strip() for t in text.split(",") if t.strip()):
        layer, _, index = item.rpartition(":")
        if not layer or not index.lstrip("-").isdigit():
            raise TrustgenError(f"bad neuron {item!r}: use LAYER:INDEX, e.g. mid_block.attentions.0."
                                "transformer_blocks.0.attn2.to_v:3")
        out.setdefault(layer, []).append(int(index))
    if not out:
        raise TrustgenError("no neurons given")
    return out


def run_prune(model_name: str, out: Path, *, neurons_file: Path | None = None, neurons: str | None = None,
              scale: float = 0.0) -> dict[str, Any]:
    from trustgen.memorization.export import export_patched

    model = load_text_model(model_name, include_up=True)
    if (neurons_file is None) == (neurons is None):
        raise TrustgenError("give exactly one of --neurons-file (a localize run's neurons.json) or --neurons")
    if neurons_file is not None:
        path = neurons_file / NEURONS if neurons_file.is_dir() else neurons_file
        if not path.is_file():
            raise TrustgenError(f"neurons file not found: {path}")
        record = read_json(path)
        chosen, why = record.get("neurons", {}), record.get("why", {})
    else:
        chosen, why = parse_neurons(str(neurons)), {}
    chosen = check_neurons(chosen, value_layers(model.unet, include_up=True))
    folder = export_patched(model, chosen, out / "model", scale=scale, why=why, source=model_name)
    metrics = {"model": model_name, "patched_model": str(folder), "num_neurons": sum(map(len, chosen.values())),
               "scale": scale}
    with RunDir(out) as run:
        run.write_report(f"# Patched `{model_name}`\n\n{metrics_table(metrics)}\n\nModel card: `model/README.md`.\n")
        run.write_metrics(metrics)
    return metrics


def _card(method: str, source: str, memorized: list[str], record: dict[str, Any]) -> str:
    what = {
        "nemo": "the value neurons NeMo localized for these captions are switched off in the weights (Hintersdorf "
                "et al., NeurIPS 2024)",
        "finetune": "the cross-attention weights were fine-tuned so these captions predict what the original model "
                    "predicts for the empty prompt, with a distillation loss holding other captions (after "
                    "Hintersdorf et al. 2025, *Finding Dori*)",
        "embedding": "no weights change: before sampling a flagged prompt, its token features are optimised to lower "
                     "the text-conditional noise norm (Wen et al., ICLR 2024); `mitigation.json` holds the settings",
        "attention": "no weights change: for a flagged prompt, every cross-attention layer multiplies the beginning "
                     "token's logits by c1 and masks the summary tokens (Ren et al., ECCV 2024); `mitigation.json` "
                     "holds the settings",
    }[method]
    rows = "\n".join(f"- {c}" for c in memorized)
    return (f"# Memorization mitigated: `{method}`\n\nSource model: `{source}`. Made with `trustgen memorization "
            f"mitigate --method {method}`: {what}.\n\nMemorized captions (flagged by NeMo's detector):\n\n{rows}\n\n"
            "Caveat (Hintersdorf et al., 2025, *Finding Dori*): mitigated memorization can come back under small "
            "changes of the text embedding; `trustgen memorization evaluate --compare` measures how often.\n\n"
            f"```json\n{json.dumps({k: v for k, v in record.items() if k != 'neurons'}, indent=2)}\n```\n")


def run_mitigate(model_name: str, prompts_file: Path, out: Path, method: str, s: Any, nemo: NemoSettings, *,
                 calibration: Path | None = None, progress: bool = False) -> dict[str, Any]:
    """``trustgen memorization mitigate``: flag the memorized captions of a prompt file with NeMo's detector, then
    mitigate them with ``method``; writes a patched model (``nemo``, ``finetune``) or the settings an inference
    pipeline applies (``embedding``, ``attention``) to ``out``, with a card. No memorized caption: nothing to do."""
    from dataclasses import replace

    from trustgen.core.data.memorized import MEMORIZED_DATASETS
    from trustgen.diffusion.attention import cross_attention_names
    from trustgen.diffusion.bundle import resolve_model_path
    from trustgen.memorization.config import MITIGATION_METHODS
    from trustgen.memorization.evaluate import CAPTION_LISTS
    from trustgen.memorization.export import export_patched
    from trustgen.memorization.localization import localize
    from trustgen.memorization.mitigation import make_mitigation

    if method not in MITIGATION_METHODS:
        raise TrustgenError(f"unknown mitigation method {method!r}: use one of {', '.join(MITIGATION_METHODS)}")
    model = load_text_model(model_name)
    if method == "attention" and not cross_attention_names(model.unet):
        raise TrustgenError(f"model {model_name!r} has no cross-attention layers: --method attention cannot apply")
    nemo = effective_settings(nemo, model.meta)
    prompts = read_prompts(prompts_file)
    lists_file = resolve_model_path(model_name) / CAPTION_LISTS if model.meta.get("dataset") in MEMORIZED_DATASETS \
        else None
    lists = read_json(lists_file) if lists_file is not None and lists_file.is_file() else None
    if calibration is not None:
        calib, stats = load_calibration(calibration, model, nemo.include_up)
    elif lists is not None:
        calib, stats = calibrate(model, lists["calibration"], nemo, progress=progress)
    else:
        raise TrustgenError("give --calibration (a folder written by `trustgen memorization calibrate` on "
                            "non-memorized prompts): the detector needs its threshold")
    tau = calib["threshold"]
    dets = scores(model, prompts, nemo, tau, progress=progress, what="prompts")
    memorized = [d.prompt for d in dets if d.memorized]
    others = [d.prompt for d in dets if not d.memorized]
    metrics: dict[str, Any] = {"model": model_name, "method": method, "threshold": tau, "num_prompts": len(prompts),
                               "num_memorized": len(memorized), "memorized": memorized}
    with RunDir(out) as run:
        run.write_config(s)
        if not memorized:
            metrics["nothing_to_do"] = True
            run.write_report(f"# Nothing to mitigate\n\nNone of the {len(prompts)} prompts in `{prompts_file}` is "
                             f"memorized by `{model_name}` (NeMo score ≤ threshold {tau:.3f}); nothing was written.\n")
            run.write_metrics(metrics)
            return metrics
        utility = (lists["calibration"] if lists is not None else []) + others
        mit = make_mitigation(method, s, localize_fn=lambda c: (lambda loc: (loc.refined, loc.unet_evals))(
            localize(model, c, stats, tau, nemo)))
        mit.prepare(model, memorized, utility, progress=progress)
        record = {**mit.record(), "source": model_name, "memorized": memorized,
                  "detector": {"threshold": tau, "nemo_settings": nemo.model_dump(mode="json")}}
        if method == "nemo":
            why = {f"{layer}:{i}": [c for c, n in mit.neurons.items() if i in n.get(layer, [])]  # type: ignore[attr-defined]
                   for layer, idx in mit.union().items() for i in idx}  # type: ignore[attr-defined]
            metrics["patched_model"] = str(export_patched(model, mit.union(), out / "model", why=why,  # type: ignore[attr-defined]
                                                          source=model_name))
        elif method == "finetune":
            folder = replace(model, unet=mit.unet, meta={**model.meta, "memorization_mitigation": "finetune"}  # type: ignore[attr-defined]
                             ).save(out / "model")
            write_text_atomic(folder / "README.md", _card(method, model_name, memorized, record))
            write_text_atomic(folder / "memorization.json", json.dumps(record, indent=2) + "\n")
            metrics["patched_model"] = str(folder)
        else:
            write_text_atomic(run.file("mitigation.json"), json.dumps(record, indent=2) + "\n")
            write_text_atomic(run.file("README.md"), _card(method, model_name, memorized, record))
            metrics["settings_file"] = str(run.file("mitigation.json"))
        metrics["mitigation"] = record
        run.write_report(_card(method, model_name, memorized, record))
        run.write_metrics(metrics)
    return metrics
