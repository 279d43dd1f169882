"""User-facing errors.

A :class:`TrustgenError` means *bad input* (a wrong path, a corrupt file, an unknown
name, a bad override). The command line turns it into one clear line on stderr and
exit code 2, without a traceback; library callers can catch it like any exception.
"""

from __future__ import annotations


class TrustgenError(Exception):
    """Bad input or usage: reported as one line, exit code 2."""

    exit_code = 2


class UnsafeFileError(TrustgenError):
    """A file format that can execute code on load (pickle) was refused."""


class CorruptFileError(TrustgenError):
    """A file exists but cannot be read as what it claims to be."""
