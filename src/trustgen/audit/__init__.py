"""Model file audit: find what a downloaded model file would run when loaded, without loading it.

People download checkpoints and ``torch.load`` them; a pickle can run any code, and scanners that
look for known-bad names (picklescan, modelscan) are bypassed again and again. ``trustgen.audit``
decides by what is known to be safe (an allowlist of checkpoint reconstructors, like PyTorch's
``weights_only``), detects formats by their bytes rather than their names, never imports, executes
or unpickles anything from a scanned file, and reports every finding with its rule, severity and
location. Motivated by the supply-chain risks of open-source models (Struppek, Hintersdorf, Kersting
et al., arXiv 2308.09490); see ``docs/audit.md``.

>>> from trustgen.audit import scan
>>> report = scan(["model.pt", "hf-model-folder/"])   # doctest: +SKIP
>>> report.exit_code, [(f.path, f.verdict) for f in report.files]   # doctest: +SKIP
"""

from __future__ import annotations

from trustgen.audit.config import AuditSettings
from trustgen.audit.findings import RULES, AuditReport, FileReport, Finding
from trustgen.audit.scanner import scan, scan_file

__all__ = ["RULES", "AuditReport", "AuditSettings", "FileReport", "Finding", "scan", "scan_file"]
