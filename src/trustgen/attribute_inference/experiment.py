"""Run folders of ``trustgen caia``: ``attack`` (one target, one attribute) and ``evaluate`` (writers data set,
standard and PGD-robust targets, every attribute, both query modes, over seeds)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from trustgen.attribute_inference.config import CaiaEvaluateSettings, CaiaSettings
from trustgen.attribute_inference.pipeline import precheck, run_caia, score, train_filter, train_target
from trustgen.attribute_inference.report import attack_report, evaluate_report
from trustgen.attribute_inference.whitebox import whitebox_infer
from trustgen.core.errors import TrustgenError
from trustgen.core.runs import RunDir, write_text_atomic

WHITEBOX_NOTE = ("pixel-space gradient inversion of each class (25 public starting images, 60 Adam steps, TV "
                 "penalty) + the filter's mode; a stand-in for the paper's PPA, which lives in trustgen.inversion, a "
                 "capability Caia may not import")


def _save_examples(run: Any, path: Path, limit: int = 12) -> None:
    from trustgen.core.figures import save_grid

    kept = run.variants[run.accepted][:limit]
    if len(kept):
        save_grid(kept.transpose(0, 1).flatten(0, 1), path, nrow=len(kept))


def run_attack(settings: CaiaSettings, target_path: str, out: Path, *, filter_path: str | None = None,
               progress: bool = False) -> dict[str, Any]:
    """Attack the classifier at ``target_path``; scored when it carries the writers' hidden attribute table."""
    from trustgen.attribute_inference.writers import public_digits
    from trustgen.classifiers.bundle import load_classifier
    from trustgen.diffusion import load_model

    if settings.attack_images <= 0:
        raise TrustgenError("the attack set is empty: attack_images must be at least 1")
    target = load_classifier(target_path)
    editor = load_model(settings.editor)
    precheck(target, editor)
    with RunDir(out) as rd:
        rd.start_over(settings)
        began = time.perf_counter()
        if filter_path:
            filt = load_classifier(filter_path)
        else:
            if settings.values is not None:
                raise TrustgenError("custom --values need a --filter classifier for them")
            rd.log(f"train the {settings.attribute} filter on public digits")
            filt = train_filter(settings.attribute, epochs=settings.filter_epochs, seed=settings.seed)
            filt.save(out / "filter")
        run = run_caia(target, filt, editor, settings, public_digits(), progress=progress)
        values = settings.resolved_values()
        truth = (target.meta.get("hidden_attributes") or {}).get(settings.attribute)
        metrics: dict[str, Any] = {"attribute": settings.attribute, "values": values, "target": str(target_path),
                                   **run.extra}
        if truth is not None and len(truth) == target.num_classes:
            metrics.update(score(run, truth, values, settings.seed))
        else:
            truth = None
        metrics["results"] = {m: r.to_dict(truth) for m, r in run.results.items()}
        metrics["seconds"] = round(time.perf_counter() - began, 1)
        _save_examples(run, out / "accepted_sets.png")
        rd.log(f"{run.extra['sets_accepted']} of {run.extra['sets_generated']} sets accepted")
        rd.write_report(attack_report(metrics))
        rd.write_metrics(metrics)
    return metrics


def _interval(xs: list[float]) -> dict[str, Any]:
    """Mean and a 95 % t-interval over seeds (None with one seed)."""
    from scipy import stats

    arr = np.asarray(xs, dtype=float)
    out: dict[str, Any] = {"mean": float(arr.mean()), "n": len(arr), "values": [float(x) for x in arr]}
    if len(arr) > 1:
        half = float(stats.t.ppf(0.975, len(arr) - 1) * arr.std(ddof=1) / np.sqrt(len(arr)))
        out["ci95"] = [out["mean"] - half, out["mean"] + half]
    return out


def run_evaluate(settings: CaiaEvaluateSettings, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """For every seed: build the writers, train the targets and filters, attack every attribute in both modes."""
    from trustgen.attribute_inference.writers import build_writers, public_digits
    from trustgen.classifiers.metrics import predict_logits
    from trustgen.core.progress import track
    from trustgen.diffusion import load_model

    editor = load_model(settings.attack.editor)
    public = public_digits()
    kinds = ["standard", "robust"] if settings.robust else ["standard"]
    rows: list[dict[str, Any]] = []
    began = time.perf_counter()
    with RunDir(out) as rd:
        rd.start_over(settings)
        for seed in track(settings.seeds, description="caia evaluate (seeds)", enabled=progress):
            writers = build_writers(seed)
            if seed == settings.seeds[0]:
                write_text_atomic(out / "writers_card.json", json.dumps(writers.card(), indent=2) + "\n")
            filters = {a: train_filter(a, epochs=settings.attack.filter_epochs, seed=seed)
                       for a in settings.attributes}
            for attribute, filt in filters.items():
                assert writers.test.labels is not None
                p = predict_logits(filt, writers.test.images).softmax(1)
                want = np.asarray(writers.test.attributes[attribute])
                names = np.asarray(filt.class_names)
                rd.log(f"seed {seed} filter {attribute}: accuracy on writer test images "
                       f"{float((names[p.argmax(1).numpy()] == want).mean()):.3f}")
            for kind in kinds:
                target = train_target(writers, settings.target, robust=kind == "robust", seed=seed)
                assert writers.test.labels is not None
                acc = float((predict_logits(target, writers.test.images).argmax(1) == writers.test.labels)
                            .float().mean())
                if seed == settings.seeds[0]:
                    target.save(out / "targets" / kind)
                rd.log(f"seed {seed} {kind} target: writer test accuracy {acc:.3f}")
                for attribute in settings.attributes:
                    attack = settings.attack.model_copy(update={"attribute": attribute, "seed": seed,
                                                                "values": None, "prompt": None})
                    row: dict[str, Any] = {"seed": seed, "target": kind, "attribute": attribute,
                                           "target_test_accuracy": acc}
                    try:
                        run = run_caia(target, filters[attribute], editor, attack, public)
                    except TrustgenError as exc:  # e.g. no set passed the filter: recorded, not hidden
                        row["error"] = str(exc)
                        rows.append(row)
                        rd.log(f"seed {seed} {kind} {attribute}: {exc}")
                        continue
                    row.update(run.extra)
                    row.update(score(run, writers.attributes[attribute], attack.resolved_values(), seed))
                    if settings.whitebox:
                        wb = whitebox_infer(target, filters[attribute], public.images, attack.resolved_values(),
                                            per_class=settings.whitebox_per_class, steps=settings.whitebox_steps,
                                            seed=seed)
                        truth = writers.attributes[attribute]
                        row["accuracy_whitebox"] = float(np.mean([a == b for a, b in zip(wb["inferred"], truth,
                                                                                          strict=True)]))
                        row["whitebox_inversion_success"] = wb["inversion_success"]
                    row["queries"] = {m: r.queries for m, r in run.results.items()}
                    rows.append(row)
                    rd.log(f"seed {seed} {kind} {attribute}: " + ", ".join(
                        f"{k} {row[k]:.2f}" for k in row if k.startswith("accuracy_")))
        summary: dict[str, Any] = {}
        for kind in kinds:
            for attribute in settings.attributes:
                got = [r for r in rows if r["target"] == kind and r["attribute"] == attribute and "error" not in r]
                entry: dict[str, Any] = {"runs": len(got), "classes": 20}
                for key in ("accuracy_probabilities", "accuracy_top1", "accuracy_whitebox", "random_guess_accuracy",
                            "acceptance"):
                    if got and key in got[0]:
                        entry[key] = _interval([r[key] for r in got])
                summary[f"{kind}/{attribute}"] = entry
        metrics = {"seeds": settings.seeds, "attributes": settings.attributes, "targets": kinds,
                   "white_box_baseline": WHITEBOX_NOTE if settings.whitebox else "not run", "summary": summary,
                   "runs": rows,
                   "seconds": round(time.perf_counter() - began, 1)}
        rd.write_report(evaluate_report(metrics))
        rd.write_metrics(metrics)
    return metrics
