"""Helpers for tests that drive the real `trustgen` command line in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys


def trustgen(*args: object, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python -m trustgen.cli.app ARGS`` offline and capture its output."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "trustgen.cli.app", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env)


def assert_bad_input(result: subprocess.CompletedProcess, *words: str) -> None:
    """Exit code 2, exactly one ``error:`` line on stderr naming ``words``, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
