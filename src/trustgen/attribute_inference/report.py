"""``report.md`` of ``trustgen caia`` runs."""

from __future__ import annotations

from typing import Any


def attack_report(m: dict[str, Any]) -> str:
    """One attack: acceptance, accuracy per mode (when the truth is known) and the per-class table."""
    lines = [f"# Caia attack on `{m['target']}`: {m['attribute']} ({' / '.join(m['values'])})", "",
             f"{m['sets_accepted']} of {m['sets_generated']} candidate sets passed the filter.", ""]
    for mode, r in m["results"].items():
        acc = f", accuracy {r['accuracy']:.3f} (chance {1 / len(m['values']):.2f})" if "accuracy" in r else ""
        lines += [f"## {mode} mode: {r['queries']} queries{acc}", "",
                  "| class | inferred | true | votes | margin | guessed |", "|---|---|---|---|---|---|"]
        for c in r["per_class"]:
            votes = ", ".join(f"{k} {v}" for k, v in c["votes"].items())
            lines.append(f"| {c['class']} | {c['inferred']} | {c.get('true', '?')} | {votes} | {c['margin']:.2f} "
                         f"| {c['guessed']} |")
        lines.append("")
    lines.append("![accepted sets](accepted_sets.png)\n")
    return "\n".join(lines)


def _fmt(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "—"
    ci = entry.get("ci95")
    return f"{entry['mean']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def evaluate_report(m: dict[str, Any]) -> str:
    """The evaluation table: accuracy over the 20 writers per target and attribute, both modes, vs chance."""
    lines = ["# Caia on the writers data set", "",
             f"Seeds {m['seeds']}; 20 classes (writers) per seed; mean and 95 % t-interval over seeds.", "",
             "| target / attribute | probabilities | top-1 only | white-box (stand-in) | random guess "
             "| sets accepted |",
             "|---|---|---|---|---|---|"]
    for key, e in m["summary"].items():
        lines.append(f"| {key} | {_fmt(e.get('accuracy_probabilities'))} | {_fmt(e.get('accuracy_top1'))} | "
                     f"{_fmt(e.get('accuracy_whitebox'))} | "
                     f"{_fmt(e.get('random_guess_accuracy'))} | {_fmt(e.get('acceptance'))} |")
    lines += ["", f"White-box baseline: {m['white_box_baseline']}.", ""]
    return "\n".join(lines)
