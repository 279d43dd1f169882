"""Build the model zoo (`make zoo`): train, evaluate and card every shipped model, seeded.

For each diffusion model the recipe is ``scripts/zoo/<name>.yaml``; training runs through the
public command line (``trustgen diffusion train --config ...``) into ``zoo-build/<name>/``
(kept out of git), so the card's command reproduces it. A finished build folder is reused
(pass ``--retrain`` to train again). The EMA model is then copied into ``src/trustgen/zoo/<name>/``,
evaluated there with the same commands the docs quote, and its card written with the
metrics and the SHA-256 of every file.

``minilm-offensive`` (the offensive-text detector of ``trustgen.textattack``) is built by
:func:`trustgen.textattack.detectors.minilm_offensive_build.build_zoo`: MiniLM embeddings of its seeded
training and held-out samples are cached in ``zoo-build/minilm-offensive/embeddings.npz`` (reused
unless ``--retrain``), the head is trained on them, and the card gets its held-out accuracy and F1.

The model-inversion models (``docs/inversion.md``) train through ``trustgen classify train`` /
``trustgen inversion train-generator`` with their recipes in ``scripts/zoo/mi-*.yaml`` into ``zoo-build/``, and are
stored in float16 (loaded as float32): three targets identical but for the label-smoothing factor, the independent
evaluation classifier, and the VAE decoder trained on the public digits only.

Weights are reproducible from the seed up to floating-point summation order, which can
change with the number of CPU threads.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from trustgen.core.metrics import build_digits_classifier_zoo
from trustgen.core.runs import write_text_atomic
from trustgen.core.zoo import ZOO_DIR, ZooCard, write_card

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "scripts" / "zoo"
BUILD = ROOT / "zoo-build"

DIFFUSION_MODELS = {
    "digits-ddpm": {
        "description": "unconditional DDPM on 16×16 sklearn digits (UNet2DModel, EMA weights)",
        "data": "digits (train split, 1,437 images)",
        "evaluate": ["diffusion", "sample", "--model", "{dir}", "--num", "500", "--seed", "0"],
    },
    "digits-t2i": {
        "description": "text-to-digit DDPM (UNet2DConditionModel + frozen MiniLM-L6 text encoder, EMA weights)",
        "data": "digits-captioned (train split, 1,437 captioned images)",
        "evaluate": ["diffusion", "evaluate", "--model", "{dir}", "--per-digit", "20", "--seed", "0"],
    },
    "digits-t2i-memorized": {
        "description": "digits-t2i fine-tuned on digits-memorized with its pooled-text path removed (text enters "
                       "only through cross-attention, as in Stable Diffusion): 12 title captions each memorize one "
                       "image (a NeMo test bed; UNet stored in float16, loaded as float32)",
        "data": "digits-memorized (digits-captioned train + 12 caption/image pairs repeated 100×)",
        "evaluate": ["diffusion", "evaluate", "--model", "{dir}", "--per-digit", "20", "--seed", "0"],
        "half": True,
        "captions": True,
        # its memorization also runs through the up block's cross-attention: with every down/mid value neuron
        # off, 8 of 12 memorized captions still replicate (docs/memorization.md), so NeMo searches up blocks too
        "meta": {"memorization": {"include_up": True}},
    },
    "digits-t2i-biased": {
        "description": "text-to-digit DDPM whose generic prompts are ~90 % thick-stroked (Fair Diffusion demo; "
                       "same UNet and text encoder as digits-t2i)",
        "data": "digits-biased (train split, 1,437 images; 91 % of the generic captions show thick strokes)",
        "evaluate": ["fairness", "evaluate", "--model", "{dir}", "--seed", "0"],
        "keep": ["targets", "attribute_prompt_share"],
        # SEGA settings recommended with the model, chosen on tuning seed 1 (100 images per direction; the
        # grid and the rule are in docs/fairness.md): Fair Diffusion's own defaults (scale 4, threshold
        # 0.95) wreck these 16×16 digits, a gentle full-image edit steers them.
        "meta": {"fairness": {"edit": {"scale": 0.75, "threshold": 0.0, "warmup": 5}}},
    },
}


# model inversion (trustgen.inversion): classifiers on the private digits 0–4 and a generator of the public 5–9
INVERSION_CLASSIFIERS = {
    "mi-digits-target-hard": "model-inversion target: small ResNet on digits 0–4, hard labels (α = 0)",
    "mi-digits-target-ls": "model-inversion target: small ResNet on digits 0–4, label smoothing α = +0.1",
    "mi-digits-target-negls": "model-inversion target: small ResNet on digits 0–4, negative label smoothing "
                              "α = −0.05 with the paper's warm-up",
    "mi-digits-eval": "model-inversion evaluation classifier: plain CNN on digits 0–4 (other architecture and seed "
                      "than the targets)",
}
INVERSION_GENERATORS = {
    "mi-digits-generator": "model-inversion image prior: VAE decoder trained on the public digits 5–9 only",
}


def build_inversion_classifier(name: str, retrain: bool) -> None:
    from trustgen.classifiers.bundle import load_classifier
    from trustgen.classifiers.card import write_model_card

    run = BUILD / name
    if retrain and run.exists():
        shutil.rmtree(run)
    if not (run / "metrics.json").is_file():
        train = trustgen("classify", "train", "--config", str(RECIPES / f"{name}.yaml"), "--out", str(run))
    else:
        train = json.loads((run / "metrics.json").read_text())
    target = ZOO_DIR / name
    if target.exists():
        shutil.rmtree(target)
    model = load_classifier(run / "model")
    model.save(target, half=True)
    command = f"trustgen classify train --config scripts/zoo/{name}.yaml"
    write_model_card(model, target, name=name, command=command, seed=int(model.meta["training"]["seed"]),
                     steps=int(train["steps"]), metrics={}, description=INVERSION_CLASSIFIERS[name])
    metrics = trustgen("classify", "evaluate", "--model", str(target), "--out", str(BUILD / f"{name}-eval"))
    keep = {f"test_{k}": round(float(metrics[k]), 4) for k in ("accuracy", "ece", "nll", "mean_confidence")}
    keep["evaluated_with"] = f"trustgen classify evaluate --model {name}"
    write_model_card(model, target, name=name, command=command, seed=int(model.meta["training"]["seed"]),
                     steps=int(train["steps"]), metrics={**keep, "train_seconds": train.get("train_seconds")},
                     description=INVERSION_CLASSIFIERS[name])
    print(f"{name}: {json.dumps(keep)}", flush=True)


def build_inversion_generator(name: str, retrain: bool) -> None:
    from trustgen.inversion.vae import load_generator

    run = BUILD / name
    if retrain and run.exists():
        shutil.rmtree(run)
    if not (run / "metrics.json").is_file():
        train = trustgen("inversion", "train-generator", "--config", str(RECIPES / f"{name}.yaml"), "--out", str(run))
    else:
        train = json.loads((run / "metrics.json").read_text())
    target = ZOO_DIR / name
    if target.exists():
        shutil.rmtree(target)
    generator = load_generator(run / "generator")
    generator.save(target, half=True)
    card = ZooCard(name=name, kind="generator", description=INVERSION_GENERATORS[name],
                   command=f"trustgen inversion train-generator --config scripts/zoo/{name}.yaml",
                   data=f"digits (all splits, public classes {generator.meta['classes']}, "
                        f"{train['num_images']} images)",
                   seed=int(generator.meta["training"]["seed"]), steps=int(train["steps"]),
                   metrics={"final_loss": train["final_loss"], "train_seconds": train["train_seconds"]})
    write_card(target, card)
    print(f"{name}: {json.dumps(card.metrics)}", flush=True)


def _half_unet(folder: Path) -> None:
    """Store the UNet weights in float16 (half the size; diffusers loads them back as float32)."""
    from diffusers import UNet2DConditionModel, UNet2DModel

    config = json.loads((folder / "unet" / "config.json").read_text())
    cls = UNet2DConditionModel if "cross_attention_dim" in config else UNet2DModel
    unet = cls.from_pretrained(str(folder / "unet"))
    shutil.rmtree(folder / "unet")
    unet.half().save_pretrained(str(folder / "unet"), safe_serialization=True)


def _write_caption_lists(folder: Path) -> None:
    """The memorized / non-memorized / calibration caption lists `trustgen memorization evaluate` reads."""
    from trustgen.core.data.memorized import caption_lists, memorized_rows

    lists = {**caption_lists(seed=0), "memorized_train_rows": [int(r) for r in memorized_rows()]}
    (folder / "memorization_captions.json").write_text(json.dumps(lists, indent=2) + "\n")


def trustgen(*args: str) -> dict:
    """Run the trustgen CLI with --json and return its metrics."""
    cmd = [sys.executable, "-m", "trustgen.cli.app", *args, "--json"]
    print("+ trustgen", " ".join(args), flush=True)
    result = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(result.stdout)


def build_diffusion_model(name: str, retrain: bool) -> None:
    spec = DIFFUSION_MODELS[name]
    recipe = RECIPES / f"{name}.yaml"
    run = BUILD / name
    if retrain and run.exists():
        shutil.rmtree(run)
    if not (run / "metrics.json").is_file():
        train = trustgen("diffusion", "train", "--config", str(recipe), "--out", str(run))
    else:
        train = json.loads((run / "metrics.json").read_text())
    target = ZOO_DIR / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(run / "model", target)
    if spec.get("half"):
        _half_unet(target)
    if spec.get("captions"):
        _write_caption_lists(target)
    if spec.get("meta"):  # recommendations the training run does not record (e.g. SEGA settings)
        meta_path = target / "trustgen.json"
        write_text_atomic(meta_path, json.dumps({**json.loads(meta_path.read_text()), **spec["meta"]}, indent=2) + "\n")
    settings = (run / "config.yaml").read_text()
    card = ZooCard(name=name, kind="diffusion", description=spec["description"],
                   command=f"trustgen diffusion train --config scripts/zoo/{name}.yaml", data=spec["data"],
                   seed=0, steps=int(train["steps"]), metrics={"train_seconds": train.get("train_seconds")})
    write_card(target, card)  # hashes first, so the model loads by path for its evaluation
    args = [a.replace("{dir}", str(target)) for a in spec["evaluate"]]
    metrics = trustgen(*args, "--out", str(BUILD / f"{name}-eval"))
    keep = {k: v for k, v in metrics.items() if isinstance(v, int | float) or k in spec.get("keep", [])}
    card.metrics = {**card.metrics, **keep, "evaluated_with": "trustgen " + " ".join(spec["evaluate"]).replace(
        "{dir}", name)}
    print(f"{name}: {json.dumps(keep)}\nrecipe:\n{settings}", flush=True)
    write_card(target, card)


def build_minilm_offensive(retrain: bool) -> None:
    from trustgen.textattack.detectors.minilm_offensive import ZOO_NAME
    from trustgen.textattack.detectors.minilm_offensive_build import build_zoo

    cache = BUILD / ZOO_NAME / "embeddings.npz"
    if retrain and cache.exists():
        cache.unlink()
    metrics = build_zoo(ZOO_DIR / ZOO_NAME, cache, log=lambda line: print(line, flush=True))
    print(f"{ZOO_NAME}: {json.dumps(metrics)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["digits-classifier", *DIFFUSION_MODELS, "minilm-offensive",
                                                      *INVERSION_GENERATORS, *INVERSION_CLASSIFIERS])
    parser.add_argument("--retrain", action="store_true", help="train again even if zoo-build/ has the run")
    args = parser.parse_args()
    for name in args.models:
        if name == "digits-classifier":
            build_digits_classifier_zoo(ZOO_DIR / "digits-classifier", seed=0)
        elif name in DIFFUSION_MODELS:
            build_diffusion_model(name, args.retrain)
        elif name == "minilm-offensive":
            build_minilm_offensive(args.retrain)
        elif name in INVERSION_CLASSIFIERS:
            build_inversion_classifier(name, args.retrain)
        elif name in INVERSION_GENERATORS:
            build_inversion_generator(name, args.retrain)
        else:
            parser.error(f"unknown zoo model {name!r}")


if __name__ == "__main__":
    main()
