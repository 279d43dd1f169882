"""trustgen audit on its corpus (malicious, benign, malformed), exact findings, reports and the command line."""

from __future__ import annotations

import collections
import json
import pickle
import pickletools
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from corpus import BENIGN, MALFORMED, MALICIOUS, C, G, Sample, assemble, build_corpus
from layouts import KERAS_BENIGN, build_layouts, minilm_folder, start_keras, wait_keras, zoo_models

from cli_support import assert_bad_input, trustgen
from trustgen.audit import RULES, AuditSettings, scan
from trustgen.audit.checks.safetensors import check_safetensors
from trustgen.audit.report import to_sarif
from trustgen.audit.scanner import collect
from trustgen.audit.scope import Blob, Scope
from trustgen.core.errors import TrustgenError


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    samples, canary = build_corpus(root)
    yield root, samples, canary
    assert not canary.exists(), "a payload ran"


def _offset_of(data: bytes, opname: str) -> int:
    """Where pickletools finds the (last) opcode ``opname``: the independent reference for reported offsets."""
    return [pos for op, _, pos in pickletools.genops(data) if op.name == opname][-1]


def _by_group(samples: list[Sample], group: str) -> list[Sample]:
    return [s for s in samples if s.group == group]


def test_corpus_has_what_the_issue_asks_for(corpus):
    _, samples, _ = corpus
    pickles = [s for s in _by_group(samples, MALICIOUS) if s.kind == "pickle"]
    assert len(pickles) >= 25
    kinds = collections.Counter(s.kind for s in _by_group(samples, BENIGN))
    assert set(kinds) >= {"pickle", "pytorch-zip", "pytorch-legacy", "numpy", "npz", "joblib", "safetensors", "zip",
                          "nested-archive", "gguf", "onnx", "keras", "hdf5", "hf-folder"}
    assert min(kinds.values()) >= 10
    assert len(_by_group(samples, MALFORMED)) >= 15


def test_every_malicious_file_is_flagged_with_its_rules(corpus):
    _, samples, canary = corpus
    misses = []
    for s in _by_group(samples, MALICIOUS):
        report = scan([s.path])
        rules = {f.rule for f in report.findings}
        if report.exit_code != 1 or not s.rules <= rules or not any(r.verdict == "unsafe" for r in report.files):
            misses.append((s.name, report.exit_code, sorted(rules)))
    assert misses == []
    assert not canary.exists()


def test_every_benign_file_passes(corpus):
    _, samples, _ = corpus
    report = scan([s.path for s in _by_group(samples, BENIGN)])
    assert report.errors == []
    assert [(r.path, r.verdict, [f.detail for f in r.findings]) for r in report.files if r.verdict != "clean"] == []
    assert report.exit_code == 0
    advice = [(Path(r.path).name, f.rule) for r in report.files for f in r.findings]
    assert advice == [("object-plain.npy", "numpy-object-array")]  # low severity: fails only with --strict


def test_malformed_files_are_reported_without_crashing(corpus):
    _, samples, _ = corpus
    for s in _by_group(samples, MALFORMED):
        report = scan([s.path])
        assert report.errors == [], s.name
        assert report.exit_code == 1, s.name
        assert s.rules <= {f.rule for f in report.findings}, (s.name, report.findings)
        assert report.files[0].verdict in ("malformed", "unsafe"), s.name


def test_exact_findings_name_the_callable_and_the_opcode_offset(corpus):
    root, _, _ = corpus
    memo = root / MALICIOUS / "memo-stack-global.pkl"
    [finding] = scan([memo]).findings
    data = memo.read_bytes()
    assert (finding.rule, finding.severity, finding.offset) == ("pickle-dangerous-global", "critical", 50)
    assert data[finding.offset] == 0x93  # STACK_GLOBAL
    reduce_at = _offset_of(data, "REDUCE")
    assert finding.detail == f"os.system imported by STACK_GLOBAL at byte 50, called by REDUCE at byte {reduce_at}"
    torch_zip = scan([root / MALICIOUS / "torch-zip-payload.pt"]).files[0]
    assert torch_zip.format == "pytorch-zip" and torch_zip.verdict == "unsafe"
    [f] = torch_zip.findings
    assert f.member == "torch-zip-payload/data.pkl" and f.detail.startswith("posix.system imported by GLOBAL")
    nested = scan([root / MALICIOUS / "zip-in-zip.zip"]).findings
    assert [x.member for x in nested] == ["bundle.zip!/deep/model.pkl"]
    mislabelled = scan([root / MALICIOUS / "pickle-as-safetensors.safetensors"]).files[0]
    assert mislabelled.format == "pickle"
    assert [(f.rule, f.severity) for f in mislabelled.findings] == [
        ("pickle-dangerous-global", "critical"), ("format-mismatch", "high")]
    legacy = scan([root / BENIGN / "torch-legacy-linear.pth"]).files[0]
    assert (legacy.format, legacy.verdict) == ("pytorch-legacy", "clean")


def test_nothing_named_in_a_pickle_is_ever_imported(tmp_path, monkeypatch):
    canary = tmp_path / "imported"
    (tmp_path / "tg_canary_module.py").write_text(f"open({str(canary)!r}, 'w').close()\nfunc = print\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "m.pkl"
    path.write_bytes(assemble(C(G("tg_canary_module", "func"), ("hi",))))
    report = scan([path])
    assert [f.rule for f in report.findings] == ["pickle-unknown-global"]
    assert "tg_canary_module" not in sys.modules and not canary.exists()
    allowed = scan([path], AuditSettings(allow=["tg_canary_module.func"]))
    assert allowed.exit_code == 0


def test_safetensors_check_reads_the_header_only(tmp_path):
    """A 4 GiB file (sparse: its data is never written) is checked as fast as a 16-byte one."""
    times = {}
    for n_floats in (4, 1 << 30):
        meta = json.dumps({"w": {"dtype": "F32", "shape": [n_floats], "data_offsets": [0, 4 * n_floats]}}).encode()
        path = tmp_path / f"w{n_floats}.safetensors"
        with path.open("wb") as f:
            f.write(struct.pack("<Q", len(meta)) + meta)
            f.truncate(8 + len(meta) + 4 * n_floats)
        scope = Scope(AuditSettings())
        start = time.perf_counter()
        check_safetensors(Blob.from_path(path), scope)
        times[n_floats] = time.perf_counter() - start
        assert scope.findings == []
    assert times[1 << 30] < 0.05, times


def test_limits_catch_bombs_and_depth(tmp_path):
    import zipfile

    path = tmp_path / "deep.zip"
    data = pickle.dumps({"a": 1})
    for i in range(4):
        buf = tmp_path / f"l{i}.zip"
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("inner.zip" if i else "x.pkl", data)
        data = buf.read_bytes()
    path.write_bytes(data)
    assert scan([path]).exit_code == 0
    shallow = scan([path], AuditSettings(max_depth=2))
    assert [f.rule for f in shallow.findings] == ["archive-depth"] and shallow.exit_code == 1
    bomb = tmp_path / "zeros.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.txt", b"0" * 2_000_000)
    assert scan([bomb]).exit_code == 0
    small_limits = AuditSettings(bomb_min_bytes=1_000_000, max_ratio=50)
    assert [f.rule for f in scan([bomb], small_limits).findings] == ["archive-bomb"]


def test_model_folder_unit_and_read_errors(corpus, monkeypatch):
    root, _, _ = corpus
    report = scan([root / MALICIOUS / "hf-remote-code"])
    by_name = {Path(r.path).name: r for r in report.files}
    assert by_name["config.json"].findings[0].rule == "hf-remote-code"
    assert by_name["modeling_evil.py"].verdict == "unsafe"  # code inside a model folder
    assert by_name["model.safetensors"].verdict == "clean"
    import trustgen.core.safe_io as safe_io

    def refuse(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(safe_io, "sha256_file", refuse)
    broken = scan([root / BENIGN / "array-0.npy"])
    assert broken.exit_code == 2 and broken.errors[0]["error"] == "Permission denied"


def test_remote_code_is_auto_map_or_a_model_index_component_from_outside_the_known_libraries(tmp_path):
    unet = {"_class_name": "UNet2DModel", "_diffusers_version": "0.36.0", "down_block_types": ["DownBlock2D",
            "AttnDownBlock2D"], "up_block_types": ["AttnUpBlock2D", "UpBlock2D"], "block_out_channels": [32, 64]}
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "config.json").write_text(json.dumps(unet))
    index = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.36.0",
             "_ignore_files": ["a.bin", "b.bin"], "feature_extractor": ["transformers", "CLIPImageProcessor"],
             "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"], "image_encoder": [None, None],
             "scheduler": ["diffusers", "PNDMScheduler"], "unet": ["diffusers", "UNet2DConditionModel"]}
    (tmp_path / "model_index.json").write_text(json.dumps(index))
    assert scan([tmp_path]).findings == []
    index["unet"] = ["my_unet", "MyUNet"]  # diffusers imports unet/my_unet.py from the repository
    (tmp_path / "model_index.json").write_text(json.dumps(index))
    [finding] = scan([tmp_path]).findings
    assert finding.rule == "hf-remote-code" and "unet/my_unet.py" in finding.detail
    custom = {"_class_name": ["pipeline_evil", "EvilPipeline"], "_diffusers_version": "0.36.0"}
    (tmp_path / "model_index.json").write_text(json.dumps(custom))
    assert [f.rule for f in scan([tmp_path]).findings] == ["hf-remote-code"]


def test_sarif_report_shape(corpus):
    root, _, _ = corpus
    report = scan([root / MALICIOUS / "torch-zip-payload.pt", root / MALICIOUS / "os-system-p0.pkl",
                   root / BENIGN / "weights-0.safetensors"])
    sarif = json.loads(to_sarif(report))
    assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-2.1.0.json")
    run = sarif["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert len(run["artifacts"]) == 3 and run["artifacts"][2]["hashes"]["sha-256"] == report.files[2].sha256
    assert len(run["results"]) == 2
    for result in run["results"]:
        assert rules[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] == "error" and result["properties"]["security-severity"] == "9.5"
    direct = run["results"][1]["locations"][0]["physicalLocation"]
    assert direct["region"] == {"byteOffset": 0, "byteLength": 1}
    member = run["results"][0]["locations"][0]
    assert member["logicalLocations"][0]["fullyQualifiedName"] == "torch-zip-payload/data.pkl"
    assert run["invocations"][0]["executionSuccessful"] is True


def test_every_rule_is_documented():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text()
    assert [rule for rule in RULES if f"| `{rule}` |" not in docs] == []


def test_real_torch_checkpoints_still_load_through_safe_io(corpus):
    from trustgen.core.safe_io import load_state_dict

    root, _, _ = corpus
    state = load_state_dict(root / BENIGN / "torch-linear.pt", allow_pickle=True)
    assert set(state) == {"weight", "bias"}


# --- the command line -------------------------------------------------------------------------------


def test_cli_json_report_and_exit_codes(corpus, tmp_path):
    root, _, canary = corpus
    bad = trustgen("audit", root / MALICIOUS / "exec-p2.pkl", root / BENIGN / "weights-1.safetensors",
                   "--format", "json")
    assert bad.returncode == 1, bad.stderr
    report = json.loads(bad.stdout)
    assert set(report) >= {"summary", "files", "errors"}
    assert report["summary"]["files"] == 2 and report["summary"]["findings"] == 1
    assert report["summary"]["max_severity"] == "critical" and report["errors"] == []
    first = report["files"][0]
    assert set(first) >= {"path", "format", "sha256", "verdict", "findings"}
    assert first["verdict"] == "unsafe" and len(first["sha256"]) == 64
    reduce_at = _offset_of((root / MALICIOUS / "exec-p2.pkl").read_bytes(), "REDUCE")
    assert first["findings"][0] == {
        "rule": "pickle-dangerous-global", "severity": "critical",
        "detail": f"builtins.exec imported by GLOBAL at byte 2, called by REDUCE at byte {reduce_at}",
        "location": {"member": None, "offset": 2}}
    assert report["files"][1]["verdict"] == "clean"
    good = trustgen("audit", root / BENIGN / "hf-model-0", root / BENIGN / "torch-linear.pt")
    assert good.returncode == 0 and "result: nothing found" in good.stdout and "CLEAN" in good.stdout
    assert not canary.exists()


def test_cli_sarif_output_file_is_written_atomically(corpus, tmp_path):
    root, _, _ = corpus
    out = tmp_path / "reports" / "audit.sarif"
    result = trustgen("audit", root / MALICIOUS, "--format", "sarif", "--output", out)
    assert result.returncode == 1, result.stderr
    assert "report written to" in result.stdout
    sarif = json.loads(out.read_text())
    assert len(sarif["runs"][0]["results"]) >= 60
    assert [p.name for p in out.parent.iterdir()] == ["audit.sarif"]  # no temporary file left behind


def test_cli_strict_and_bad_input(corpus, tmp_path):
    root, _, _ = corpus
    obj = root / BENIGN / "object-plain.npy"
    assert trustgen("audit", obj).returncode == 0
    strict = trustgen("audit", obj, "--strict")
    assert strict.returncode == 1 and "numpy-object-array" in strict.stdout
    assert_bad_input(trustgen("audit", tmp_path / "nope.pt"), "path not found", "nope.pt")
    assert_bad_input(trustgen("audit", obj, "--format", "xml"), "unknown report format", "xml")
    assert_bad_input(trustgen("audit", obj, "--output", tmp_path), "cannot write the report")


def test_a_file_the_audit_cannot_read_never_passes_as_clean(tmp_path):
    weights = tmp_path / "weights.bin"
    weights.write_bytes(np.random.default_rng(0).bytes(4096))
    report = scan([weights])
    [fr] = report.files
    assert (fr.format, fr.verdict, [f.rule for f in fr.findings], report.exit_code) == (
        "unknown", "unverified", ["unverified"], 1)
    assert scan([weights], AuditSettings(allow_unknown=True)).exit_code == 0
    assert scan([weights], AuditSettings(allow_unknown=True, strict=True)).exit_code == 0  # the opt-out is explicit
    (tmp_path / "train.py").write_text("print('hi')\n")  # code outside a model folder: not vouched for either
    (tmp_path / "gone.safetensors").symlink_to(tmp_path / "missing")  # a cache link to a blob never downloaded
    verdicts = {Path(r.path).name: (r.format, r.verdict) for r in scan([tmp_path]).files}
    assert verdicts == {"weights.bin": ("unknown", "unverified"), "train.py": ("python", "unverified"),
                        "gone.safetensors": ("special", "unverified")}
    in_zip = tmp_path / "bundle.zip"
    import zipfile

    with zipfile.ZipFile(in_zip, "w") as zf:
        zf.writestr("blob.bin", weights.read_bytes())
    [f] = scan([in_zip]).findings
    assert (f.rule, f.member) == ("unverified", "blob.bin")


def test_onnx_external_data_beside_its_model_is_verified_by_the_model(tmp_path):
    from corpus import _onnx

    _onnx(tmp_path / "model.onnx", external="model.onnx.data", size=4)
    (tmp_path / "model.onnx.data").write_bytes(np.ones((4, 4), dtype=np.float32).tobytes())
    (tmp_path / "stray.data").write_bytes(np.random.default_rng(1).bytes(64))
    report = scan([tmp_path])
    assert {Path(r.path).name: (r.format, r.verdict) for r in report.files} == {
        "model.onnx": ("onnx", "clean"), "model.onnx.data": ("onnx-external-data", "clean"),
        "stray.data": ("unknown", "unverified")}


def test_hugging_face_cache_files_are_scanned_under_their_snapshot_names(tmp_path):
    """snapshots/<rev>/x links to blobs/<sha>: the name (config.json, modeling_x.py) is what loaders go by."""
    repo = tmp_path / "models--org--name"
    blobs, snap = repo / "blobs", repo / "snapshots" / "abc123"
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    files = {"config.json": json.dumps({"model_type": "x", "auto_map": {"AutoModel": "modeling_x.X"}}),
             "modeling_x.py": "import os\n"}
    for i, (name, text) in enumerate(files.items()):
        (blobs / f"{i:040d}").write_text(text)
        (snap / name).symlink_to(Path("..") / ".." / "blobs" / f"{i:040d}")
    report = scan([repo])
    by_name = {Path(r.path).name: r for r in report.files}
    assert set(by_name) == {"main", "config.json", "modeling_x.py"}
    assert [f.rule for f in by_name["config.json"].findings] == ["hf-remote-code"]
    assert [f.rule for f in by_name["modeling_x.py"].findings] == ["python-code"]


def test_cli_unknown_files_empty_folders_and_globs(tmp_path):
    (tmp_path / "weights.bin").write_bytes(np.random.default_rng(0).bytes(512))
    unknown = trustgen("audit", tmp_path / "weights.bin", "--no-hash")
    assert unknown.returncode == 1 and "UNVERIFIED" in unknown.stdout and "--allow-unknown" in unknown.stdout
    allowed = trustgen("audit", tmp_path / "weights.bin", "--allow-unknown", "--strict", "--no-hash")
    assert allowed.returncode == 0 and "let through by --allow-unknown" in allowed.stdout
    (tmp_path / "empty").mkdir()
    assert_bad_input(trustgen("audit", tmp_path / "empty", "--strict"), "nothing to audit", "empty folder")
    assert_bad_input(trustgen("audit", str(tmp_path / "*.safetensors")), "nothing to audit", "no file matches")
    assert [Path(p).name for p, _ in collect([str(tmp_path / "*.bin")])] == ["weights.bin"]  # a quoted glob
    with pytest.raises(TrustgenError, match="no paths given"):
        collect([])


@pytest.fixture(scope="module")
def keras_job(tmp_path_factory):
    """Keras 3 writing its files in a subprocess (started once, shared; the layouts are built meanwhile)."""
    job = start_keras(tmp_path_factory.mktemp("keras"))
    yield job
    if job[0].poll() is None:
        job[0].kill()
        job[0].communicate()


@pytest.fixture(scope="module")
def layouts(tmp_path_factory, keras_job):
    return build_layouts(tmp_path_factory.mktemp("layouts"), keras_job)


def test_every_model_layout_this_project_writes_or_reads_audits_clean(layouts):
    """Zoo models, diffusers pipelines, trustgen's bundle / training checkpoint / NeMo export / CollaFuse
    checkpoints, sentence-transformers MiniLM, TorchScript, Keras without Lambda: exit 0, advice at most."""
    kinds = {s.kind for s in layouts}
    assert {f"zoo/{p.name}" for p in zoo_models().values()} <= kinds and len(zoo_models()) >= 6
    assert {"ddpm-pipeline", "stable-diffusion-pipeline", "trustgen-bundle", "training-checkpoint", "nemo-export",
            "collafuse-checkpoints", "torchscript-scripted", "torchscript-traced", "keras-plain.keras",
            "keras-plain.h5"} <= kinds
    if minilm_folder() is not None:
        assert "sentence-transformers-minilm" in kinds
    failed, advice = {}, set()
    for s in layouts:
        report = scan([s.path])
        if report.exit_code != 0:
            failed[s.kind] = [(r.path, r.verdict, [(f.rule, f.member, f.detail) for f in r.findings])
                              for r in report.files if r.findings] + report.errors
        advice |= {(s.kind, f.rule, f.severity) for f in report.findings}
    assert failed == {}
    assert advice == {("torchscript-scripted", "torchscript-code", "low"),
                      ("torchscript-traced", "torchscript-code", "low")}
    unet = json.loads(next(s.path for s in layouts if s.kind == "ddpm-pipeline").joinpath("unet", "config.json")
                      .read_text())
    assert unet["down_block_types"] == ["DownBlock2D", "AttnDownBlock2D"]  # the two-block list once taken for code
    everything = trustgen("audit", *[s.path for s in layouts], "--no-hash")
    assert everything.returncode == 0 and "result: nothing found" in everything.stdout, everything.stdout[-3000:]


def test_real_keras_saves(keras_job):
    """Files written by Keras itself (not the corpus' imitation): Dense clean, Lambda and custom objects flagged."""
    folder = wait_keras(keras_job)
    report = {Path(r.path).name: r for r in scan([folder / n for n in (*KERAS_BENIGN, "lambda.keras",
                                                                        "custom.keras")]).files}
    assert report["plain.keras"].verdict == "clean" and report["plain.h5"].format == "keras-hdf5"
    assert report["plain.h5"].verdict == "clean"
    assert [f.rule for f in report["lambda.keras"].findings] == ["keras-lambda"]
    assert [f.rule for f in report["custom.keras"].findings] == ["keras-custom-object"]
