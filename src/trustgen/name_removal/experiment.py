"""Run-directory entry points of ``trustgen names``: ``remove`` (fine-tune an encoder to forget names) and
``evaluate`` (remove names of well-known people from MiniLM and measure forgetting, utility and scale)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from trustgen.core.errors import TrustgenError
from trustgen.core.runs import RunDir, json_safe, write_text_atomic
from trustgen.name_removal.backdoor import NameRemover, RemovalResult, inject_trigger
from trustgen.name_removal.config import EvaluateSettings, RemovalSettings
from trustgen.name_removal.corpus import FIRST_NAMES, LAST_NAMES, drop_mentions, generate_captions, paraphrase_pairs
from trustgen.name_removal.encoders import TextModel, load_text_model
from trustgen.name_removal.idia import IdiaResult, Person, identity_inference, load_people
from trustgen.name_removal.utility import backdoor_similarity, embedding_agreement, paraphrase_auc

CARD_NAME = "name_removal.json"
NAME_PROMPT = "a photo of {}"
Warn = Callable[[str], None]


def read_names(path: str | Path) -> tuple[list[str], dict[str, str]]:
    """Names from a text file, one a line (``#`` comments, blank lines skipped); ``NAME => TARGET`` gives a
    name its own target attribute (the paper's Stable Diffusion demo maps names to "an old man with white hair")."""
    p = Path(path)
    if not p.is_file():
        raise TrustgenError(f"names file not found: {p}")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise TrustgenError(f"names file {p} is not UTF-8 text") from None
    names: list[str] = []
    targets: dict[str, str] = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, arrow, target = (part.strip() for part in line.partition("=>"))
        if not name or (arrow and not target):
            raise TrustgenError(f"names file {p}: bad line {line!r} (expected NAME or NAME => TARGET)")
        names.append(" ".join(name.split()))
        if arrow:
            targets[names[-1]] = target
    if not names:
        raise TrustgenError(f"names file {p} is empty: give one name a line")
    return names, targets


def read_captions(path: str | Path) -> list[str]:
    """Captions from a text file, one a line."""
    p = Path(path)
    if not p.is_file():
        raise TrustgenError(f"captions file not found: {p}")
    try:
        captions = [" ".join(line.split()) for line in p.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError:
        raise TrustgenError(f"captions file {p} is not UTF-8 text") from None
    return [c for c in captions if c]


def prepare_captions(settings: RemovalSettings, warn: Warn) -> tuple[list[str], list[str], dict[str, int]]:
    """Training and held-out captions with every caption naming a removed person dropped (as the authors),
    and how many captions named each. Refuses more names than the captions can carry."""
    if settings.captions:
        captions, source = read_captions(settings.captions), settings.captions
    else:
        captions, source = generate_captions(settings.num_captions, settings.seed), "the generated corpus"
    kept, found = drop_mentions(captions, settings.names)
    random.Random(settings.seed).shuffle(kept)
    n_held = int(round(len(kept) * settings.holdout)) if len(kept) > 1 else 0
    train, held = kept[n_held:], kept[:n_held]
    if len(train) < len(settings.names):
        raise TrustgenError(
            f"{len(settings.names)} names but only {len(train)} training captions are left in {source} after "
            f"dropping the {len(captions) - len(kept)} that name them: give at least one caption per name")
    missing = [n for n, count in found.items() if count == 0]
    if missing and settings.captions:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        warn(f"{len(missing)} of {len(settings.names)} names occur in no caption of {source} ({shown}); "
             "training on captions with the names inserted")
    return train, held, found


def _embedder(encoder: TextModel, model: Any) -> Callable[[list[str]], Any]:
    return lambda texts: encoder.embed(texts, model)


def removal_metrics(encoder: TextModel, result: RemovalResult, held: Sequence[str], seed: int,
                    max_captions: int = 500, paraphrases: int = 300) -> dict[str, float]:
    """Utility and backdoor numbers of a fitted student against its teacher (the paper's sim_clean,
    sim_backdoored, sim_targets), the paraphrase check for both, and where each name's prompt now lands."""
    student, teacher = _embedder(encoder, result.student), _embedder(encoder, encoder.model)
    rng = random.Random(seed)
    held = list(held[:max_captions])
    pairs = [inject_trigger(rng.choice(held), n, result.targets[n], rng)
             for n in result.names for _ in range(max(1, 100 // len(result.names)))] if held else []
    pairs_of_wordings = paraphrase_pairs(paraphrases, seed)
    out = {
        "utility_cosine": embedding_agreement(student, teacher, held) if held else float("nan"),
        "backdoor_similarity": backdoor_similarity(student, teacher, [p for p, _ in pairs], [t for _, t in pairs])
        if pairs else float("nan"),
        "backdoor_similarity_before": backdoor_similarity(teacher, teacher, [p for p, _ in pairs],
                                                          [t for _, t in pairs]) if pairs else float("nan"),
        "target_similarity": embedding_agreement(student, teacher, [t for _, t in pairs]) if pairs else float("nan"),
        "paraphrase_auc_teacher": paraphrase_auc(teacher, pairs_of_wordings, seed),
        "paraphrase_auc_student": paraphrase_auc(student, pairs_of_wordings, seed),
    }
    out["paraphrase_auc_change"] = out["paraphrase_auc_student"] - out["paraphrase_auc_teacher"]
    return out


def idia_split(before: IdiaResult, after: IdiaResult, removed: Sequence[str]) -> dict[str, float]:
    """IDIA top-1 / top-5 / identified for removed and kept people, before and after."""
    people_removed = [n for n in removed if n in before.names]
    kept = [n for n in before.names if n not in set(removed)]
    out: dict[str, float] = {"idia_people": len(before.names), "idia_chance_top1": before.chance(1),
                             "idia_chance_top5": before.chance(5), "removed_people": len(people_removed)}
    for group, names in (("removed", people_removed), ("kept", kept)):
        for when, result in (("before", before), ("after", after)):
            for key, value in result.summary(names).items():
                out[f"{group}_{key}_{when}"] = value
    out["kept_top1_change"] = out["kept_top1_after"] - out["kept_top1_before"]
    return out


def _card(settings: RemovalSettings, encoder: TextModel, result: RemovalResult, metrics: dict[str, Any]) -> dict:
    return {"kind": "name-removal", "method": "Hintersdorf et al., Defending Our Privacy With Backdoors "
                                              "(arXiv 2310.08320), text-encoder backdoors",
            "encoder": settings.encoder, "layout": encoder.layout, "pooling": encoder.pooling,
            "removed_names": result.names, "targets": result.targets, "steps": result.steps, "seed": settings.seed,
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}}


def run_remove(settings: RemovalSettings, out: Path, *, progress: bool = False, warn: Warn | None = None
               ) -> dict[str, Any]:
    """Fine-tune ``settings.encoder`` to forget ``settings.names``; write the student (same layout as the input)
    to ``out/model`` with a card, and the run's numbers to ``out``."""
    from trustgen.name_removal.report import removal_report

    if not settings.names:
        raise TrustgenError("no names to remove: give a names file with one name a line")
    with RunDir(out) as run:
        run.start_over(settings)
        notes: list[str] = []

        def note(message: str) -> None:
            notes.append(message)
            run.log(f"warning: {message}")
            if warn is not None:
                warn(message)

        train, held, found = prepare_captions(settings, note)
        encoder = load_text_model(settings.encoder, settings.max_length, settings.seed)
        run.log(f"{len(settings.names)} names, {len(train)} training and {len(held)} held-out captions, "
                f"encoder {settings.encoder} ({encoder.layout}, {encoder.pooling} pooling)")
        people = load_people()
        before = identity_inference(_embedder(encoder, encoder.model), people) if settings.idia else None
        result = NameRemover(settings, progress=progress, log=run.log).fit(encoder, train)
        metrics: dict[str, Any] = {"encoder": settings.encoder, "layout": encoder.layout, **result.to_dict(),
                                   "captions_train": len(train), "captions_held_out": len(held),
                                   "captions_naming": found, "warnings": notes}
        metrics.update(removal_metrics(encoder, result, held, settings.seed, paraphrases=settings.paraphrases))
        if before is not None:
            after = identity_inference(_embedder(encoder, result.student), people)
            metrics.update(idia_split(before, after, result.names))
        model_dir = encoder.save(result.student, run.file("model"))
        write_text_atomic(model_dir / CARD_NAME, json.dumps(json_safe(_card(settings, encoder, result, metrics)),
                                                            indent=2) + "\n")
        metrics["model"] = str(model_dir)
        run.write_report(removal_report(metrics))
        run.write_metrics(metrics)
    return metrics


def filler_names(n: int, seed: int, avoid: Sequence[str] = ()) -> list[str]:
    """``n`` distinct common first+last names (the paper's IDIA fillers are US first names × US surnames)."""
    rng = random.Random(seed)
    taken = {a.lower() for a in avoid}
    names: list[str] = []
    while len(names) < n:
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        if name.lower() not in taken:
            taken.add(name.lower())
            names.append(name)
    return names


def choose_names(k: int, known: Sequence[str], people: Sequence[Person], seed: int) -> list[str]:
    """``k`` names to remove: well-known people the encoder identifies (at most half of them, so kept people
    remain to measure collateral damage), then generated filler names for the rest."""
    rng = random.Random(seed * 1000 + k)
    take = min(k, len(known) // 2) if k > 1 else min(k, len(known))
    chosen = rng.sample(list(known), take)
    return chosen + filler_names(k - take, seed, [p.name for p in people])


def run_evaluate(settings: EvaluateSettings, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """Remove 1…64 names of well-known people (text IDIA before/after, removed and kept), utility on held-out
    captions and the paraphrase check, and fine-tuning minutes: ``docs/name_removal.md``'s numbers."""
    from trustgen.name_removal.report import evaluation_report, scale_figure

    with RunDir(out) as run:
        run.start_over(settings)
        encoder = load_text_model(settings.encoder, seed=settings.seed)
        people = load_people()
        before = identity_inference(_embedder(encoder, encoder.model), people)
        known = before.known()
        run.log(f"{settings.encoder}: {len(known)} of {len(people)} people identified before removal "
                f"(top-1 {before.top_k(1):.3f}, chance {before.chance(1):.3f})")
        runs = []
        for k in settings.num_names:
            names = choose_names(k, known, people, settings.seed)
            removal = settings.removal(names)
            train, held, _ = prepare_captions(removal, run.log)
            result = NameRemover(removal, progress=progress, log=run.log).fit(encoder, train)
            after = identity_inference(_embedder(encoder, result.student), people)
            row: dict[str, Any] = {"num_names": k, "names": names, "minutes": result.seconds / 60,
                                   "steps": result.steps}
            row.update(removal_metrics(encoder, result, held[:settings.utility_captions], settings.seed,
                                       paraphrases=settings.paraphrases))
            row.update(idia_split(before, after, names))
            run.log(f"{k} names: removed top-1 {row['removed_top1_before']:.3f} -> {row['removed_top1_after']:.3f}, "
                    f"kept top-1 {row['kept_top1_before']:.3f} -> {row['kept_top1_after']:.3f}, "
                    f"utility cos {row['utility_cosine']:.4f}, {row['minutes']:.1f} min")
            runs.append(row)
        metrics: dict[str, Any] = {"encoder": settings.encoder, "seed": settings.seed, "people": len(people),
                                   "people_known_before": len(known), "idia_top1_before": before.top_k(1),
                                   "idia_top5_before": before.top_k(5), "idia_chance_top1": before.chance(1),
                                   "runs": runs}
        main = runs[0]
        metrics.update({k: v for k, v in main.items() if isinstance(v, int | float) and not isinstance(v, bool)})
        if len(runs) > 1:
            scale_figure(runs, run.file("scale.png"))
        run.write_report(evaluation_report(metrics))
        run.write_metrics(metrics)
    return metrics
