"""``report.md`` of ``trustgen inversion evaluate``."""

from __future__ import annotations

from typing import Any


def _f(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def evaluation_report(m: dict[str, Any]) -> str:
    rows = ["| α | target | test acc | ECE | attack acc@1 | acc@5 | acc@1 all optimised | acc@1 initial | "
            "knn dist | fd_digits (floor) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in m["results"]:
        fd = f"{_f(r.get('fd_digits'), 1)} ({_f(r.get('fd_digits_floor'), 1)})" if "fd_digits" in r else "–"
        rows.append(f"| {r['alpha']:g} | {r['target']} | {_f(r['test_accuracy'])} | {_f(r['test_ece'], 4)} | "
                    f"{_f(r['attack_acc_top1'])} | {_f(r['attack_acc_top5'])} | {_f(r['attack_acc_top1_optimized'])} "
                    f"| {_f(r['attack_acc_top1_initial'])} | {_f(r['knn_dist'], 2)} | {fd} |")
    trend = m["trend"]
    if trend.get("checked"):
        verdict = ("holds" if trend["holds"] else "does **not** hold") + (
            f" (acc@1(α>0) ≥ acc@1(α=0): {trend['ls_geq_hard']}; acc@1(α=0) > acc@1(α<0): {trend['hard_gt_negls']}); "
            f"test-accuracy cost of negative LS: {trend['negls_test_accuracy_cost']}")
    else:
        verdict = "not checked (needs α = 0, one α > 0 and one α < 0)"
    grids = "\n".join(f"![α = {r['alpha']:g}, {g}]({g})" for r in m["results"] for g in r.get("grids", []))
    return (f"# Model inversion vs label smoothing ({m['dataset']}, seed {m['seed']})\n\n"
            f"Targets trained on private classes {m['private_classes']}; generator `{m['generator']}` trained on "
            f"public classes {m['public_classes']} only; attack accuracy by the independent evaluation classifier "
            f"`{m['evaluation_classifier']}` (test accuracy {_f(m['evaluation_test_accuracy'])}). Small models: "
            "these numbers describe them, not the paper's ResNet-152 on faces.\n\n"
            + "\n".join(rows)
            + f"\n\nThe paper's trend acc@1(α = +0.1) ≥ acc@1(α = 0) > acc@1(α = −0.05) {verdict}.\n\n"
            "`knn dist`: mean squared L2 distance in the evaluation classifier's features to the nearest training "
            "image of the class (lower: closer to private data). `fd_digits`: Fréchet distance in the shipped digits "
            "classifier's features to the private training images of the attacked classes (not Inception FID); "
            "floor: real held-out images of those classes.\n\n" + grids + "\n")
