"""``trustgen textattack``: LLMs as adversaries — an LLM rewrites offensive text until a detector misses it."""

from __future__ import annotations

from pathlib import Path

import typer

from trustgen.cli.common import JsonOption, OutOption, emit, out_dir, progress_enabled

app = typer.Typer(help="Adversarial text: an LLM (or a baseline) edits offensive texts until a detector misses them.",
                  no_args_is_help=True)

OverridesArg = typer.Argument(None, metavar="[KEY=VALUE]...", help="Setting overrides, e.g. max_steps=20.")


@app.command()
def run(
    overrides: list[str] = OverridesArg,
    detector: str = typer.Option(None, "--detector", help="minilm-offensive, alt-profanity-check, hatesonar, "
                                 "toxic-comment-classifier or hf:PATH."),
    attacker: str = typer.Option(None, "--attacker", help="llm (default, the paper's loop), llm-search (LLM-proposed "
                                "word replacements in a detector-guided beam search), deepwordbug or random."),
    llm: str = typer.Option(None, "--llm", help="smollm2-135m (default), a causal-LM folder, or an "
                            "OpenAI-compatible base URL (http://host:port/v1)."),
    data: str = typer.Option(None, "--data", help="offensive-corpus (default) or a JSONL file with a 'text' field."),
    n: int = typer.Option(None, "--n", help="Number of texts (default 30)."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings."),
    seed: int = typer.Option(None, "--seed", help="Random seed (default 42, the paper's)."),
    out: Path = OutOption,
    as_json: bool = JsonOption,
) -> None:
    """Attack a detector; results.jsonl grows text by text, and a rerun into the same --out resumes."""
    from trustgen.core.config import resolve_settings
    from trustgen.core.errors import TrustgenError
    from trustgen.textattack.config import AttackSettings
    from trustgen.textattack.experiment import run_attack

    if attacker is not None and attacker not in ("llm", "llm-search", "deepwordbug", "random"):
        raise TrustgenError(f"unknown --attacker {attacker!r}: use llm, llm-search, deepwordbug or random")
    settings = resolve_settings(AttackSettings, config_file=config, overrides=overrides, detector=detector,
                                attacker=attacker, llm=llm, data=data, n=n, seed=seed)
    folder = out_dir(out, "textattack-run")
    metrics = run_attack(settings, folder, progress=progress_enabled(as_json))
    emit(metrics, as_json, folder)
