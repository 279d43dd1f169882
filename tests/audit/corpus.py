"""The audit corpus: malicious, benign and malformed model files, built on the fly (never committed).

Every malicious payload, if anything ever loaded it, would only create the ``canary`` file; the tests
assert that the canary never appears. The malicious pickles reproduce the techniques that public
advisories describe against denylist scanners (picklescan, modelscan, fickling): builtins
exec/eval, os/posix/subprocess, runpy, importlib and getattr chains, operator/functools wrappers,
``pkgutil.resolve_name``, ``timeit``/``cProfile``/``pydoc.pipepager``, ``marshal`` + ``FunctionType``,
memo tricks, computed and dotted ``STACK_GLOBAL`` names, INST/OBJ/NEWOBJ_EX/EXT/BUILD gadgets, nested
pickles, payloads in PyTorch zip and legacy files, in npy/npz/joblib, under misleading extensions
and in polyglots. The benign files are real outputs of torch, numpy, joblib, safetensors, gguf and
onnx (Keras files follow the layout Keras 3 writes; ``test_audit.py`` also checks real Keras saves).

Used by ``tests/audit/test_audit.py`` and by ``benchmarks/bench_audit.py`` (the peer comparison).
"""

from __future__ import annotations

import argparse
import collections
import datetime
import gzip
import io
import json
import os
import pickle
import struct
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MALICIOUS, BENIGN, MALFORMED = "malicious", "benign", "malformed"


@dataclass(frozen=True)
class Sample:
    """One corpus entry: a file or folder, its group, its kind, and the rules trustgen must report."""

    path: Path
    group: str
    kind: str
    technique: str
    rules: frozenset[str] = field(default_factory=frozenset)

    @property
    def name(self) -> str:
        return self.path.name


# --- a tiny pickle assembler ------------------------------------------------------------------------


@dataclass(frozen=True)
class G:
    """A global ``module.name`` (pushed with STACK_GLOBAL)."""

    module: str
    name: str


@dataclass(frozen=True)
class C:
    """A call ``func(*args)`` (REDUCE)."""

    func: Any
    args: tuple[Any, ...] = ()


def _str(s: str) -> bytes:
    b = s.encode()
    return (b"\x8c" + bytes([len(b)]) if len(b) < 256 else b"X" + struct.pack("<I", len(b))) + b


def _expr(e: Any) -> bytes:
    if isinstance(e, G):
        return _str(e.module) + _str(e.name) + b"\x93"
    if isinstance(e, C):
        return _expr(e.func) + b"(" + b"".join(_expr(a) for a in e.args) + b"tR"
    if isinstance(e, str):
        return _str(e)
    if isinstance(e, bytes):
        return b"B" + struct.pack("<I", len(e)) + e
    if isinstance(e, bool) or e is None:
        return {True: b"\x88", False: b"\x89", None: b"N"}[e]
    if isinstance(e, int):
        return b"J" + struct.pack("<i", e)
    if isinstance(e, dict):
        return b"}(" + b"".join(_expr(k) + _expr(v) for k, v in e.items()) + b"u"
    if isinstance(e, list):
        return b"](" + b"".join(_expr(v) for v in e) + b"e"
    if isinstance(e, tuple):
        return b"(" + b"".join(_expr(v) for v in e) + b"t"
    raise TypeError(e)


def assemble(e: Any) -> bytes:
    """A protocol-4 pickle that evaluates the expression ``e`` (globals G, calls C, literals)."""
    return b"\x80\x04" + _expr(e) + b"."


class Reduce:
    """Pickles as ``func(*args)`` through the ordinary pickler (used for real torch/numpy/joblib writers)."""

    def __init__(self, func: Any, *args: Any):
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args

    def __call__(self, *args: Any) -> Any:  # makes a Reduce usable as the callable of another one
        raise AssertionError("payloads are never called")


# --- malicious -------------------------------------------------------------------------------------


def _payloads(canary: Path) -> tuple[str, str, list[str]]:
    shell = f"touch {canary}"
    code = f"open({str(canary)!r}, 'w').close()"
    return shell, code, ["touch", str(canary)]


def _pickle_techniques(canary: Path) -> dict[str, tuple[bytes, frozenset[str]]]:
    """name -> (pickle bytes, rules that must fire). Every one would create ``canary`` if unpickled."""
    import os as os_

    shell, code, argv = _payloads(canary)
    dangerous = frozenset({"pickle-dangerous-global"})
    unknown = frozenset({"pickle-unknown-global"})
    system = G("os", "system")
    code_bytes = __import__("marshal").dumps(compile(code, "<payload>", "exec"))
    nested = pickle.dumps(Reduce(os_.system, shell), protocol=2)
    t: dict[str, tuple[bytes, frozenset[str]]] = {
        "exec-p2.pkl": (pickle.dumps(Reduce(exec, code), protocol=2), dangerous),
        "eval-p4.pkl": (pickle.dumps(Reduce(eval, code), protocol=4), dangerous),
        "os-system-p0.pkl": (pickle.dumps(Reduce(os_.system, shell), protocol=0), dangerous),
        "posix-system-p1.pkl": (pickle.dumps(Reduce(os_.system, shell), protocol=1), dangerous),
        "os-system-p5.pkl": (assemble(C(system, (shell,))), dangerous),
        "subprocess-popen.pkl": (assemble(C(G("subprocess", "Popen"), (argv,))), dangerous),
        "subprocess-check-output.pkl": (assemble(C(G("subprocess", "check_output"), (argv,))), dangerous),
        "runpy-run-code.pkl": (assemble(C(G("runpy", "_run_code"), (code, {}))), dangerous),
        "importlib-getattr.pkl": (assemble(C(C(G("builtins", "getattr"), (
            C(G("importlib", "import_module"), ("os",)), "system")), (shell,))), dangerous),
        "builtins-import-getattr.pkl": (assemble(C(C(G("builtins", "getattr"), (
            C(G("builtins", "__import__"), ("os",)), "system")), (shell,))), dangerous),
        "operator-methodcaller.pkl": (assemble(C(C(G("operator", "methodcaller"), ("system", shell)), (
            C(G("importlib", "import_module"), ("os",)),))), dangerous),
        "operator-attrgetter.pkl": (assemble(C(C(C(G("operator", "attrgetter"), ("system",)), (
            C(G("importlib", "import_module"), ("os",)),)), (shell,))), dangerous),
        "functools-partial.pkl": (assemble(C(C(G("functools", "partial"), (system, shell)))), dangerous),
        "operator-call.pkl": (assemble(C(G("operator", "call"), (system, shell))), dangerous),
        "pkgutil-resolve-name.pkl": (assemble(C(C(G("pkgutil", "resolve_name"), ("os:system",)), (shell,))),
                                     dangerous),
        "timeit.pkl": (assemble(C(G("timeit", "timeit"), (code, "pass", G("time", "perf_counter"), 1))),
                       dangerous),
        "cprofile-run.pkl": (assemble(C(G("cProfile", "run"), (code,))), dangerous),
        "pydoc-pipepager.pkl": (assemble(C(G("pydoc", "pipepager"), ("", shell))), dangerous),
        "marshal-functiontype.pkl": (assemble(C(C(G("types", "FunctionType"), (
            C(G("marshal", "loads"), (code_bytes,)), {})))), dangerous),
        "nested-pickle-loads.pkl": (assemble(C(G("pickle", "loads"), (nested,))), dangerous),
        "numpy-runstring.pkl": (assemble(C(G("numpy.testing._private.utils", "runstring"), (code, {}))),
                                dangerous),
        "io-fileio.pkl": (assemble(C(G("io", "FileIO"), (str(canary), "w"))), dangerous),
        "builtins-open.pkl": (assemble(C(G("builtins", "open"), (str(canary), "w"))), dangerous),
        "pathlib-touch.pkl": (assemble(C(C(G("operator", "methodcaller"), ("touch",)), (
            C(G("pathlib", "PosixPath"), (str(canary),)),))), dangerous),
        "unlisted-module.pkl": (assemble(C(G("distutils.spawn", "spawn"), (argv,))), unknown),
        "torch-dotted-walk.pkl": (assemble(C(G("torch", "serialization.os.system"), (shell,))), unknown),
        "newobj-ex-popen.pkl": (b"\x80\x04" + _expr(G("subprocess", "Popen")) + _expr((argv,)) + b"}\x92.", dangerous),
        # memo trick (picklescan advisory): the strings STACK_GLOBAL consumes come from the memo, and
        # a harmless pair is pushed last for scanners that read "the two previous strings"
        "memo-stack-global.pkl": (b"\x80\x04" + _str("os") + b"\x94" + _str("system") + b"\x94" + b"0" * 2
                                  + _str("collections") + _str("OrderedDict") + b"00" + b"h\x00h\x01\x93"
                                  + _str(shell) + b"\x85R.", dangerous),
        # the module name is stored under a high memo index with LONG_BINPUT and fetched with LONG_BINGET
        "memo-long-binput.pkl": (b"\x80\x04" + _str("posix") + b"r\x00\x10\x00\x00" + b"0" + _str("decoy") + b"0"
                                 + b"j\x00\x10\x00\x00" + _str("system") + b"\x93" + _str(shell) + b"\x85R.",
                                 dangerous),
        # the module name is the result of a call, so no scanner can read it
        "computed-stack-global.pkl": (b"\x80\x04" + _expr(C(G("builtins", "str"), ("os",))) + _str("system")
                                      + b"\x93" + _str(shell) + b"\x85R.",
                                      frozenset({"pickle-unresolved-global"})),
        "inst-p0.pkl": (f"(S'{shell}'\nios\nsystem\n.".encode(), dangerous),
        "obj-p1.pkl": (f"(cos\nsystem\nS'{shell}'\no.".encode(), dangerous),
        "ext-code.pkl": (b"\x80\x02\x82\x42" + _str(shell) + b"\x85R.", frozenset({"pickle-extension-code"})),
        # BUILD gadget: put __setstate__ into an allowlisted object's __dict__, then BUILD calls it
        "build-setstate.pkl": (b"\x80\x04" + _expr(C(G("argparse", "Namespace"))) + b"}" + _str("__setstate__")
                               + _expr(system) + b"sb" + _str(shell) + b"b.",
                               frozenset({"pickle-build-attribute", "pickle-dangerous-global"})),
        "python2-builtin-eval.pkl": (f"c__builtin__\neval\n(S\"{code}\"\ntR.".encode(), dangerous),
        "truncated-payload.pkl": (f"cos\nsystem\n(S'{shell}'\ntR".encode(), dangerous),
        "stacked-second-pickle.pkl": (pickle.dumps({"w": [1.0, 2.0]}, protocol=2) + pickle.dumps(
            Reduce(os_.system, shell), protocol=2), dangerous),
    }
    return t


def _zip(path: Path, members: dict[str, bytes], *, stored: bool = False) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _tar(path: Path, members: dict[str, bytes], mode: str = "w") -> None:
    with tarfile.open(path, mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def _legacy_streams(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of the five pickles at the start of a legacy torch.save file."""
    import pickletools

    spans, pos = [], 0
    f = io.BytesIO(data)
    for _ in range(5):
        for op, _, at in pickletools.genops(f):
            if op.name == "STOP":
                spans.append((pos, at + 1))
                pos = at + 1
                break
        f.seek(pos)
    return spans


def build_malicious(root: Path, canary: Path) -> list[Sample]:
    """Malicious files in ``root``: pickle techniques, carriers (torch, numpy, joblib, archives), other formats."""
    import joblib
    import torch

    root.mkdir(parents=True, exist_ok=True)
    shell, code, argv = _payloads(canary)
    samples: list[Sample] = []

    def add(name: str, kind: str, technique: str, rules: frozenset[str] | set[str], data: bytes | None = None) -> Path:
        path = root / name
        if data is not None:
            path.write_bytes(data)
        samples.append(Sample(path, MALICIOUS, kind, technique, frozenset(rules)))
        return path

    techniques = _pickle_techniques(canary)
    for name, (data, rules) in techniques.items():
        add(name, "pickle", name.rsplit(".", 1)[0], rules, data)
    payload = Reduce(os.system, shell)
    bad = {"pickle-dangerous-global"}

    state = torch.nn.Linear(3, 2).state_dict()
    torch.save({"state_dict": state, "hook": payload}, root / "torch-zip-payload.pt")
    add("torch-zip-payload.pt", "pytorch-zip", "payload in data.pkl of a torch.save zip", bad)
    buf = io.BytesIO()
    torch.save(state, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    _zip(root / "torch-zip-extra-member.pt", {**members, "archive/extra.pkl": techniques["exec-p2.pkl"][0]},
         stored=True)
    add("torch-zip-extra-member.pt", "pytorch-zip", "payload in a second .pkl member of a torch zip", bad)
    torch.save({"state_dict": state, "hook": payload}, root / "torch-legacy-object.pt",
               _use_new_zipfile_serialization=False)
    add("torch-legacy-object.pt", "pytorch-legacy", "payload in the 4th pickle of a legacy torch.save file", bad)
    buf = io.BytesIO()
    torch.save(state, buf, _use_new_zipfile_serialization=False)
    legacy = buf.getvalue()
    (s5, e5) = _legacy_streams(legacy)[4]
    evil_keys = pickle.dumps([Reduce(os.system, shell), *pickle.loads(legacy[s5:e5])], protocol=2)
    add("torch-legacy-storage-keys.pt", "pytorch-legacy", "payload in the storage-keys (5th) pickle", bad,
        legacy[:s5] + evil_keys + legacy[e5:])
    add("polyglot-pickle-zip.pt", "polyglot", "payload pickle followed by a benign torch zip (torch.load reads "
        "the pickle, zip scanners the zip)", bad | {"polyglot"},
        techniques["os-system-p5.pkl"][0] + members_zip_bytes(members))

    np.save(root / "npy-object-payload.npy", np.array([payload, 1], dtype=object), allow_pickle=True)
    add("npy-object-payload.npy", "numpy", "payload in the pickle of a NumPy object array",
        bad | {"numpy-object-array"})
    np.savez(root / "npz-object-payload.npz", weights=np.arange(4.0), meta=np.array([payload], dtype=object))
    add("npz-object-payload.npz", "npz", "object array with a payload inside an npz", bad | {"numpy-object-array"})
    joblib.dump({"coef": np.arange(5.0), "hook": payload}, root / "joblib-payload.joblib")
    add("joblib-payload.joblib", "joblib", "payload next to numpy arrays in a joblib file", bad)
    joblib.dump({"coef": np.arange(5.0), "hook": payload}, root / "joblib-zlib-payload.joblib", compress=3)
    add("joblib-zlib-payload.joblib", "joblib", "payload in a zlib-compressed joblib file", bad)
    add("joblib-array-smuggle.pkl", "joblib", "payload hidden where joblib expects raw array bytes (runs under "
        "plain pickle.load)", bad, _joblib_smuggle(shell))

    inner = techniques["eval-p4.pkl"][0]
    _zip(root / "zip-pickle.zip", {"model/weights.pkl": inner, "README.md": b"weights"})
    add("zip-pickle.zip", "zip", "payload pickle inside a zip", bad)
    inner_zip = io.BytesIO()
    with zipfile.ZipFile(inner_zip, "w") as zf:
        zf.writestr("deep/model.pkl", inner)
    _zip(root / "zip-in-zip.zip", {"bundle.zip": inner_zip.getvalue()})
    add("zip-in-zip.zip", "zip", "payload pickle in a zip inside a zip", bad)
    _tar(root / "tar-pickle.tar", {"storages": inner})
    add("tar-pickle.tar", "tar", "payload pickle inside a tar (the pre-zip torch format)", bad)
    add("gzip-pickle.pkl.gz", "compressed", "gzip-compressed payload pickle", bad, gzip.compress(inner))

    evil = techniques["os-system-p5.pkl"][0]
    for name in ("pickle-as-safetensors.safetensors", "pickle-as-npy.npy", "pickle-as-json.json",
                 "pickle-as-onnx.onnx", "pickle-as-png.png"):
        add(name, "mislabelled", f"payload pickle named {Path(name).suffix}", bad | {"format-mismatch"}, evil)
    (root / "zip-as-safetensors.safetensors").write_bytes((root / "torch-zip-payload.pt").read_bytes())
    add("zip-as-safetensors.safetensors", "mislabelled", "payload torch zip named .safetensors",
        bad | {"format-mismatch"})

    samples += _malicious_other_formats(root)
    return samples


def members_zip_bytes(members: dict[str, bytes]) -> bytes:
    """A stored zip of ``members`` as bytes (the torch zip layout)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _joblib_smuggle(shell: str) -> bytes:
    """A joblib-style pickle whose 'array bytes' are opcodes that run ``shell`` under plain pickle.load."""
    from joblib.numpy_pickle import NumpyArrayWrapper

    smuggled = f"cposix\nsystem\n(S'{shell}'\ntR0".encode()
    wrapper = NumpyArrayWrapper(np.ndarray, (len(smuggled),), "C", np.dtype("u1"), allow_mmap=False,
                                numpy_array_alignment_bytes=None)
    head = pickle.dumps(wrapper, protocol=2)
    assert head.endswith(b"b.")
    return head[:-1] + smuggled + b"."


def _keras_config(layers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": "sequential", "trainable": True, "layers": layers}}


def _dense(units: int, name: str = "dense") -> dict[str, Any]:
    return {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
            "config": {"name": name, "units": units, "activation": "relu", "use_bias": True},
            "build_config": {"input_shape": [None, 4]}}


def _keras_file(path: Path, config: dict[str, Any]) -> None:
    import h5py

    weights = io.BytesIO()
    with h5py.File(weights, "w") as h5:
        h5.create_dataset("layers/dense/vars/0", data=np.ones((4, 4), dtype=np.float32))
    _zip(path, {"metadata.json": json.dumps({"keras_version": "3.15.1", "date_saved": "2026-01-01@00:00:00"}).encode(),
                "config.json": json.dumps(config).encode(), "model.weights.h5": weights.getvalue()})


def _gguf(path: Path, template: str | None = None, tensors: dict[str, np.ndarray] | None = None,
          arch: str = "llama") -> None:
    from gguf import GGUFWriter

    w = GGUFWriter(str(path), arch)
    w.add_block_count(1)
    if template is not None:
        w.add_string("tokenizer.chat_template", template)
    for name, arr in (tensors or {"token_embd.weight": np.ones((8, 4), dtype=np.float32)}).items():
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _onnx(path: Path, op: str = "MatMul", domain: str = "", external: str | None = None, size: int = 4) -> None:
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, size])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, size])
    w = numpy_helper.from_array(np.ones((size, size), dtype=np.float32), "W")
    if external is not None:
        w.ClearField("raw_data")
        w.data_location = TensorProto.EXTERNAL
        w.external_data.add(key="location", value=external)
    node = helper.make_node(op, ["X", "W"], ["Y"], domain=domain)
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(helper.make_graph([node], "g", [x], [y], [w]), opset_imports=opsets)
    path.write_bytes(model.SerializeToString())


def _malicious_other_formats(root: Path) -> list[Sample]:
    samples = []
    lam = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
           "config": {"name": "lambda", "function": {"module": "builtins", "class_name": "function",
                                                     "config": "4wEAAAAAAAAA", "registered_name": "function"}}}
    _keras_file(root / "keras-lambda.keras", _keras_config([_dense(4), lam]))
    samples.append(Sample(root / "keras-lambda.keras", MALICIOUS, "keras", "Keras Lambda layer",
                          frozenset({"keras-lambda"})))
    custom = {"module": "evil_layers", "class_name": "Backdoor", "registered_name": "Custom>Backdoor",
              "config": {"name": "backdoor"}}
    _keras_file(root / "keras-custom-object.keras", _keras_config([_dense(4), custom]))
    samples.append(Sample(root / "keras-custom-object.keras", MALICIOUS, "keras", "Keras custom object from "
                          "outside Keras", frozenset({"keras-custom-object"})))
    import h5py

    with h5py.File(root / "keras-lambda.h5", "w") as h5:
        h5.attrs["model_config"] = json.dumps(_keras_config([_dense(4), lam]))
        h5.attrs["keras_version"] = "2.15.0"
    samples.append(Sample(root / "keras-lambda.h5", MALICIOUS, "hdf5", "Lambda layer in a legacy Keras HDF5",
                          frozenset({"keras-lambda"})))
    hf = root / "hf-remote-code"
    hf.mkdir(exist_ok=True)
    (hf / "config.json").write_text(json.dumps({"model_type": "evil", "auto_map": {
        "AutoModel": "modeling_evil.EvilModel", "AutoConfig": "configuration_evil.EvilConfig"}}))
    (hf / "modeling_evil.py").write_text(f"open({str(root / 'never')!r}, 'w')\n")
    from safetensors.numpy import save_file

    save_file({"w": np.ones(4, dtype=np.float32)}, str(hf / "model.safetensors"))
    samples.append(Sample(hf, MALICIOUS, "hf-folder", "config.json auto_map + modelling .py",
                          frozenset({"hf-remote-code", "python-code"})))
    _gguf(root / "gguf-ssti.gguf", template="{{ ''.__class__.__mro__[1].__subclasses__() }}"
          "{% for m in messages %}{{ m.content }}{% endfor %}")
    samples.append(Sample(root / "gguf-ssti.gguf", MALICIOUS, "gguf", "Jinja chat template reaching Python "
                          "internals (CVE-2024-34359)", frozenset({"gguf-chat-template"})))
    _onnx(root / "onnx-external-traversal.onnx", external="../../../../etc/passwd")
    samples.append(Sample(root / "onnx-external-traversal.onnx", MALICIOUS, "onnx", "external data path "
                          "traversal (CVE-2024-27318)", frozenset({"onnx-external-data"})))
    _zip(root / "zip-slip.zip", {"../../.bashrc": b"touch canary\n", "weights.txt": b"1"})
    samples.append(Sample(root / "zip-slip.zip", MALICIOUS, "zip", "member name with '..' (zip slip)",
                          frozenset({"archive-path-traversal"})))
    with tarfile.open(root / "tar-symlink.tar", "w") as tf:
        link = tarfile.TarInfo("model.bin")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    samples.append(Sample(root / "tar-symlink.tar", MALICIOUS, "tar", "symlink member pointing outside",
                          frozenset({"archive-link"})))
    return samples


# --- benign ------------------------------------------------------------------------------------------


def build_benign(root: Path) -> list[Sample]:
    """At least ten benign files of every kind, written by the real libraries."""
    import joblib
    import torch
    from safetensors.torch import save_file

    root.mkdir(parents=True, exist_ok=True)
    samples: list[Sample] = []
    gen = torch.Generator().manual_seed(0)

    def add(kind: str, name: str, technique: str, write: Callable[[Path], Any]) -> None:
        path = root / name
        write(path)
        samples.append(Sample(path, BENIGN, kind, technique))

    def states() -> list[tuple[str, Any]]:
        lin = torch.nn.Linear(4, 3)
        conv = torch.nn.Conv2d(1, 2, 3)
        opt = torch.optim.Adam(lin.parameters())
        lin(torch.ones(1, 4)).sum().backward()
        opt.step()
        return [
            ("linear", lin.state_dict()), ("conv", conv.state_dict()), ("optimizer", opt.state_dict()),
            ("half", {"w": torch.randn(3, 3, generator=gen).half(), "b": torch.ones(3, dtype=torch.bfloat16)}),
            ("parameter", {"p": torch.nn.Parameter(torch.ones(2))}),
            ("checkpoint", {"model": lin.state_dict(), "epoch": 3, "config": {"lr": 0.1, "name": "run"}}),
            ("ints", {"idx": torch.arange(10), "mask": torch.ones(4, dtype=torch.bool)}),
            ("empty", {}), ("list", [torch.zeros(2), torch.ones(3)]),
            ("mlp", torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1)).state_dict()),
        ]

    for name, obj in states():
        add("pytorch-zip", f"torch-{name}.pt", f"torch.save zip of {name}", lambda p, obj=obj: torch.save(obj, p))
        add("pytorch-legacy", f"torch-legacy-{name}.pth", f"legacy torch.save of {name}",
            lambda p, obj=obj: torch.save(obj, p, _use_new_zipfile_serialization=False))
    plain = [
        ({"a": 1, "b": [1.5, "x", None, True]}, 0), (collections.OrderedDict(a=1, b=(1, 2)), 1),
        ({"arr": np.arange(6.0).reshape(2, 3), "f": np.float32(2.5)}, 2), ([b"bytes", bytearray(b"ba"), 3j], 3),
        ({"set": {1, 2}, "frozen": frozenset({3}), "big": 10**40}, 4), (collections.Counter("hello"), 5),
        ({"when": datetime.datetime(2024, 1, 2, 3, 4, 5), "delta": datetime.timedelta(days=2)}, 4),
        (argparse.Namespace(lr=0.1, epochs=3), 2), ({"s": np.array(["ab", "cd"]), "i": np.int64(7)}, 5),
        ({"nested": {"deep": [{"k": i} for i in range(20)]}, "slice": slice(1, 5)}, 2),
    ]
    for i, (obj, proto) in enumerate(plain):
        add("pickle", f"data-{i}-p{proto}.pkl", f"plain data, protocol {proto}",
            lambda p, obj=obj, proto=proto: p.write_bytes(pickle.dumps(obj, protocol=proto)))

    arrays = [np.arange(12, dtype=np.float32).reshape(3, 4), np.zeros((2, 2), dtype=np.int8), np.array(3.5),
              np.ones((0, 4)), np.asfortranarray(np.arange(6.0).reshape(2, 3)), np.array([True, False]),
              np.array(["alpha", "beta"]), np.zeros(3, dtype=[("x", "<i4"), ("y", "<f8")]),
              np.arange(4, dtype=">u2"), np.array([1 + 2j, 3j], dtype=np.complex64)]
    for i, arr in enumerate(arrays):
        add("numpy", f"array-{i}.npy", f"npy {arr.dtype} {arr.shape}", lambda p, arr=arr: np.save(p, arr))
    add("numpy", "array-v2.npy", "npy format version 2.0", lambda p: _npy_v2(p, np.arange(5.0)))
    add("numpy", "object-plain.npy", "object array of plain dicts (allowlisted pickle)",
        lambda p: np.save(p, np.array([{"a": 1}, None], dtype=object), allow_pickle=True))
    for i in range(10):
        data = {f"a{j}": arrays[(i + j) % len(arrays)] for j in range(1 + i % 3)}
        saver = np.savez_compressed if i % 2 else np.savez
        add("npz", f"arrays-{i}.npz", f"{saver.__name__} of {len(data)} arrays", lambda p, d=data, s=saver: s(p, **d))
    compress = [0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3), 0, 9, 0, ("zlib", 1)]
    for i, comp in enumerate(compress):
        obj = {"coef": np.arange(10.0 + i), "ints": np.arange(i + 1), "meta": {"i": i, "name": "model"},
               "list": [np.ones(2), 1.5]}
        add("joblib", f"model-{i}.joblib", f"joblib.dump compress={comp}",
            lambda p, obj=obj, comp=comp: joblib.dump(obj, p, compress=comp))
    tensors = [{"w": torch.randn(4, 4, generator=gen)}, {"w": torch.ones(3, dtype=torch.bfloat16)},
               {"a": torch.zeros(0), "b": torch.ones(2, 2, dtype=torch.float16)}, {},
               {"i": torch.arange(5), "m": torch.ones(3, dtype=torch.bool)},
               {"u8": torch.arange(8, dtype=torch.uint8)}, {"f64": torch.ones(2, dtype=torch.float64)},
               {"fp8": torch.ones(4).to(torch.float8_e4m3fn)}, {f"layer{i}.w": torch.ones(i + 1) for i in range(20)},
               {"big": torch.zeros(256, 256)}]
    for i, t in enumerate(tensors):
        add("safetensors", f"weights-{i}.safetensors", f"safetensors with {len(t)} tensors",
            lambda p, t=t, i=i: save_file(t, str(p), metadata={"format": "pt"} if i % 2 else None))
    for i in range(10):
        members = {"config.json": json.dumps({"hidden": i}).encode(), "notes.txt": b"benign weights\n"}
        if i % 2:
            members["data.npy"] = _npy_bytes(np.arange(i + 1.0))
        if i % 3 == 0:
            members["model.safetensors"] = (root / f"weights-{i}.safetensors").read_bytes()
        add("zip", f"bundle-{i}.zip", "plain zip of configs and weights", lambda p, m=members: _zip(p, m))
    nested_writers: list[tuple[str, Callable[[Path], Any]]] = [
        ("zip-in-zip.zip", lambda p: _zip(p, {"inner.zip": (root / "bundle-0.zip").read_bytes()})),
        ("weights.tar", lambda p: _tar(p, {"model.safetensors": (root / "weights-0.safetensors").read_bytes()})),
        ("weights.tar.gz", lambda p: _tar(p, {"model.npy": (root / "array-0.npy").read_bytes()}, "w:gz")),
        ("weights.tar.bz2", lambda p: _tar(p, {"model.pt": (root / "torch-linear.pt").read_bytes()}, "w:bz2")),
        ("weights.tar.xz", lambda p: _tar(p, {"data.pkl": (root / "data-0-p0.pkl").read_bytes()}, "w:xz")),
        ("checkpoint.pt.gz", lambda p: p.write_bytes(gzip.compress((root / "torch-conv.pt").read_bytes()))),
        ("tar-in-zip.zip", lambda p: _zip(p, {"w.tar": (root / "weights.tar").read_bytes()})),
        ("npz-in-tar.tar", lambda p: _tar(p, {"a.npz": (root / "arrays-0.npz").read_bytes()})),
        ("zip-in-tar.tar.gz", lambda p: _tar(p, {"b.zip": (root / "bundle-1.zip").read_bytes()}, "w:gz")),
        ("joblib-in-zip.zip", lambda p: _zip(p, {"m.joblib": (root / "model-1.joblib").read_bytes()})),
    ]
    for name, write in nested_writers:
        add("nested-archive", name, "archive inside an archive", write)
    for i in range(10):
        template = None if i % 2 else ("{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}"
                                       "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")
        tensors_np = {"token_embd.weight": np.ones((8 + i, 4), dtype=np.float32),
                      "output_norm.weight": np.ones(4, dtype=np.float16)}
        add("gguf", f"model-{i}.gguf", "GGUFWriter model", lambda p, t=template, tn=tensors_np: _gguf(p, t, tn))
    ops = ["MatMul", "Add", "Sub", "Mul", "Max", "Min", "Sum", "Mean", "MatMul", "Add"]
    for i, op in enumerate(ops):
        ext = "weights.bin" if i == 8 else None
        add("onnx", f"model-{i}.onnx", f"ONNX graph with {op}" + (" and external data" if ext else ""),
            lambda p, op=op, ext=ext, i=i: _onnx(p, op, external=ext, size=2 + i))
    for i in range(10):
        config = _keras_config([_dense(4 + j, f"dense_{j}") for j in range(1 + i % 3)])
        add("keras", f"model-{i}.keras", "Keras 3 archive of Dense layers", lambda p, c=config: _keras_file(p, c))
    for i in range(10):
        add("hdf5", f"model-{i}.h5", "legacy Keras HDF5 / plain HDF5", lambda p, i=i: _h5(p, i))
    for i in range(10):
        folder = root / f"hf-model-{i}"
        _hf_folder(folder, i)
        samples.append(Sample(folder, BENIGN, "hf-folder", "Hugging Face model folder"))
    return samples


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _npy_v2(path: Path, arr: np.ndarray) -> None:
    from numpy.lib import format as npformat

    with path.open("wb") as f:
        npformat.write_array(f, arr, version=(2, 0))


def _h5(path: Path, i: int) -> None:
    import h5py

    with h5py.File(path, "w") as h5:
        h5.create_dataset("weights", data=np.arange(i + 4.0))
        if i % 2 == 0:
            h5.attrs["model_config"] = json.dumps(_keras_config([_dense(4)]))
            h5.attrs["keras_version"] = "2.15.0"


def _hf_folder(folder: Path, i: int) -> None:
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 8 * (i + 1),
                                                    "architectures": ["BertModel"]}))
    (folder / "generation_config.json").write_text(json.dumps({"max_length": 20}))
    (folder / "tokenizer.json").write_text(json.dumps({"version": "1.0", "model": {"vocab": {"a": 0, "b": 1}}}))
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\na\nb\n")
    (folder / "README.md").write_text(f"# model {i}\n")
    (folder / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    save_file({"embeddings.weight": np.ones((2, 8 * (i + 1)), dtype=np.float32)}, str(folder / "model.safetensors"))
    if i % 3 == 0:
        unet = folder / "unet"
        unet.mkdir(exist_ok=True)
        (unet / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel", "sample_size": 8}))
        (folder / "model_index.json").write_text(json.dumps({"_class_name": "DDPMPipeline", "_diffusers_version":
                                                             "0.42.0", "unet": ["diffusers", "UNet2DModel"],
                                                             "scheduler": ["diffusers", "DDPMScheduler"]}))


# --- malformed ----------------------------------------------------------------------------------------


def build_malformed(root: Path, benign: Path) -> list[Sample]:
    """Truncated files, lying headers, empty and random files, bombs (``benign`` holds the originals)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    samples: list[Sample] = []
    bad = frozenset({"malformed-file"})

    def add(name: str, data: bytes, technique: str, rules: frozenset[str] = bad) -> None:
        (root / name).write_bytes(data)
        samples.append(Sample(root / name, MALFORMED, Path(name).suffix.lstrip(".") or "none", technique, rules))

    st = (benign / "weights-0.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", st[:8])
    add("truncated.safetensors", st[:-10], "safetensors cut short")
    add("lying-length.safetensors", struct.pack("<Q", len(st) * 4) + st[8:], "header length past the end")
    header = json.loads(st[8:8 + n])
    header["w"]["data_offsets"] = [0, 1 << 40]
    fake = json.dumps(header).encode()
    add("lying-offsets.safetensors", struct.pack("<Q", len(fake)) + fake + st[8 + n:], "offsets past the end")
    two = (benign / "weights-2.safetensors").read_bytes()
    (n2,) = struct.unpack("<Q", two[:8])
    h2 = json.loads(two[8:8 + n2])
    h2["a"]["data_offsets"], h2["b"]["data_offsets"] = [0, 0], [0, 8]
    h2["b"]["shape"], h2["b"]["dtype"] = [2, 2], "F16"
    overlap = dict(h2, c={"dtype": "F32", "shape": [1], "data_offsets": [4, 8]})
    raw = json.dumps(overlap).encode()
    add("overlapping.safetensors", struct.pack("<Q", len(raw)) + raw + b"\0" * 8, "two tensors share bytes")
    add("trailing.safetensors", st + b"\0" * 16, "bytes after the last tensor")
    add("lfs-pointer.safetensors", b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n",
        "Git LFS pointer instead of the file")
    add("empty.pt", b"", "empty file")
    add("empty.safetensors", b"", "empty file")
    add("random.pt", rng.bytes(4096), "random bytes")
    add("random.npy", rng.bytes(512), "random bytes")
    add("truncated.pkl", (benign / "data-2-p2.pkl").read_bytes()[:-20], "benign pickle cut short")
    add("truncated.pt", (benign / "torch-linear.pt").read_bytes()[:600], "torch zip cut short")
    arr = (benign / "array-0.npy").read_bytes()
    add("truncated.npy", arr[:-8], "npy data cut short")
    add("lying-shape.npy", arr.replace(b"(3, 4)", b"(9, 9)"), "npy header shape larger than the data")
    add("corrupt.gguf", (benign / "model-0.gguf").read_bytes()[:40], "gguf cut inside the metadata")
    add("lying-count.gguf", b"GGUF" + struct.pack("<IQQ", 3, 1 << 40, 1), "gguf tensor count past the file")
    add("truncated.onnx", (benign / "model-0.onnx").read_bytes()[:-7], "onnx protobuf cut short")
    add("corrupt.h5", (benign / "model-0.h5").read_bytes()[:300], "HDF5 cut short")
    add("corrupt-config.json", b'{"model_type": "bert", "hidden_size": ', "config.json cut short")
    add("declared-bomb.zip", _declared_bomb(), "zip member declaring 4 GB from a few bytes",
        frozenset({"archive-bomb"}))
    add("overlap-bomb.zip", _overlap_bomb(), "zip entries sharing one compressed stream",
        frozenset({"archive-bomb"}))
    add("gzip-bomb.pkl.gz", _gzip_bomb(80 << 20), "80 MB of zeros in a 80 kB gzip", frozenset({"archive-bomb"}))
    return samples


def _declared_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("weights.bin", b"\0" * 1024)
    data = bytearray(buf.getvalue())
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = struct.pack("<I", 0xFFFFFFF0)  # uncompressed size in the central directory
    data[22:26] = struct.pack("<I", 0xFFFFFFF0)  # and in the local header
    return bytes(data)


def _overlap_bomb() -> bytes:
    """Ten central-directory entries pointing at the same local file (the data is read ten times)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("kernel", b"\0" * 100_000)
    data = buf.getvalue()
    cd = data.rfind(b"PK\x01\x02")
    eocd = data.rfind(b"PK\x05\x06")
    entry = data[cd:eocd]
    entries = b"".join(entry.replace(b"kernel", f"kern{i:02d}".encode()) for i in range(10))
    end = bytearray(data[eocd:])
    end[8:12] = struct.pack("<HH", 10, 10)
    end[12:16] = struct.pack("<I", len(entries))
    return data[:cd] + entries + bytes(end)


def _gzip_bomb(size: int) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        chunk = b"\0" * (1 << 20)
        for _ in range(size >> 20):
            gz.write(chunk)
    return out.getvalue()


def build_corpus(root: Path) -> tuple[list[Sample], Path]:
    """Build the whole corpus under ``root``; returns (samples, canary path)."""
    canary = root / "CANARY"
    benign = build_benign(root / BENIGN)
    malicious = build_malicious(root / MALICIOUS, canary)
    malformed = build_malformed(root / MALFORMED, root / BENIGN)
    return malicious + benign + malformed, canary
