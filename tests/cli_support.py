"""Helpers for tests that drive the real `trustgen` command line.

By default a command runs in this test process (``trustgen.cli.app.main`` with ``sys.argv`` set and stdout and
stderr captured): the same code path as the console script, without paying Python's, torch's and diffusers'
start-up for every call. ``subprocess=True`` (or ``TRUSTGEN_TEST_SUBPROCESS=1`` for the whole suite) runs it in a
fresh interpreter instead, for tests that kill, time out or need a clean process.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess as sp
import sys
import traceback

CLI_ENV = {"HF_HUB_OFFLINE": "1", "COLUMNS": "200"}


def trustgen(*args: object, timeout: int = 600, subprocess: bool = False) -> sp.CompletedProcess:
    """Run ``trustgen ARGS`` offline and capture its exit code, stdout and stderr."""
    argv = [str(a) for a in args]
    if subprocess or os.environ.get("TRUSTGEN_TEST_SUBPROCESS") == "1":
        return sp.run([sys.executable, "-m", "trustgen.cli.app", *argv], capture_output=True, text=True,
                      timeout=timeout, env={**os.environ, **CLI_ENV})
    return _in_process(argv)


def _in_process(argv: list[str]) -> sp.CompletedProcess:
    from trustgen.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_env = sys.argv, dict(os.environ)
    sys.argv = ["trustgen", *argv]
    os.environ.update(CLI_ENV)
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                if isinstance(exc.code, int) or exc.code is None:
                    code = exc.code or 0
                else:  # sys.exit("message"), as the interpreter would report it
                    print(exc.code, file=sys.stderr)
                    code = 1
            except Exception:  # an uncaught error: what the interpreter would print, exit 1
                traceback.print_exc()
                code = 1
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
    return sp.CompletedProcess(sys.argv, code, out.getvalue(), err.getvalue())


def assert_bad_input(result: sp.CompletedProcess, *words: str) -> None:
    """Exit code 2, exactly one ``error:`` line on stderr naming ``words``, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
