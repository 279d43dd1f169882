"""``report.md`` of the ``trustgen memorization`` commands and the cards written beside a mitigated model,
rendered from metrics and records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trustgen.core.runs import metrics_table
from trustgen.memorization.layers import Neurons, as_pairs, count

__all__ = ["calibrate_report", "compare_report", "detect_report", "evaluate_report", "localize_report",
           "mitigation_card", "nothing_to_mitigate_report", "patched_model_card", "prune_report"]


def calibrate_report(m: dict[str, Any]) -> str:
    return (f"# Memorization threshold of `{m['model']}`\n\n{m['num_prompts']} non-memorized prompts; "
            f"threshold = mean + 1 std of their NeMo scores.\n\n{metrics_table(m)}\n")


def detect_report(m: dict[str, Any]) -> str:
    table = "\n".join(f"| {r['prompt']} | {r['nemo_score']:.3f} | {r['wen_score']:.3f} | {r['memorized']} |"
                      for r in m["prompts"])
    return (f"# Memorization detection on `{m['model']}`\n\nThreshold {m['threshold']:.3f}.\n\n"
            f"| prompt | NeMo score | Wen score | memorized |\n|---|---|---|---|\n{table}\n")


def localize_report(m: dict[str, Any]) -> str:
    table = "\n".join(f"| {r['prompt']} | {r['nemo_score']:.3f} | {r['num_neurons']} | {r['ssim_after']} | "
                      f"{r['unet_evals']} |" for r in m["prompts"])
    return (f"# Memorization neurons of `{m['model']}`\n\n| prompt | score | neurons | "
            f"SSIM after | UNet evaluations |\n|---|---|---|---|---|\n{table}\n")


def prune_report(m: dict[str, Any]) -> str:
    return f"# Patched `{m['model']}`\n\n{metrics_table(m)}\n\nModel card: `model/README.md`.\n"


def patched_model_card(source: str, neurons: Neurons, scale: float, why: dict[str, list[str]]) -> str:
    """``README.md`` of a model exported with neurons switched off (:func:`~.export.export_patched`)."""
    rows = "\n".join(f"| `{layer}` | {index} | {', '.join(why.get(f'{layer}:{index}', [])) or '—'} |"
                     for layer, index in as_pairs(neurons))
    return (
        f"# Patched model: {count(neurons)} memorization neurons switched off\n\n"
        f"Source: `{source}`. The value-projection (`attn2.to_v`) output channels below were multiplied by "
        f"{scale} in the weights, because switching them off removed the verbatim memorization of the prompts "
        "named (NeMo: Hintersdorf et al., *Finding NeMo: Localizing Neurons Responsible for Memorization in "
        "Diffusion Models*, NeurIPS 2024). Made with `trustgen memorization prune`.\n\n"
        f"| layer | neuron | memorized prompts it carries |\n|---|---|---|\n{rows}\n\n"
        "Caveat (Hintersdorf et al., 2025, *Finding Dori*): pruned memorization can come back under small "
        "changes of the text embedding; this is a mitigation, not a guarantee.\n"
    )


MITIGATION_WHAT = {
    "nemo": "the value neurons NeMo localized for these captions are switched off in the weights (Hintersdorf "
            "et al., NeurIPS 2024)",
    "finetune": "the cross-attention weights were fine-tuned so these captions predict what the original model "
                "predicts for the empty prompt, with a distillation loss holding other captions (after "
                "Hintersdorf et al. 2025, *Finding Dori*)",
    "embedding": "no weights change: before sampling a flagged prompt, its token features are optimised to lower "
                 "the text-conditional noise norm (Wen et al., ICLR 2024); `mitigation.json` holds the settings",
    "attention": "no weights change: for a flagged prompt, every cross-attention layer multiplies the beginning "
                 "token's logits by c1 and masks the summary tokens (Ren et al., ECCV 2024); `mitigation.json` "
                 "holds the settings",
}


def mitigation_card(method: str, source: str, memorized: list[str], record: dict[str, Any]) -> str:
    """The card of ``trustgen memorization mitigate``: its report, and the ``README.md`` beside what it wrote."""
    rows = "\n".join(f"- {c}" for c in memorized)
    return (f"# Memorization mitigated: `{method}`\n\nSource model: `{source}`. Made with `trustgen memorization "
            f"mitigate --method {method}`: {MITIGATION_WHAT[method]}.\n\nMemorized captions (flagged by NeMo's "
            f"detector):\n\n{rows}\n\n"
            "Caveat (Hintersdorf et al., 2025, *Finding Dori*): mitigated memorization can come back under small "
            "changes of the text embedding; `trustgen memorization evaluate --compare` measures how often.\n\n"
            f"```json\n{json.dumps({k: v for k, v in record.items() if k != 'neurons'}, indent=2)}\n```\n")


def nothing_to_mitigate_report(m: dict[str, Any], prompts_file: Path) -> str:
    return (f"# Nothing to mitigate\n\nNone of the {m['num_prompts']} prompts in `{prompts_file}` is memorized by "
            f"`{m['model']}` (NeMo score ≤ threshold {m['threshold']:.3f}); nothing was written.\n")


def evaluate_report(m: dict[str, Any]) -> str:
    keys = [k for k, v in m.items() if isinstance(v, int | float) and not isinstance(v, bool)]
    rows = "\n".join(f"| {r['caption']} | {r['nemo_score']:.3f} | {r['num_neurons']} | "
                     f"{r['max_ssim_before']:.3f} | {r['max_ssim_after']:.3f} | {r['max_ssim_random']:.3f} | "
                     f"{r['unet_evals']} |"
                     for r in m["per_caption"])
    return (f"# NeMo validation on `{m['model']}` (seed {m['seed']})\n\n{metrics_table(m, keys)}\n\n"
            "| memorized caption | NeMo score | neurons | max SSIM before | after | random control | UNet evals |\n"
            f"|---|---|---|---|---|---|---|\n{rows}\n\n"
            "![training image, before, after, random control](mitigation.png)\n")


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def compare_report(m: dict[str, Any]) -> str:
    names = list(m["methods"])
    rows = "\n".join(
        f"| {n} | {r['frac_mitigated']:.2f} | {_fmt(r['retrigger_rate'])} | "
        f"{100 * r['nonmem_accuracy_before']:.1f} → {100 * r['nonmem_accuracy_after']:.1f} "
        f"({r['nonmem_accuracy_delta']:+.1f}) | {r['cost_setup_images_per_caption']:.1f} | "
        f"{r['cost_per_image_ratio']:.2f} |" for n, r in m["methods"].items())
    return (f"# Memorization mitigations compared on `{m['model']}` (seed {m['seed']})\n\n"
            f"{metrics_table(m, ['image_threshold', 'num_memorized', 'frac_replicated_before'])}\n\n"
            "| method | share mitigated | re-trigger rate | prompted accuracy before → after (points) | "
            "setup cost per caption (images) | cost per image (× one image) |\n|---|---|---|---|---|---|\n"
            f"{rows}\n\n![training image, before, then each method: {', '.join(names)}](compare.png)\n")
