"""Run-directory entry points of ``trustgen inversion``: ``train-generator``, ``attack`` and ``evaluate`` (the
label-smoothing study of Struppek et al., ICLR 2024, on digits: three targets identical but for α, attacked with
PPA, judged by an independent evaluation classifier)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from trustgen.classifiers.bundle import Classifier, load_classifier
from trustgen.classifiers.checkpoint import latest_checkpoint
from trustgen.classifiers.config import ClassifierTrainSettings
from trustgen.classifiers.data import class_view
from trustgen.classifiers.metrics import classification_metrics, predict_logits
from trustgen.classifiers.training import RESUME_FREE, train_classifier
from trustgen.core.errors import TrustgenError
from trustgen.core.figures import save_grid
from trustgen.core.runs import RunDir, metrics_table
from trustgen.core.safe_io import read_json, save_state_dict
from trustgen.inversion.config import AttackSettings, GeneratorTrainSettings, InversionEvaluateSettings
from trustgen.inversion.evaluation import evaluate_inversion, per_class_accuracy
from trustgen.inversion.ppa import InversionResult, PlugAndPlayAttack
from trustgen.inversion.vae import DecoderGenerator, load_generator, train_vae

DIGITS_SETS = ("digits", "digits-captioned", "digits-biased")


# -- generator ---------------------------------------------------------------------------------------------------

def train_generator(settings: GeneratorTrainSettings, *, progress: bool = False) -> tuple[DecoderGenerator, dict]:
    """Train the VAE on the public classes; return its decoder as a generator and the training metrics."""
    from trustgen.classifiers.data import load_classes

    public = load_classes(settings.dataset, settings.split, settings.classes)
    result = train_vae(settings, public.images, progress=progress)
    return result.generator, {"num_images": len(public), **result.to_dict()}


def run_train_generator(settings: GeneratorTrainSettings, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """Train the generator; write ``OUT/generator`` (decoder weights + ``generator.json``), samples, a report."""
    with RunDir(out) as run:
        run.start_over(settings)
        run.log(f"train a VAE on {settings.dataset} classes {settings.classes} ({settings.split} split)")
        generator, metrics = train_generator(settings, progress=progress)
        generator.save(out / "generator")
        with torch.no_grad():
            samples = generator(generator.sample_latents(100, generator=torch.Generator().manual_seed(settings.seed)))
        save_grid(samples, run.file("samples.png"), nrow=10)
        metrics = {"dataset": settings.dataset, "classes": settings.classes, **metrics}
        run.write_report(f"# Generator (VAE decoder) on public classes {settings.classes}\n\n"
                         f"{metrics_table(metrics)}\n\n![samples](samples.png)\n")
        run.write_metrics(metrics)
    return metrics


# -- attack ------------------------------------------------------------------------------------------------------

def attack_labels(result: InversionResult, targets: torch.Tensor) -> list[int]:
    """Data-set labels of output indices ``targets``."""
    return [result.classes[result.class_index.index(int(k))] for k in targets]


def save_attack(result: InversionResult, run: RunDir, prefix: str = "") -> list[str]:
    """Latents and images (safetensors) and one grid PNG per class; returns the grid names."""
    save_state_dict({"latents": result.latents, "targets": result.targets, "images": result.images,
                     "scores": result.scores}, run.file(f"{prefix}reconstructions.safetensors"))
    grids = []
    for label in result.classes:
        name = f"{prefix}class_{label}.png"
        images = result.images_of(label)
        save_grid(images, run.file(name), nrow=min(10, max(len(images), 1)))
        grids.append(name)
    return grids


def judge(result: InversionResult, evaluator: Classifier, dataset: str) -> dict[str, Any]:
    """Attack accuracy (final, every optimised latent, and the candidates before optimisation), nearest-training
    distance and — on digits — ``fd_digits`` of the final images, against the evaluator's training data."""
    from trustgen.core.data import load_dataset

    train = class_view(load_dataset(dataset, "train"), evaluator.classes)
    test = class_view(load_dataset(dataset, "test"), evaluator.classes)
    assert train.labels is not None and test.labels is not None
    to_label = torch.tensor(evaluator.classes)
    train_labels, test_labels = to_label[train.labels], to_label[test.labels]
    labels = attack_labels(result, result.targets)
    attacked = torch.isin(test_labels, torch.tensor(sorted(set(labels))))
    extractor = "digits" if dataset in DIGITS_SETS else None
    out = evaluate_inversion(evaluator, result.images, labels, train.images, train_labels, test.images[attacked],
                             extractor=extractor)
    every = attack_labels(result, result.optimized_targets)
    out["per_class_acc_top1"] = per_class_accuracy(evaluator, result.images, labels)
    out["acc_top1_optimized"] = evaluate_inversion(evaluator, result.optimized_images, every, train.images,
                                                   train_labels, test.images, extractor=None)["acc_top1"]
    out["acc_top1_initial"] = evaluate_inversion(evaluator, result.initial_images, every, train.images,
                                                 train_labels, test.images, extractor=None)["acc_top1"]
    return out


def run_attack(target: str, generator: str, settings: AttackSettings, out: Path, *, evaluation: str | None = None,
               progress: bool = False) -> dict[str, Any]:
    """PPA on ``target`` with ``generator``; with an ``evaluation`` classifier, its judgement of the result."""
    from trustgen.core.device import resolve_device
    from trustgen.core.seeding import seed_everything

    device = resolve_device(settings.device)
    seed_everything(settings.seed)
    model = load_classifier(target, device=device)
    gen = load_generator(generator, device=device)
    attack = PlugAndPlayAttack(model, gen, settings)
    labels, _ = attack.resolve_classes(settings.classes)
    evaluator = load_classifier(evaluation, device=device) if evaluation else None
    if evaluator is not None:
        missing = [c for c in labels if c not in evaluator.classes]
        if missing:
            raise TrustgenError(f"the evaluation classifier does not know class {missing[0]} (it knows "
                                f"{evaluator.classes})")
    with RunDir(out) as run:
        run.start_over(settings)
        run.log(f"PPA on {target} with generator {generator}, classes {labels}")
        result = attack.infer(labels, progress=progress)
        grids = save_attack(result, run)
        metrics: dict[str, Any] = {"target": target, "generator": generator, **result.to_dict(), "grids": grids}
        if evaluator is not None:
            metrics["evaluation"] = evaluation
            metrics.update({f"attack_{k}" if not k.startswith(("fd_", "knn")) else k: v
                            for k, v in judge(result, evaluator, model.dataset).items()})
        run.write_report(_attack_report(metrics))
        run.write_metrics(metrics)
    return metrics


def _attack_report(m: dict[str, Any]) -> str:
    pictures = "\n".join(f"![{g}]({g})" for g in m["grids"])
    return (f"# Plug & Play attack on `{m['target']}`\n\nGenerator `{m['generator']}`, classes {m['classes']}: "
            f"{m['num_optimized']} latents optimised, {m['num_final']} kept.\n\n{metrics_table(m)}\n\n{pictures}\n")


# -- the label-smoothing study -----------------------------------------------------------------------------------

def _zoo_classifier(settings: ClassifierTrainSettings) -> str | None:
    """The shipped classifier trained with exactly ``settings`` (None if there is none)."""
    from trustgen.core.zoo import ZOO_DIR, list_models

    want = settings.model_dump(mode="json", exclude=RESUME_FREE)
    for card in list_models():
        if card.kind != "classifier":
            continue
        info_path = ZOO_DIR / card.name / "classifier.json"
        if info_path.is_file() and read_json(info_path).get("training") == want:
            return card.name
    return None


def _zoo_generator(settings: GeneratorTrainSettings) -> str | None:
    from trustgen.core.zoo import ZOO_DIR, list_models

    want = settings.model_dump(mode="json")
    for card in list_models():
        info_path = ZOO_DIR / card.name / "generator.json"
        if info_path.is_file() and read_json(info_path).get("training") == want:
            return card.name
    return None


def _classifier(settings: ClassifierTrainSettings, mode: str, folder: Path, run: RunDir, progress: bool
                ) -> tuple[Classifier, str]:
    """The classifier ``settings`` describe: shipped (mode auto/zoo), already trained in ``folder``, or trained
    now (resuming a checkpoint a killed run left there)."""
    from trustgen.core.data import load_dataset
    from trustgen.core.device import resolve_device

    device = resolve_device(settings.device)
    if mode != "train":
        name = _zoo_classifier(settings)
        if name is not None:
            return load_classifier(name, device=device), f"zoo:{name}"
        if mode == "zoo":
            raise TrustgenError(f"no shipped classifier matches these settings (α = {settings.label_smoothing}, "
                                f"seed {settings.seed}); use models=auto or models=train")
    model_dir = folder / "model"
    want = settings.model_dump(mode="json", exclude=RESUME_FREE)
    if (model_dir / "classifier.json").is_file() and read_json(model_dir / "classifier.json").get("training") == want:
        return load_classifier(model_dir, device=device), f"trained:{folder.name}"
    resume = latest_checkpoint(folder)
    if resume is not None and read_json(resume / "state.json").get("settings") != want:
        resume = None
    run.log(f"training {folder.name}" + (f" (resuming {resume.name})" if resume else ""))
    result = train_classifier(settings, load_dataset(settings.dataset, "train"), out_dir=folder, resume_from=resume,
                              progress=progress)
    result.classifier.save(model_dir)
    return result.classifier, f"trained:{folder.name}"


def _generator(settings: GeneratorTrainSettings, mode: str, folder: Path, run: RunDir, progress: bool,
               device: str) -> tuple[DecoderGenerator, str]:
    if mode != "train":
        name = _zoo_generator(settings)
        if name is not None:
            return load_generator(name, device=device), f"zoo:{name}"
        if mode == "zoo":
            raise TrustgenError(f"no shipped generator matches these settings (seed {settings.seed}); use "
                                "models=auto or models=train")
    info = folder / "generator" / "generator.json"
    if info.is_file() and read_json(info).get("training") == settings.model_dump(mode="json"):
        return load_generator(folder, device=device), f"trained:{folder.name}"
    run.log("training the generator on the public classes")
    generator, _ = train_generator(settings, progress=progress)
    generator.save(folder / "generator")
    return generator.to(device), f"trained:{folder.name}"


def alpha_name(alpha: float) -> str:
    return f"alpha_{alpha:+g}".replace("+0", "0") if alpha != 0 else "alpha_0"


def run_evaluate(settings: InversionEvaluateSettings, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """For each α: the target's test accuracy and ECE, then PPA on it and the evaluation classifier's verdict."""
    from trustgen.core.data import load_dataset
    from trustgen.core.device import resolve_device
    from trustgen.core.seeding import seed_everything

    device = resolve_device(settings.device)
    began = time.perf_counter()
    test = class_view(load_dataset(settings.dataset, "test"), settings.private_classes)
    assert test.labels is not None
    with RunDir(out) as run:
        run.start_over(settings)
        run.log(f"label-smoothing study on {settings.dataset}: private {settings.private_classes}, public "
                f"{settings.public_classes}, α {settings.alphas}, seed {settings.seed}")
        models = out / "models"
        generator, gen_source = _generator(settings.generator_settings(), settings.models, models / "generator",
                                           run, progress, device)
        evaluator, eval_source = _classifier(settings.evaluation_settings(), settings.models, models / "evaluation",
                                             run, progress)
        eval_test = classification_metrics(predict_logits(evaluator, test.images), test.labels)
        metrics: dict[str, Any] = {
            "seed": settings.seed, "dataset": settings.dataset, "private_classes": settings.private_classes,
            "public_classes": settings.public_classes, "generator": gen_source, "evaluation_classifier": eval_source,
            "evaluation_test_accuracy": eval_test["accuracy"], "results": []}
        for alpha in settings.alphas:
            name = alpha_name(alpha)
            target, source = _classifier(settings.target_settings(alpha), settings.models, models / name, run,
                                         progress)
            quality = classification_metrics(predict_logits(target, test.images), test.labels)
            seed_everything(settings.seed)
            run.log(f"attacking the α = {alpha:g} target ({source})")
            result = PlugAndPlayAttack(target, generator, settings.attack_settings()).infer(progress=progress)
            judged = judge(result, evaluator, settings.dataset)
            row = {"alpha": alpha, "target": source, "test_accuracy": quality["accuracy"], "test_ece": quality["ece"],
                   "test_mean_confidence": quality["mean_confidence"],
                   **{f"attack_{k}" if not k.startswith(("fd_", "knn")) else k: v for k, v in judged.items()},
                   "target_confidence": float(result.scores.mean()), "attack_seconds": round(
                       sum(result.timings.values()), 2), "opt_steps": result.opt_steps}
            metrics["results"].append(row)
            sub = RunDir(out / name)
            row["grids"] = [f"{name}/{g}" for g in save_attack(result, sub)]
            sub.close()
            run.log(f"α = {alpha:g}: attack acc@1 {row['attack_acc_top1']:.3f}, test accuracy "
                    f"{row['test_accuracy']:.3f}")
        metrics["trend"] = paper_trend(metrics["results"])
        metrics["seconds"] = round(time.perf_counter() - began, 1)
        from trustgen.inversion.report import evaluation_report

        run.write_report(evaluation_report(metrics))
        run.write_metrics(metrics)
    return metrics


def paper_trend(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Does acc@1(α > 0) ≥ acc@1(α = 0) > acc@1(α < 0) hold, and what does negative LS cost in test accuracy?"""
    by = {r["alpha"]: r for r in rows}
    hard = by.get(0.0)
    pos = [r for r in rows if r["alpha"] > 0]
    neg = [r for r in rows if r["alpha"] < 0]
    if hard is None or not pos or not neg:
        return {"checked": False}
    ls_geq = all(r["attack_acc_top1"] >= hard["attack_acc_top1"] for r in pos)
    hard_gt = all(hard["attack_acc_top1"] > r["attack_acc_top1"] for r in neg)
    return {"checked": True, "ls_geq_hard": ls_geq, "hard_gt_negls": hard_gt, "holds": ls_geq and hard_gt,
            "negls_test_accuracy_cost": [round(hard["test_accuracy"] - r["test_accuracy"], 4) for r in neg]}
