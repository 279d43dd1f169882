"""The command line in process: ``main()`` as the console script runs it, without a new interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.fixture
def cli(capsys, monkeypatch):
    """``cli(*args)`` runs ``trustgen ARGS`` through :func:`trustgen.cli.app.main` in this process and returns a
    ``CompletedProcess`` (exit code, stdout, stderr) like :func:`cli_support.trustgen` does; for checks that end
    before any heavy work, where a fresh interpreter would cost more than the check."""
    from trustgen.cli.app import main

    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: object) -> subprocess.CompletedProcess:
        argv = [str(a) for a in args]
        monkeypatch.setattr(sys, "argv", ["trustgen", *argv])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(argv, code, out, err)

    return run
