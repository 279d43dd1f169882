"""trustgen audit against modelscan, picklescan and fickling on the same corpus, and how fast each scans.

The corpus is the one the tests build (``tests/audit/corpus.py``: malicious, benign and malformed
files, never committed), plus every model layout trustgen writes or reads (``tests/audit/layouts.py``:
zoo models, diffusers pipelines, checkpoints, TorchScript, Keras …; whole folders, each must be clean).
Each tool runs in this process through its own Python entry point, with the decision its command line
would make:

* trustgen: ``trustgen.audit.scan`` -> exit code 0 clean / 1 flagged / 2 error;
* picklescan: ``scan_file_path``/``scan_directory_path`` -> flagged if ``infected_files``, error if ``scan_err``;
* modelscan: ``ModelScan().scan`` -> flagged if any issue, error if it reports errors (skipped files are clean);
* fickling: its Hugging Face scan logic applied to local files (zip -> ``scan_zip_archive``, pickle by
  content or extension -> ``scan_file``, anything else skipped) -> flagged if a result is not safe,
  error if a result has errors.

An exception escaping a tool is a crash. The peers are optional dev dependencies, installed for this
comparison only (``pip install --target .peers -r requirements/audit-peers.txt``, or into the venv).
Results go to ``benchmarks/results/audit.json``; ``docs/audit.md`` quotes them. ``--no-speed`` keeps
the speed tables of the previous results file (they need a quiet machine).

    python benchmarks/bench_audit.py [--peers .peers] [--rounds 3] [--no-speed]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import pickle
import platform
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "audit"), str(ROOT / "tests")]
RESULTS = ROOT / "benchmarks" / "results" / "audit.json"

from corpus import BENIGN, MALFORMED, MALICIOUS, Sample, build_corpus  # noqa: E402
from layouts import LAYOUT, build_layouts  # noqa: E402

from trustgen.audit import AuditSettings, scan  # noqa: E402
from trustgen.audit.checks.safetensors import check_safetensors  # noqa: E402
from trustgen.audit.scope import Blob, Scope  # noqa: E402

Outcome = str  # "clean" | "flagged" | "error"


def run_trustgen(path: Path, settings: AuditSettings | None = None) -> Outcome:
    return {0: "clean", 1: "flagged", 2: "error"}[scan([path], settings).exit_code]


def run_trustgen_no_hash(path: Path) -> Outcome:
    """The analysis alone, as the peers do it (``--no-hash``: no sha256 of the whole file)."""
    return run_trustgen(path, AuditSettings(hash_files=False))


def run_picklescan(path: Path) -> Outcome:
    from picklescan.scanner import scan_directory_path, scan_file_path

    result = scan_directory_path(str(path)) if path.is_dir() else scan_file_path(str(path))
    if result.infected_files:
        return "flagged"
    return "error" if result.scan_err else "clean"


def run_modelscan(path: Path) -> Outcome:
    from modelscan.modelscan import ModelScan

    result = ModelScan().scan(str(path))
    if result["summary"]["total_issues"]:
        return "flagged"
    return "error" if result["errors"] else "clean"


def _fickling_file(path: Path) -> Outcome:
    from fickling.cli import HF_RAW_PICKLE_EXTENSIONS, HF_ZIP_PICKLE_EXTENSIONS
    from fickling.loader import scan_file, scan_zip_archive
    from fickling.polyglot import find_file_properties

    props = find_file_properties(str(path))
    ext = path.suffix.lower()
    if props["is_torch_zip"] or props["is_standard_zip"] or ext in HF_ZIP_PICKLE_EXTENSIONS:
        results = list(scan_zip_archive(str(path), graceful=True).values())
    elif props["is_valid_pickle"] or ext in HF_RAW_PICKLE_EXTENSIONS:
        results = [scan_file(str(path), graceful=True)]
    else:
        return "clean"  # fickling skips it
    if any(not r.is_safe for r in results):
        return "flagged"
    return "error" if any(r.errors for r in results) else "clean"


def run_fickling(path: Path) -> Outcome:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    outcomes = [_fickling_file(p) for p in files]
    return "flagged" if "flagged" in outcomes else "error" if "error" in outcomes else "clean"


TOOLS: dict[str, Callable[[Path], Outcome]] = {"trustgen": run_trustgen, "modelscan": run_modelscan,
                                               "picklescan": run_picklescan, "fickling": run_fickling}


def _quiet(fn: Callable[[Path], Outcome], path: Path) -> tuple[Outcome, float]:
    """Run one tool on one path, silencing its prints; an escaping exception is a crash."""
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            outcome = fn(path)
        except Exception:  # noqa: BLE001 - any exception out of a scanner is what we count
            outcome = "crash"
    return outcome, time.perf_counter() - start


def compare(samples: list[Sample], tools: dict[str, Callable[[Path], Outcome]]) -> dict:
    """Per-sample outcomes and per-tool recall, false positives, crashes and time."""
    per_sample = []
    for s in samples:
        row = {"sample": s.name, "group": s.group, "kind": s.kind, "technique": s.technique}
        for name, fn in tools.items():
            row[name], row[f"{name}_s"] = _quiet(fn, s.path)
        per_sample.append(row)
    summary = {}
    for name in tools:
        def count(group: str, *outcomes: str, name: str = name) -> int:
            return sum(r["group"] == group and r[name] in outcomes for r in per_sample)

        n = {g: sum(r["group"] == g for r in per_sample) for g in (MALICIOUS, BENIGN, MALFORMED, LAYOUT)}
        summary[name] = {
            "malicious": n[MALICIOUS], "detected": count(MALICIOUS, "flagged"),
            "recall": count(MALICIOUS, "flagged") / n[MALICIOUS],
            "recall_fail_closed": count(MALICIOUS, "flagged", "error", "crash") / n[MALICIOUS],
            "benign": n[BENIGN], "false_positives": count(BENIGN, "flagged"),
            "false_positive_rate": count(BENIGN, "flagged") / n[BENIGN],
            "benign_errors": count(BENIGN, "error", "crash"),
            "layouts": n[LAYOUT], "layout_false_positives": count(LAYOUT, "flagged"),
            "layout_false_positive_rate": count(LAYOUT, "flagged") / max(n[LAYOUT], 1),
            "layout_errors": count(LAYOUT, "error", "crash"),
            "malformed": n[MALFORMED], "malformed_reported": count(MALFORMED, "flagged", "error"),
            "crashes": sum(r[name] == "crash" for r in per_sample),
            "seconds": sum(r[f"{name}_s"] for r in per_sample),
        }
    return {"summary": summary, "samples": per_sample}


def _sparse_safetensors(path: Path, nbytes: int) -> None:
    meta = json.dumps({"w": {"dtype": "U8", "shape": [nbytes], "data_offsets": [0, nbytes]}}).encode()
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(meta)) + meta)
        f.truncate(8 + len(meta) + nbytes)


def header_speed(tmp: Path, rounds: int) -> list[dict]:
    """Seconds to check a safetensors file of growing size (sparse files: the data is never written)."""
    out = []
    for gib in (0.001, 1, 16, 256):
        path = tmp / f"st-{gib}.safetensors"
        _sparse_safetensors(path, int(gib * (1 << 30)))
        times = []
        for _ in range(rounds * 5):
            scope = Scope(AuditSettings())
            start = time.perf_counter()
            check_safetensors(Blob.from_path(path), scope)
            times.append(time.perf_counter() - start)
            assert not scope.findings
        out.append({"file_gib": gib, "check_ms": 1000 * statistics.median(times)})
        path.unlink()
    return out


def _speed_files(tmp: Path) -> dict[str, Path]:
    import numpy as np
    import torch

    files = {
        "op-dense pickle (100k small dicts)": pickle.dumps(
            [{f"k{i}": float(i), "n": i, "s": "x"} for i in range(100_000)], protocol=4),
        "numpy array pickle (one 64 MiB constant)": pickle.dumps(
            {"w": np.random.default_rng(0).random(8 << 20)}, protocol=4),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = tmp / f"speed-{len(paths)}.pkl"
        paths[name].write_bytes(data)
    legacy = tmp / "speed-legacy.pt"
    torch.save({f"layer{i}.weight": torch.randn(256, 256) for i in range(128)}, legacy,
               _use_new_zipfile_serialization=False)
    paths["legacy torch.save (128 tensors of 256 KiB)"] = legacy
    return paths


def pickle_speed(tmp: Path, tools: dict[str, Callable[[Path], Outcome]], rounds: int) -> list[dict]:
    """MB/s of each tool on the same pickle files, rounds interleaved (A, B, C, A, B, C, ...)."""
    out = []
    for name, path in _speed_files(tmp).items():
        size = path.stat().st_size
        times: dict[str, list[float]] = {t: [] for t in tools}
        outcome: dict[str, str] = {}
        for _ in range(rounds):
            for tool, fn in tools.items():
                outcome[tool], seconds = _quiet(fn, path)
                times[tool].append(seconds)
        row = {"file": name, "mb": size / 1e6}
        for tool in tools:
            row[tool] = {"mb_per_s": size / 1e6 / statistics.median(times[tool]), "outcome": outcome[tool]}
        out.append(row)
    return out


def _markdown(result: dict) -> str:
    lines = ["| tool | recall (flagged) | recall (flagged, errored or crashed) | false positives | benign errors "
             "| layouts flagged | layout errors | malformed reported | crashes | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for tool, s in result["comparison"]["summary"].items():
        lines.append(f"| {tool} | {s['detected']}/{s['malicious']} ({s['recall']:.0%}) | {s['recall_fail_closed']:.0%} "
                     f"| {s['false_positives']}/{s['benign']} ({s['false_positive_rate']:.1%}) | {s['benign_errors']} "
                     f"| {s['layout_false_positives']}/{s['layouts']} ({s['layout_false_positive_rate']:.1%}) "
                     f"| {s['layout_errors']} | {s['malformed_reported']}/{s['malformed']} | {s['crashes']} "
                     f"| {s['seconds']:.1f} |")
    tools = list(result["comparison"]["summary"])
    lines += ["", "| malicious sample | kind | " + " | ".join(tools) + " |", "|---|---|" + "---|" * len(tools)]
    marks = {"flagged": "✔", "clean": "✘", "error": "error", "crash": "crash"}
    for r in result["comparison"]["samples"]:
        if r["group"] == MALICIOUS:
            lines.append(f"| {r['sample']} | {r['kind']} | " + " | ".join(marks[r[t]] for t in tools) + " |")
    fps = [r for r in result["comparison"]["samples"] if r["group"] in (BENIGN, LAYOUT)
           and any(r[t] != "clean" for t in tools)]
    if fps:
        lines += ["", "| benign sample (not clean for some tool) | kind | " + " | ".join(tools) + " |",
                  "|---|---|" + "---|" * len(tools)]
        lines += [f"| {r['sample']} | {r['kind']} | " + " | ".join(r[t] for t in tools) + " |" for r in fps]
    if result.get("header_speed"):
        lines += ["", "| safetensors file | header check (ms) |", "|---|---|"]
        lines += [f"| {h['file_gib']:g} GiB | {h['check_ms']:.2f} |" for h in result["header_speed"]]
    if result.get("pickle_speed"):
        speed_tools = [k for k in result["pickle_speed"][0] if k not in ("file", "mb")]
        lines += ["", "| file | MB | " + " | ".join(f"{t} MB/s" for t in speed_tools) + " |",
                  "|---|---|" + "---|" * len(speed_tools)]
        for row in result["pickle_speed"]:
            lines.append(f"| {row['file']} | {row['mb']:.1f} | " + " | ".join(
                f"{row[t]['mb_per_s']:.1f} ({row[t]['outcome']})" for t in speed_tools) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", type=Path, default=ROOT / ".peers", help="folder the peers were pip-installed "
                        "into with --target (ignored if missing)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-speed", action="store_true")
    args = parser.parse_args()
    if args.peers.is_dir():
        sys.path.append(str(args.peers))
    logging.disable(logging.CRITICAL)
    tools = {"trustgen": run_trustgen}
    versions = {"trustgen": __import__("trustgen").__version__}
    for name in ("modelscan", "picklescan", "fickling"):
        try:
            from importlib.metadata import version

            __import__(name)
            versions[name] = version(name)
            tools[name] = TOOLS[name]
        except ImportError:
            print(f"{name} is not installed; skipped", file=sys.stderr)
    previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    with tempfile.TemporaryDirectory() as tmp:
        samples, canary = build_corpus(Path(tmp) / "corpus")
        samples += build_layouts(Path(tmp) / "layouts")
        result: dict = {"versions": versions, "machine": platform.platform(), "cpus": os.cpu_count(),
                        "comparison": compare(samples, tools)}
        assert not canary.exists(), "a payload ran"
        if args.no_speed:
            result.update({k: previous[k] for k in ("header_speed", "pickle_speed") if k in previous})
        else:
            result["header_speed"] = header_speed(Path(tmp), args.rounds)
            result["pickle_speed"] = pickle_speed(Path(tmp), {"trustgen": run_trustgen,
                                                              "trustgen --no-hash": run_trustgen_no_hash,
                                                              **{k: v for k, v in tools.items() if k != "trustgen"}},
                                                  args.rounds)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(_markdown(result))


if __name__ == "__main__":
    main()
