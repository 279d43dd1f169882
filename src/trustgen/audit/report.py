"""Render an :class:`~trustgen.audit.findings.AuditReport`: terminal text (rich), JSON, SARIF 2.1.0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trustgen.audit.findings import RULES, AuditReport, Finding

FORMATS = ("text", "json", "sarif")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.0", "low": "2.0"}  # GitHub's scale
_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan",
          "unsafe": "bold red", "malformed": "bold magenta", "unverified": "yellow", "clean": "green"}


def to_json(report: AuditReport) -> str:
    """The JSON report: ``summary``, ``files`` (path, format, sha256, verdict, findings), ``errors``."""
    return json.dumps(report.to_dict(), indent=2) + "\n"


def _artifact_uri(path: str) -> dict[str, str]:
    p = Path(path)
    if p.is_absolute():
        return {"uri": p.as_uri()}
    return {"uri": p.as_posix(), "uriBaseId": "%SRCROOT%"}


def _rule_name(rule: str) -> str:
    return "".join(part.capitalize() for part in rule.split("-"))


def _sarif_result(f: Finding, path: str, artifact: int, rule_index: dict[str, int]) -> dict[str, Any]:
    location: dict[str, Any] = {"physicalLocation": {"artifactLocation": {**_artifact_uri(path), "index": artifact}}}
    if f.offset is not None and f.member is None:
        location["physicalLocation"]["region"] = {"byteOffset": f.offset, "byteLength": 1}
    if f.member is not None:
        location["logicalLocations"] = [{"fullyQualifiedName": f.member, "kind": "resource"}]
    text = f.detail if f.member is None else f"{f.detail} (in {f.member})"
    return {"ruleId": f.rule, "ruleIndex": rule_index[f.rule], "level": _SARIF_LEVEL[f.severity],
            "message": {"text": text}, "locations": [location],
            "properties": {"severity": f.severity, "member": f.member, "offset": f.offset,
                           "security-severity": _SECURITY_SEVERITY[f.severity]}}


def to_sarif(report: AuditReport) -> str:
    """SARIF 2.1.0 for code-scanning tools: one run, every rule, one result per finding, one artifact per file."""
    from trustgen import __version__

    rules = sorted(RULES)
    rule_index = {r: i for i, r in enumerate(rules)}
    artifacts: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for i, fr in enumerate(report.files):
        artifact: dict[str, Any] = {"location": _artifact_uri(fr.path), "length": fr.size,
                                    "properties": {"format": fr.format, "verdict": fr.verdict}}
        if fr.sha256:
            artifact["hashes"] = {"sha-256": fr.sha256}
        artifacts.append(artifact)
        results.extend(_sarif_result(f, fr.path, i, rule_index) for f in fr.findings)
    driver = {
        "name": "trustgen", "fullName": "trustgen audit", "version": __version__, "semanticVersion": __version__,
        "rules": [{"id": r, "name": _rule_name(r), "shortDescription": {"text": RULES[r][1]},
                   "defaultConfiguration": {"level": _SARIF_LEVEL[RULES[r][0]]},
                   "properties": {"security-severity": _SECURITY_SEVERITY[RULES[r][0]], "tags": ["security"]}}
                  for r in rules],
    }
    invocation = {"executionSuccessful": not report.errors, "exitCode": report.exit_code,
                  "toolExecutionNotifications": [
                      {"level": "error", "message": {"text": f"{e['path']}: {e['error']}"}} for e in report.errors]}
    sarif = {"$schema": SARIF_SCHEMA, "version": "2.1.0",
             "runs": [{"tool": {"driver": driver}, "artifacts": artifacts, "results": results,
                       "invocations": [invocation], "properties": {"summary": report.summary()}}]}
    return json.dumps(sarif, indent=2) + "\n"


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"  # pragma: no cover


def render_text(report: AuditReport, console: Any) -> None:
    """Print the readable report on a rich console: one line per file, its findings beneath."""
    from rich.markup import escape

    s = report.summary()
    counts = ", ".join(f"{n} {v}" for v, n in s["verdicts"].items() if n)
    console.print(f"[bold]trustgen audit[/bold]: {s['files']} file(s) — {counts or 'none'}")
    for fr in report.files:
        style = _STYLE[fr.verdict]
        digest = f"sha256 {fr.sha256[:12]}…, " if fr.sha256 else ""
        console.print(f"[{style}]{fr.verdict.upper():<11}[/{style}] {fr.format:<14} {escape(fr.path)} "
                      f"[dim]({digest}{_size(fr.size)})[/dim]")
        for f in fr.findings:
            where = f" [dim]{escape(f.location_text())}[/dim]" if f.location_text() else ""
            sev = _STYLE[f.severity]
            console.print(f"    [{sev}]{f.severity:<8}[/{sev}] {f.rule}{where}")
            console.print(f"             {escape(f.detail)}", soft_wrap=True)
    for e in report.errors:
        console.print(f"[bold red]ERROR[/bold red]       {escape(e['path'])}: {escape(e['error'])}")
    code = report.exit_code
    modes = ", ".join(m for m, on in (("strict", report.strict), ("unknown files allowed", report.allow_unknown)) if on)
    modes = f" ({modes})" if modes else ""
    if code == 0:
        accepted = sum(r.verdict == "unverified" for r in report.files)
        extra = f", {accepted} unverified file(s) let through by --allow-unknown" if accepted else ""
        console.print(f"[green]result: nothing found{modes}{extra}[/green]")
    elif code == 1:
        bad = sum(report.fails(r) for r in report.files)
        console.print(f"[bold red]result: {bad} file(s) failed{modes} — do not load them until you have read the "
                      "findings[/bold red]")
        unverified = sum(report.fails(r) and r.verdict == "unverified" for r in report.files)
        if unverified:
            console.print(f"[yellow]{unverified} of them could not be verified (trustgen cannot tell what they "
                          "are); --allow-unknown lets such files pass[/yellow]")
    else:
        console.print(f"[bold red]result: {len(report.errors)} path(s) could not be read[/bold red]")


def render(report: AuditReport, fmt: str) -> str:
    """The report as text in ``fmt`` (``text`` is rendered without colours)."""
    if fmt == "json":
        return to_json(report)
    if fmt == "sarif":
        return to_sarif(report)
    import io

    from rich.console import Console

    buf = io.StringIO()
    render_text(report, Console(file=buf, width=120, no_color=True, highlight=False, soft_wrap=True))
    return buf.getvalue()
