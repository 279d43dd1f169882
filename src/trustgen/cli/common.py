"""Shared command-line plumbing: output, run folders, and the error contract."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer


def _keep_argument_help() -> None:
    """Show positional arguments' help in ``--help``.

    typer 0.20 stores an argument's ``help`` and then calls click's ``Parameter.__init__``, which since
    click 8.5 takes a ``help`` of its own and resets it to ``None``: every ``KEY=VALUE`` or file argument
    showed an empty help column. Put typer's text back after construction (a no-op once typer passes it on).
    """
    from typer.core import TyperArgument

    original = TyperArgument.__init__
    if getattr(original, "_keeps_help", False):
        return

    def __init__(self: TyperArgument, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if not self.help and kwargs.get("help"):
            self.help = kwargs["help"]

    __init__._keeps_help = True  # type: ignore[attr-defined]
    TyperArgument.__init__ = __init__  # type: ignore[method-assign]


_keep_argument_help()

OutOption = typer.Option(None, "--out", help="Run folder (default runs/<command>-<time>).")
JsonOption = typer.Option(False, "--json", help="Print metrics.json to stdout.")
SeedOption = typer.Option(0, "--seed", help="Random seed; the same seed gives the same numbers on CPU.")


def out_dir(out: Path | None, command: str) -> Path:
    """The run folder (``--out`` or ``runs/<command>-<time>``), checked before any work: an existing file or
    an unwritable place there is bad input (one line, exit 2), not a traceback after the run."""
    from trustgen.core.runs import check_out_dir, default_out_dir

    return check_out_dir(out if out is not None else default_out_dir(command))


def emit(metrics: dict[str, Any], as_json: bool, out: Path | None = None) -> None:
    """Print metrics as JSON (stdout) or a short human summary."""
    if as_json:
        from trustgen.core.runs import json_safe

        sys.stdout.write(json.dumps(json_safe(metrics), indent=2) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4g}")
        elif isinstance(value, int | str | bool) or value is None:
            table.add_row(key, str(value))
    console = Console()
    console.print(table)
    if out is not None:
        console.print(f"[dim]run folder:[/dim] {out}")


def progress_enabled(as_json: bool) -> bool:
    """Progress bars go to stderr; keep them off when stderr is not a terminal or JSON is requested."""
    return not as_json and sys.stderr.isatty()


def resume_folder(resume: Path | None, config: Path | None, out: Path | None,
                  require_checkpoint: Callable[[Path], Any]) -> tuple[Path | None, Path | None]:
    """``--resume DIR``: check DIR has a complete checkpoint, read its ``config.yaml`` unless ``--config`` is
    given, and write into DIR itself. Returns (settings file, output folder)."""
    if resume is None:
        return config, out
    require_checkpoint(resume)
    if out is not None and out != resume:
        raise typer.BadParameter("--out must be the --resume folder (or left out)")
    return config or resume / "config.yaml", resume
