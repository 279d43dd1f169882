"""``report.md`` of name-removal runs, and the scale figure of ``trustgen names evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trustgen.core.runs import metrics_table


def _pct(value: Any) -> str:
    return "–" if value is None or value != value else f"{100 * value:.1f} %"


def _idia_rows(m: dict[str, Any]) -> list[str]:
    rows = ["| people | n | top-1 before | top-1 after | top-5 before | top-5 after | identified before | "
            "identified after |", "|---|---|---|---|---|---|---|---|"]
    kept = int(m["idia_people"]) - int(m["removed_people"])
    for group, n in (("removed", m["removed_people"]), ("kept", kept)):
        rows.append(f"| {group} | {n} | " + " | ".join(
            _pct(m.get(f"{group}_{key}_{when}")) for key in ("top1", "top5", "identified")
            for when in ("before", "after")) + " |")
    return rows


def removal_report(m: dict[str, Any]) -> str:
    """What one ``trustgen names remove`` run did and measured."""
    names = ", ".join(m["names"][:20]) + (f" and {len(m['names']) - 20} more" if len(m["names"]) > 20 else "")
    warnings = "".join(f"\n> warning: {w}\n" for w in m.get("warnings", []))
    return (
        f"# Name removal\n\nRemoved {len(m['names'])} name(s) from `{m['encoder']}` ({m['layout']} layout): "
        f"{names}. Each now reads as its target ({', '.join(sorted(set(m['targets'].values())))}).\n"
        f"Fine-tuned {m['steps']} steps in {m['minutes']:.1f} min on {m['captions_train']} captions "
        f"(backdoors as in Hintersdorf et al., arXiv 2310.08320). The student is in `model/` in the input's "
        f"layout, with its card `model/name_removal.json`.\n{warnings}\n"
        "## Utility and backdoor\n\n"
        + metrics_table(m, ["utility_cosine", "backdoor_similarity_before", "backdoor_similarity",
                            "target_similarity", "paraphrase_auc_teacher", "paraphrase_auc_student",
                            "paraphrase_auc_change"])
        + "\n\n`utility_cosine`: mean cos(student, teacher) on held-out captions; `backdoor_similarity`: "
          "cos(student(caption with a name), teacher(same caption with the target)); paraphrase AUC in %.\n\n"
          + (_idia_section(m) if "idia_people" in m else ""))


def _idia_section(m: dict[str, Any]) -> str:
    return ("## Text identity inference (shipped people set)\n\n" + "\n".join(_idia_rows(m))
            + f"\n\nChance: top-1 {_pct(m['idia_chance_top1'])}, top-5 {_pct(m['idia_chance_top5'])}. "
            "Only removed names that belong to the shipped people set are counted as removed people.\n")


def evaluation_report(m: dict[str, Any]) -> str:
    """The numbers of ``trustgen names evaluate`` (one section per number of names)."""
    rows = ["| names | removed people | removed top-1 before → after | kept top-1 before → after | kept top-5 "
            "before → after | utility cos | paraphrase AUC teacher → student | minutes |",
            "|---|---|---|---|---|---|---|---|"]
    for r in m["runs"]:
        rows.append(
            f"| {r['num_names']} | {r['removed_people']} | {_pct(r['removed_top1_before'])} → "
            f"{_pct(r['removed_top1_after'])} | {_pct(r['kept_top1_before'])} → {_pct(r['kept_top1_after'])} | "
            f"{_pct(r['kept_top5_before'])} → {_pct(r['kept_top5_after'])} | {r['utility_cosine']:.4f} | "
            f"{r['paraphrase_auc_teacher']:.2f} → {r['paraphrase_auc_student']:.2f} | {r['minutes']:.1f} |")
    figure = "\n\n![scale](scale.png)\n" if len(m["runs"]) > 1 else "\n"
    return (
        f"# Name removal: evaluation\n\nEncoder `{m['encoder']}`, seed {m['seed']}. Text IDIA over {m['people']} "
        f"well-known people: {m['people_known_before']} identified by \"a photo of NAME\" before removal "
        f"(top-1 {_pct(m['idia_top1_before'])} over all templates, chance {_pct(m['idia_chance_top1'])}). "
        "Removed names are people the encoder identified (at most half of them), then generated filler names.\n\n"
        + "\n".join(rows) + figure)


def scale_figure(runs: list[dict[str, Any]], path: Path) -> None:
    """Removed/kept top-1 and utility against the number of names removed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = [r["num_names"] for r in runs]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(ks, [100 * r["removed_top1_after"] for r in runs], "o-", label="removed, after")
    left.plot(ks, [100 * r["kept_top1_after"] for r in runs], "s-", label="kept, after")
    left.plot(ks, [100 * r["kept_top1_before"] for r in runs], "s--", label="kept, before")
    left.axhline(100 * runs[0]["idia_chance_top1"], color="grey", lw=0.8, ls=":", label="chance")
    left.set(xscale="log", xlabel="names removed", ylabel="text IDIA top-1 (%)")
    left.legend(fontsize=8)
    right.plot(ks, [r["utility_cosine"] for r in runs], "o-")
    right.set(xscale="log", xlabel="names removed", ylabel="cos(student, teacher), held-out")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
