"""Run-directory entry points of ``trustgen memorization``: settings in, run folder out.

``calibrate`` (threshold + activation statistics from non-memorized prompts), ``detect``, ``localize``,
``prune`` (export a patched model), ``mitigate``, ``evaluate`` (the whole validation on a model whose card lists
memorized and non-memorized captions) and ``evaluate --compare`` (every mitigation on the same captions). Methods:
NeMo (Hintersdorf et al., NeurIPS 2024) and the noise-norm detector of Wen et al. (ICLR 2024). Each writes the
command's settings — model and input paths included — to ``config.yaml``, with NeMo's settings as the run used them
(the model's recommendation filled in).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trustgen.core.errors import TrustgenError
from trustgen.core.runs import RunDir, write_text_atomic
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.memorization.calibration import calibrate, scores
from trustgen.memorization.config import (
    CalibrateSettings,
    CompareSettings,
    DetectSettings,
    EvaluateSettings,
    LocalizeSettings,
    MitigateSettings,
    NemoSettings,
    PruneSettings,
    effective_settings,
)
from trustgen.memorization.inputs import (
    CALIBRATION,
    NEURONS,
    STATS,
    load_calibration,
    load_text_model,
    read_prompts,
)
from trustgen.memorization.layers import check_neurons, neurons_record, parse_neurons, value_layers
from trustgen.memorization.report import (
    calibrate_report,
    compare_report,
    detect_report,
    evaluate_report,
    localize_report,
    mitigation_card,
    nothing_to_mitigate_report,
    prune_report,
)

__all__ = ["run_calibrate", "run_compare", "run_detect", "run_evaluate", "run_localize", "run_mitigate",
           "run_prune"]


def _open(name: str, nemo: NemoSettings, prompts_file: Path) -> tuple[DiffusionModel, NemoSettings, list[str]]:
    """The model, NeMo's settings as this model runs them, and the prompts (each checked, in this order)."""
    model = load_text_model(name)
    nemo = effective_settings(nemo, model.meta)
    value_layers(model.unet, include_up=nemo.include_up)
    return model, nemo, read_prompts(prompts_file)


def run_calibrate(settings: CalibrateSettings, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """``trustgen memorization calibrate``: writes the threshold (``calibration.json``) and the activation
    statistics (``activation_stats.safetensors``) that detect, localize and mitigate read."""
    model, nemo, prompts = _open(settings.model, settings.nemo, settings.prompts)
    with RunDir(out) as run:
        run.write_config(settings.model_copy(update={"nemo": nemo}))
        calib, stats = calibrate(model, prompts, nemo, progress=progress)
        stats.save(run.file(STATS))
        write_text_atomic(run.file(CALIBRATION), json.dumps(calib, indent=2) + "\n")
        metrics = {"model": settings.model, **{k: v for k, v in calib.items() if k != "settings"}}
        run.write_report(calibrate_report(metrics))
        run.write_metrics(metrics)
    return metrics


def run_detect(settings: DetectSettings, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """``trustgen memorization detect``: NeMo's and Wen et al.'s scores of each prompt, flagged against the
    calibrated threshold."""
    model, nemo, prompts = _open(settings.model, settings.nemo, settings.prompts)
    calib, _ = load_calibration(settings.calibration, model, nemo.include_up)
    dets = scores(model, prompts, nemo, calib["threshold"], progress=progress)
    rows = [d.to_dict() for d in dets]
    metrics = {"model": settings.model, "threshold": calib["threshold"], "num_prompts": len(rows),
               "num_memorized": sum(bool(r["memorized"]) for r in rows), "prompts": rows}
    with RunDir(out) as run:
        run.write_config(settings.model_copy(update={"nemo": nemo}))
        run.write_report(detect_report(metrics))
        run.write_metrics(metrics)
    return metrics


def run_localize(settings: LocalizeSettings, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """``trustgen memorization localize``: the value neurons of each memorized prompt; writes ``neurons.json``."""
    from trustgen.core.progress import track
    from trustgen.memorization.localization import localize

    model, nemo, prompts = _open(settings.model, settings.nemo, settings.prompts)
    calib, stats = load_calibration(settings.calibration, model, nemo.include_up)
    results = [localize(model, p, stats, calib["threshold"], nemo).to_dict()
               for p in track(prompts, description="localizing", enabled=progress)]
    metrics = {"model": settings.model, "threshold": calib["threshold"], "num_prompts": len(results),
               "num_memorized": sum(bool(r["memorized"]) for r in results), "prompts": results}
    with RunDir(out) as run:
        run.write_config(settings.model_copy(update={"nemo": nemo}))
        write_text_atomic(run.file(NEURONS), json.dumps(neurons_record(results), indent=2) + "\n")
        run.write_report(localize_report(metrics))
        run.write_metrics(metrics)
    return metrics


def run_prune(settings: PruneSettings, out: Path) -> dict[str, Any]:
    """``trustgen memorization prune``: the model with the chosen neurons scaled in its weights, to ``out/model``,
    with a model card."""
    from trustgen.memorization.export import export_patched
    from trustgen.memorization.inputs import read_neurons_file

    model = load_text_model(settings.model, include_up=True)
    if (settings.neurons_file is None) == (settings.neurons is None):
        raise TrustgenError("give exactly one of --neurons-file (a localize run's neurons.json) or --neurons")
    if settings.neurons_file is not None:
        chosen, why = read_neurons_file(settings.neurons_file)
    else:
        chosen, why = parse_neurons(str(settings.neurons)), {}
    chosen = check_neurons(chosen, value_layers(model.unet, include_up=True))
    folder = export_patched(model, chosen, out / "model", scale=settings.scale, why=why, source=settings.model)
    metrics = {"model": settings.model, "patched_model": str(folder), "num_neurons": sum(map(len, chosen.values())),
               "scale": settings.scale}
    with RunDir(out) as run:
        run.write_config(settings)
        run.write_report(prune_report(metrics))
        run.write_metrics(metrics)
    return metrics


def run_mitigate(settings: MitigateSettings, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """``trustgen memorization mitigate``: flag the memorized captions of a prompt file with NeMo's detector, then
    mitigate them with ``settings.method``; writes a patched model (``nemo``, ``finetune``) or the settings an
    inference pipeline applies (``embedding``, ``attention``) to ``out``, with a card. No memorized caption: nothing
    to do."""
    from dataclasses import replace

    from trustgen.diffusion.attention import cross_attention_names
    from trustgen.memorization.config import MITIGATION_METHODS
    from trustgen.memorization.export import export_patched
    from trustgen.memorization.inputs import model_caption_lists
    from trustgen.memorization.localization import localize
    from trustgen.memorization.mitigation import NemoMitigation, make_mitigation

    method, name = settings.method, settings.model
    if method not in MITIGATION_METHODS:
        raise TrustgenError(f"unknown mitigation method {method!r}: use one of {', '.join(MITIGATION_METHODS)}")
    model = load_text_model(name)
    if method == "attention" and not cross_attention_names(model.unet):
        raise TrustgenError(f"model {name!r} has no cross-attention layers: --method attention cannot apply")
    nemo = effective_settings(settings.nemo, model.meta)
    prompts = read_prompts(settings.prompts)
    lists = model_caption_lists(name, model)
    if settings.calibration is not None:
        calib, stats = load_calibration(settings.calibration, model, nemo.include_up)
    elif lists is not None:
        calib, stats = calibrate(model, lists["calibration"], nemo, progress=progress)
    else:
        raise TrustgenError("give --calibration (a folder written by `trustgen memorization calibrate` on "
                            "non-memorized prompts): the detector needs its threshold")
    tau = calib["threshold"]
    dets = scores(model, prompts, nemo, tau, progress=progress, what="prompts")
    memorized = [d.prompt for d in dets if d.memorized]
    others = [d.prompt for d in dets if not d.memorized]
    metrics: dict[str, Any] = {"model": name, "method": method, "threshold": tau, "num_prompts": len(prompts),
                               "num_memorized": len(memorized), "memorized": memorized}
    with RunDir(out) as run:
        run.write_config(settings.model_copy(update={"nemo": nemo}))
        if not memorized:
            metrics["nothing_to_do"] = True
            run.write_report(nothing_to_mitigate_report(metrics, settings.prompts))
            run.write_metrics(metrics)
            return metrics
        utility = (lists["calibration"] if lists is not None else []) + others
        mit = make_mitigation(method, settings.mitigation, localize_fn=lambda c: (
            lambda loc: (loc.refined, loc.unet_evals))(localize(model, c, stats, tau, nemo)))
        mit.prepare(model, memorized, utility, progress=progress)
        record = {**mit.record(), "source": name, "memorized": memorized,
                  "detector": {"threshold": tau, "nemo_settings": nemo.model_dump(mode="json")}}
        card = mitigation_card(method, name, memorized, record)
        if isinstance(mit, NemoMitigation):
            why = {f"{layer}:{i}": [c for c, n in mit.neurons.items() if i in n.get(layer, [])]
                   for layer, idx in mit.union().items() for i in idx}
            metrics["patched_model"] = str(export_patched(model, mit.union(), out / "model", why=why, source=name))
        elif method == "finetune":
            folder = replace(model, unet=mit.mitigated_model(model).unet,
                             meta={**model.meta, "memorization_mitigation": "finetune"}).save(out / "model")
            write_text_atomic(folder / "README.md", card)
            write_text_atomic(folder / "memorization.json", json.dumps(record, indent=2) + "\n")
            metrics["patched_model"] = str(folder)
        else:
            write_text_atomic(run.file("mitigation.json"), json.dumps(record, indent=2) + "\n")
            write_text_atomic(run.file("README.md"), card)
            metrics["settings_file"] = str(run.file("mitigation.json"))
        metrics["mitigation"] = record
        run.write_report(card)
        run.write_metrics(metrics)
    return metrics


def run_evaluate(settings: EvaluateSettings, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """``trustgen memorization evaluate``: the validation (:func:`~.evaluate.evaluate_memorization`) on a model
    trained on ``digits-memorized``. A rerun into the same folder resumes the finished captions' localizations."""
    from trustgen.core.figures import save_grid
    from trustgen.memorization.evaluate import evaluate_memorization
    from trustgen.memorization.inputs import memorized_benchmark
    from trustgen.memorization.resume import PARTIAL_FILE

    model = load_text_model(settings.model)
    nemo = effective_settings(settings.nemo, model.meta).model_copy(update={"seed": settings.seed})
    captions, images, train = memorized_benchmark(settings.model, model, seed=settings.seed, command="evaluate")
    with RunDir(out) as run:
        run.start_over(settings.model_copy(update={"nemo": nemo}))
        metrics, grid = evaluate_memorization(model, captions, images, train, seed=settings.seed, s=nemo,
                                              per_digit=settings.per_digit, gen_steps=settings.gen_steps,
                                              resume_folder=run.path, progress=progress)
        if metrics["localizations_resumed"]:
            run.log(f"resumed {metrics['localizations_resumed']} caption localizations from {PARTIAL_FILE}")
        metrics = {"model": settings.model, "seed": settings.seed, **metrics}
        save_grid(grid, run.file("mitigation.png"), nrow=4)
        run.write_report(evaluate_report(metrics))
        run.write_metrics(metrics)
        (run.path / PARTIAL_FILE).unlink(missing_ok=True)
    return metrics


def run_compare(settings: CompareSettings, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """``trustgen memorization evaluate --compare`` (:func:`~.compare.compare_mitigations`) on a model trained on
    ``digits-memorized``."""
    from trustgen.core.figures import save_grid
    from trustgen.memorization.compare import compare_mitigations
    from trustgen.memorization.inputs import memorized_benchmark, neurons_from_file

    model = load_text_model(settings.model)
    captions, images, train = memorized_benchmark(settings.model, model, seed=settings.seed,
                                                  command="evaluate --compare")
    nemo = effective_settings(NemoSettings(seed=settings.seed), model.meta)
    neurons, evals = neurons_from_file(settings.nemo_from) if settings.nemo_from else (None, None)
    with RunDir(out) as run:
        run.write_config(settings)
        metrics, grid = compare_mitigations(model, captions, images, train, methods=settings.methods,
                                            s=settings.mitigation, nemo=nemo, seed=settings.seed,
                                            gen_steps=settings.gen_steps, per_digit=settings.per_digit,
                                            limit=settings.limit, nemo_neurons=neurons, nemo_evals=evals,
                                            tau_img=settings.image_threshold, progress=progress)
        metrics = {"model": settings.model, **metrics}
        save_grid(grid, run.file("compare.png"), nrow=2 + len(metrics["methods"]))
        run.write_report(compare_report(metrics))
        run.write_metrics(metrics)
    return metrics
