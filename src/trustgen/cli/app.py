"""The ``trustgen`` entry point.

Bad input (a :class:`~trustgen.core.errors.TrustgenError`) and a path the system refuses (an
:class:`OSError`) print one line on stderr and exit 2, without a traceback unless ``--debug`` is
given. Heavy libraries load only inside commands, so ``trustgen --help`` stays fast.
"""

from __future__ import annotations

import os
import sys

import typer

from trustgen import __version__
from trustgen.cli import (
    audit_cmd,
    caia_cmd,
    classify_cmd,
    collab_cmd,
    data_cmd,
    diffusion_cmd,
    fairness_cmd,
    inversion_cmd,
    memorization_cmd,
    names_cmd,
    poison_cmd,
    textattack_cmd,
    zoo_cmd,
)

app = typer.Typer(
    name="trustgen",
    help="Privacy, security and fairness of generative AI.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data_cmd.app, name="data")
app.add_typer(zoo_cmd.app, name="zoo")
app.add_typer(diffusion_cmd.app, name="diffusion")
app.add_typer(collab_cmd.app, name="collab")
app.add_typer(memorization_cmd.app, name="memorization")
app.command("audit")(audit_cmd.audit)
app.add_typer(fairness_cmd.app, name="fairness")
app.add_typer(textattack_cmd.app, name="textattack")
app.add_typer(classify_cmd.app, name="classify")
app.add_typer(inversion_cmd.app, name="inversion")
app.add_typer(names_cmd.app, name="names")
app.add_typer(caia_cmd.app, name="caia")
app.add_typer(poison_cmd.app, name="poison")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trustgen {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    """trustgen: collaborative diffusion, audits, attacks and defences for generative models."""


@app.command()
def demo(out: str = typer.Option(None, "--out", help="Run folder (default runs/demo-<time>)."),
         as_json: bool = typer.Option(False, "--json", help="Print metrics.json to stdout.")) -> None:
    """The main job on shipped defaults, offline (a few minutes on 2 CPU cores)."""
    from pathlib import Path

    from trustgen.cli.common import emit, out_dir, progress_enabled
    from trustgen.demo import run_demo

    folder = out_dir(Path(out) if out else None, "demo")
    emit(run_demo(folder, progress=progress_enabled(as_json)), as_json, folder)


def main() -> None:
    """Console-script entry: run the app, turning bad input and refused paths into one line and exit code 2."""
    from trustgen.core.errors import TrustgenError

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    debug = "--debug" in sys.argv
    try:
        app()
    except TrustgenError as exc:
        if debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except OSError as exc:  # a path the system refused (exists as a file, no permission, disk full, ...)
        if debug:
            raise
        typer.echo(f"error: {_os_error(exc)}", err=True)
        sys.exit(2)


def _os_error(exc: OSError) -> str:
    """One line for an :class:`OSError`: what failed and on which path, without the errno noise."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"{reason}: {' -> '.join(paths)}" if paths else reason


if __name__ == "__main__":
    main()
