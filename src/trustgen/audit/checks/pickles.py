"""Pickle files (raw, legacy ``torch.save``, joblib) through :mod:`trustgen.core.pickle_scan`, and polyglots."""

from __future__ import annotations

import zipfile

from trustgen.audit.scope import Blob, Scope
from trustgen.core.pickle_allowlist import TORCHSCRIPT_CLASS_ROOT
from trustgen.core.pickle_scan import analyse_pickle


def check_pickle(blob: Blob, scope: Scope, *, start: int = 0) -> str:
    """Analyse every pickle stream in ``blob`` (from byte ``start``); returns pickle/pytorch-legacy/joblib.

    In a TorchScript archive, ``__torch__.*`` classes are allowed: TorchScript's unpickler builds them from
    the archive's ``code/``, which the archive check reports as ``torchscript-code``."""
    extra = frozenset(scope.settings.allow)

    def opener():
        f = blob.open()
        if start:
            f.seek(start)
        return f

    roots = frozenset({TORCHSCRIPT_CLASS_ROOT}) if scope.torchscript else frozenset()
    analysis = analyse_pickle(opener, blob.size, extra_allowed=extra, start=start, allowed_roots=roots)
    for issue in analysis.issues:
        scope.add(issue.rule, issue.detail, issue.offset, issue.severity)
    if start == 0 and analysis.streams and analysis.end < blob.size:
        _check_polyglot(blob, scope)
    return analysis.kind


def _check_polyglot(blob: Blob, scope: Scope) -> None:
    """A pickle followed by a zip directory is read as a pickle by torch.load and as a zip by zip-based scanners."""
    with blob.open() as f:
        if not zipfile.is_zipfile(f):
            return
    scope.add("polyglot", "the file is a pickle (what pickle.load and legacy torch.load read) and also a zip "
              "archive (what zip-based scanners read); both were analysed")
    from trustgen.audit.checks.archives import check_zip

    check_zip(blob, scope.child("(as zip)"))
