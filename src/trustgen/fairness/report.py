"""``report.md`` of ``trustgen fairness evaluate``: our numbers beside Fair Diffusion's."""

from __future__ import annotations

from typing import Any

# Friedrich et al. 2023, computed from the repository's result files over 153 occupations
# (research notes §2.5): mean |female share − 0.5| of Stable Diffusion 1.5 and of Fair Diffusion.
PAPER_SD_DISTANCE = 0.311
PAPER_FAIR_DISTANCE = 0.105


def evaluation_report(m: dict[str, Any]) -> str:
    """Markdown for the metrics of :func:`~trustgen.fairness.experiment.evaluate_fairness`."""
    first = m["values"][0]
    rows = ["| target share of “" + first + "” | open loop | closed loop | accuracy (open / closed) "
            "| fd_digits (open / closed) |", "|---|---|---|---|---|"]
    for r in m["targets"]:
        closed = "closed_loop_share" in r
        rows.append(f"| {r['target']:.2f} | {r['open_loop_share']:.3f} | "
                    + (f"{r['closed_loop_share']:.3f} | " if closed else "– | ")
                    + f"{r['open_loop_accuracy']:.3f} / "
                    + (f"{r['closed_loop_accuracy']:.3f} | " if closed else "– | ")
                    + f"{r['open_loop_fd_digits']:.2f} / "
                    + (f"{r['closed_loop_fd_digits']:.2f} |" if closed else "– |"))
    half = next((r for r in m["targets"] if r["target"] == 0.5), None)
    paper = ["| | plain | fair (50/50) |", "|---|---|---|",
             f"| Fair Diffusion paper, mean over 153 occupations of \\|share − 0.5\\| | {PAPER_SD_DISTANCE} | "
             f"{PAPER_FAIR_DISTANCE} |"]
    if half is not None:
        paper.append(f"| here, mean over 10 prompted digits ({m['num'] // 10} images each) | "
                     f"{m['plain_distance_from_half_per_digit']:.3f} | "
                     f"{half['open_loop_distance_from_half_per_digit']:.3f} (open) / "
                     f"{half.get('closed_loop_distance_from_half_per_digit', float('nan')):.3f} (closed) |")
    return (
        f"# Fair generation on `{m['model']}`\n\n"
        f"{m['num']} images, “a handwritten N” for every digit N; attribute values {', '.join(m['values'])}, "
        f"measured by `{m['measure']}`. Plain generation: {m['plain_share']:.1%} “{m['plain_majority']}”.\n\n"
        + "\n".join(rows) + "\n\n"
        f"Prompted-digit accuracy: plain {m['accuracy_plain']:.3f}, guided {m['accuracy_guided']:.3f} "
        f"(worst set {m['accuracy_guided_worst']:.3f}). fd_digits: plain {m['fd_plain']:.2f}, guided 50/50 open "
        f"loop {m['fd_guided']:.2f} (real-vs-real floor {m['fd_floor']:.2f}).\n\n"
        "## Beside the paper\n\n" + "\n".join(paper) + "\n\n"
        f"Measure reliability on real test images: agreement with labels {m['measure_agreement']:.3f}, under "
        f"noise σ={m['measure_noise_sigma']} {m['measure_noise_agreement']:.3f}, Spearman with skeleton stroke "
        f"width (within digit) {m['measure_width_spearman']:.2f}. On generated images prompted with a value "
        f"(“a handwritten N with …”), the measure reads that value in "
        + ", ".join(f"{s:.1%} ({v})" for v, s in zip(m["values"], m["attribute_prompt_share"], strict=True))
        + ".\n\n"
        + "\n\n".join(f"![{name}]({name}.png)" for name in m.get("grids", ["plain"])) + "\n"
    )
