"""``trustgen audit PATH...``: scan model files and folders for code execution, unsafe formats and remote code."""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def audit(
    paths: list[Path] = typer.Argument(..., help="Files or folders (recursive; a Hugging Face model folder as a "
                                                 "unit)."),
    fmt: str = typer.Option("text", "--format", "-f", help="Report format: text, json or sarif."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the report to this file (atomically) instead "
                                                             "of stdout."),
    strict: bool = typer.Option(False, "--strict", help="Also fail on low-severity findings (advice)."),
    allow_unknown: bool = typer.Option(False, "--allow-unknown", help="Let unverified files pass: unknown binaries, "
                                                                      "Python outside a model folder, files that "
                                                                      "are not regular files (still reported)."),
    allow: list[str] = typer.Option([], "--allow", help="Also allow this module.name in pickles (repeatable; "
                                                        "for your own classes)."),
    no_hash: bool = typer.Option(False, "--no-hash", help="Skip the sha256 of each file (the only step that "
                                                          "reads all of a large file)."),
) -> None:
    """Audit model files without loading them. Exit 0: nothing found; 1: unsafe, malformed or unverified files;
    2: bad input (a path not found, an empty folder, a glob that matches nothing) or a file that cannot be read."""
    from rich.console import Console

    from trustgen.audit import AuditSettings, scan
    from trustgen.audit.report import FORMATS, render, render_text
    from trustgen.core.errors import TrustgenError

    if fmt not in FORMATS:
        raise TrustgenError(f"unknown report format {fmt!r} (choose {', '.join(FORMATS)})")
    bad = [a for a in allow if "." not in a.strip(".")]
    if bad:
        raise TrustgenError(f"--allow takes module.name, got {bad[0]!r}")
    report = scan(paths, AuditSettings(strict=strict, allow=allow, hash_files=not no_hash, allow_unknown=allow_unknown))
    if output is not None:
        from trustgen.core.runs import write_text_atomic

        try:
            write_text_atomic(output, render(report, fmt))
        except OSError as exc:
            raise TrustgenError(f"cannot write the report to {output}: {exc.strerror or exc}") from None
        s = report.summary()
        typer.echo(f"{s['files']} file(s), {s['findings']} finding(s), max severity {s['max_severity'] or 'none'}; "
                   f"report written to {output}")
    elif fmt == "text":
        render_text(report, Console(highlight=False, soft_wrap=True))
    else:
        sys.stdout.write(render(report, fmt))
    if report.errors:
        first = report.errors[0]
        typer.echo(f"error: {len(report.errors)} file(s) could not be read; first: {first['path']}: "
                   f"{first['error']}", err=True)
    raise typer.Exit(report.exit_code)
