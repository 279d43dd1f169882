"""Which imports a pickle may make: the allowlist, and the names known to run code.

A pickle calls whatever its ``GLOBAL``/``STACK_GLOBAL``/``INST`` opcodes import. Denylist scanners
(picklescan, modelscan) look for known-bad names and are bypassed whenever someone finds a new one
(``pkgutil.resolve_name``, ``timeit.timeit``, ``pydoc.pipepager`` …). trustgen decides the other
way round, like PyTorch's ``torch.load(weights_only=True)``: only the reconstructors that ordinary
checkpoints need are allowed (``ALLOWED_GLOBALS``); every other import is a finding.
``DANGEROUS_MODULES``/``DANGEROUS_NAMES`` only raise the severity of a finding to *critical* so that
the report says plainly when a name is known to run code; they never make anything pass.

The torch names are the ones ``torch._weights_only_unpickler._get_allowed_globals()`` returns in
torch 2.13 (dtypes, storages, tensor classes, ``torch._utils._rebuild_*``); numpy's array
reconstruction, joblib's array wrapper and a few plain containers are added. Names are compared
exactly as ``module.name`` after Python 2 names are mapped (``__builtin__`` → ``builtins``), so a
dotted path that walks out of an allowed module (``torch`` + ``serialization.os.system``) is not
allowed.
"""

from __future__ import annotations


def _words(text: str) -> list[str]:
    return text.split()


_TORCH_DTYPES = _words(
    "bfloat16 bits16 bits1x8 bits2x4 bits4x2 bits8 bool complex128 complex32 complex64 float16 float32 "
    "float4_e2m1fn_x2 float64 float8_e4m3fn float8_e4m3fnuz float8_e5m2 float8_e5m2fnuz float8_e8m0fnu "
    "int1 int16 int2 int3 int32 int4 int5 int6 int64 int7 int8 qint32 qint8 quint2x4 quint4x2 quint8 "
    "uint1 uint16 uint2 uint3 uint32 uint4 uint5 uint6 uint64 uint7 uint8 "
    "per_channel_affine per_channel_affine_float_qparams per_channel_symmetric per_tensor_affine "
    "per_tensor_symmetric"
)
_TORCH_STORAGES = _words(
    "BFloat16 Bool Byte Char ComplexDouble ComplexFloat Double Float Half Int Long QInt32 QInt8 QUInt2x4 "
    "QUInt4x2 QUInt8 Short"
)
_TORCH_TENSORS = _words("BFloat16 Bool Byte Char Double Float Half Int Long Short")
_TORCH_REBUILD = _words(
    "_rebuild_device_tensor_from_cpu_tensor _rebuild_device_tensor_from_numpy _rebuild_meta_tensor_no_storage "
    "_rebuild_nested_tensor _rebuild_parameter _rebuild_parameter_with_state _rebuild_qtensor "
    "_rebuild_sparse_tensor _rebuild_tensor _rebuild_tensor_v2 _rebuild_tensor_v3 _rebuild_wrapper_subclass"
)


def _torch_globals() -> set[str]:
    names = {f"torch.{d}" for d in _TORCH_DTYPES}
    names |= {f"torch.{s}Storage" for s in _TORCH_STORAGES}
    names |= {f"torch.cuda.{s}Storage" for s in _TORCH_STORAGES if not s.startswith("Q")}
    for prefix in ("torch", "torch.cuda", "torch.sparse", "torch.cuda.sparse"):
        names |= {f"{prefix}.{t}Tensor" for t in _TORCH_TENSORS if not (prefix.endswith("sparse") and t == "Bool")}
    names |= {f"torch._utils.{f}" for f in _TORCH_REBUILD}
    names |= {
        "torch.Size", "torch.Tensor", "torch.device", "torch.nn.parameter.Parameter",
        "torch.serialization._get_layout", "torch._tensor._rebuild_from_type_v2",
        "torch.storage.TypedStorage", "torch.storage.UntypedStorage",
    }
    return names


_HARMLESS_BUILTINS = _words(
    "set frozenset bytearray bytes complex slice range bool int float str tuple list dict Ellipsis NotImplemented"
)
"""Builtin types that only build a value from data (a ``range(...)``, a ``slice``, a ``set`` under protocol < 4).
``eval``/``exec``/``compile``/``getattr``/``__import__``/``open``/``type``/``object`` … are never allowed."""

_TORCHSCRIPT_HELPERS = _words(
    "build_intlist build_tensorlist build_doublelist build_boollist build_tensor_from_id restore_type_tag"
)
"""``torch.jit._pickle``: the list and type-tag helpers TorchScript's pickles (``data.pkl``, ``constants.pkl``,
``code/**/*.debug_pkl``) call; in Python each returns its argument (or an int / None)."""

_NUMPY = {
    f"numpy.{core}.{name}"
    for core in ("core", "_core")
    for name in ("multiarray._reconstruct", "multiarray.scalar", "numeric._frombuffer")
} | {"numpy.ndarray", "numpy.dtype"}

ALLOWED_GLOBALS: frozenset[str] = frozenset(
    _torch_globals()
    | _NUMPY
    | {
        "collections.OrderedDict", "collections.Counter", "collections.defaultdict", "collections.deque",
        *(f"builtins.{n}" for n in _HARMLESS_BUILTINS),
        "_codecs.encode",
        "datetime.date", "datetime.time", "datetime.datetime", "datetime.timedelta", "datetime.timezone",
        "argparse.Namespace",
        "joblib.numpy_pickle.NumpyArrayWrapper",
        *(f"torch.jit._pickle.{n}" for n in _TORCHSCRIPT_HELPERS),
    }
)
"""``module.name`` strings a checkpoint may import; nothing here runs code or returns a callable."""

DANGEROUS_MODULES: frozenset[str] = frozenset(_words(
    "os posix nt subprocess _posixsubprocess pty runpy importlib pickle _pickle dill cloudpickle marshal types "
    "socket shutil sys ctypes webbrowser code codeop pdb bdb timeit cProfile profile trace pydoc ensurepip pip "
    "pkgutil asyncio multiprocessing signal http urllib requests httplib ftplib smtplib telnetlib tempfile io "
    "_io pathlib glob zipimport imp linecache operator functools doctest venv"
))
"""Top-level modules whose members run code, touch files or the network, or call what they are given."""

DANGEROUS_NAMES: frozenset[str] = frozenset(
    {f"builtins.{n}" for n in _words("eval exec compile open __import__ getattr setattr delattr globals "
                                       "locals vars input breakpoint help exit quit memoryview")}
    | {"torch.load", "torch.hub.load", "torch.jit.load", "torch.serialization.load",
       "torch.storage._load_from_bytes", "torch._C._jit_script_compile",
       "numpy.load", "numpy.testing._private.utils.runstring", "copyreg._reconstructor", "nt.system"}
)
"""Exact names (outside ``DANGEROUS_MODULES``) known to run code or load another pickle."""


TORCHSCRIPT_CLASS_ROOT = "__torch__"
"""TorchScript's classes (``__torch__.MyModule``, ``__torch__.torch.nn.modules.linear.Linear``): inside a
TorchScript archive its unpickler builds them from the archive's ``code/`` (reported as ``torchscript-code``);
Python's ``pickle`` cannot import them (there is no ``__torch__`` module)."""


def is_allowed(qualname: str, extra: frozenset[str] = frozenset(), roots: frozenset[str] = frozenset()) -> bool:
    """True if ``module.name`` is on the allowlist, in ``extra`` (the user's additions), or its module is one of
    ``roots`` or inside it (``roots={"__torch__"}`` for the pickles of a TorchScript archive)."""
    if qualname in ALLOWED_GLOBALS or qualname in extra:
        return True
    return bool(roots) and any(qualname.startswith(f"{root}.") for root in roots)


def is_dangerous(module: str, name: str) -> bool:
    """True if the import is known to run code (a finding's severity becomes critical)."""
    return module.split(".")[0] in DANGEROUS_MODULES or f"{module}.{name}" in DANGEROUS_NAMES
