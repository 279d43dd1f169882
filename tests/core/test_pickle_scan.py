"""The static pickle machine: what it resolves matches what pickle itself would import; it never crashes."""

from __future__ import annotations

import collections
import datetime
import io
import pickle
import pickletools
import random

import numpy as np
import pytest

from trustgen.core.pickle_allowlist import ALLOWED_GLOBALS, is_allowed, is_dangerous
from trustgen.core.pickle_scan import MALFORMED, analyse_pickle_bytes
from trustgen.core.pickle_scan.opcodes import TABLE

BENIGN = [
    {"a": 1, "b": [1.5, "x", None, True, b"raw"]},
    collections.OrderedDict(a=(1, 2), b={"c": frozenset({1})}),
    {"arr": np.arange(6.0).reshape(2, 3), "f": np.float32(2.5), "s": np.array(["ab", "c"])},
    [bytearray(b"x"), 3 + 4j, 10**50, -(10**50), slice(1, 9, 2), {1, 2, 3}],
    collections.Counter("mississippi"),
    {"t": datetime.datetime(2024, 5, 6, 7, 8, 9), "d": datetime.date(2020, 1, 1)},
    [[{"shared": "x"}] * 3] * 2,  # the memo: one object referenced many times
    {"r": range(2, 9, 3), "e": ..., "n": NotImplemented, "types": [int, float, str, bool, bytes, list, dict, tuple]},
    {"dd": collections.defaultdict(list, a=[1]), "q": collections.deque([1, 2], maxlen=4), "fs": frozenset({2})},
]


class _Recorder(pickle.Unpickler):
    """The reference: pickle's own loader, recording each find_class (run on benign data only)."""

    def __init__(self, data: bytes):
        super().__init__(io.BytesIO(data))
        self.found: set[str] = set()

    def find_class(self, module: str, name: str):
        obj = super().find_class(module, name)
        if module == "__builtin__":  # Python 2 names (xrange, unicode) as pickle maps them
            module, name = getattr(obj, "__module__", "builtins"), getattr(obj, "__name__", name)
        self.found.add(f"{module}.{name}")
        return obj


@pytest.mark.parametrize("protocol", range(6))
@pytest.mark.parametrize("index", range(len(BENIGN)))
def test_imports_match_what_pickle_itself_imports(protocol, index):
    data = pickle.dumps(BENIGN[index], protocol=protocol)
    analysis = analyse_pickle_bytes(data)
    assert analysis.issues == [] and analysis.streams == 1
    recorder = _Recorder(data)
    recorder.load()
    assert set(analysis.imports) == recorder.found
    assert all(analysis.imports.values())


def test_every_opcode_has_a_reader_and_handler():
    assert sum(entry is not None for entry in TABLE) == len(pickletools.opcodes) == 68


def test_allowlist_holds_no_known_dangerous_name():
    assert [q for q in ALLOWED_GLOBALS if is_dangerous(*q.rsplit(".", 1))] == []


def test_code_running_builtins_are_never_allowed():
    for name in ("eval", "exec", "compile", "getattr", "setattr", "__import__", "open", "globals", "vars", "input",
                 "breakpoint", "type", "object", "print", "map", "filter"):
        assert not is_allowed(f"builtins.{name}"), name
    for name in ("eval", "exec", "getattr", "__import__", "open"):
        data = b"\x80\x02cbuiltins\n" + name.encode() + b"\n."
        assert [(i.rule, i.callable) for i in analyse_pickle_bytes(data).issues] == [
            ("pickle-dangerous-global", f"builtins.{name}")]
    # a TorchScript class root allows only names under it, and only when asked for
    assert is_allowed("__torch__.M", roots=frozenset({"__torch__"})) and not is_allowed("__torch__.M")
    assert not is_allowed("__torch__x.M", roots=frozenset({"__torch__"}))
    assert not is_allowed("os.system", roots=frozenset({"__torch__"}))


def test_python2_names_and_dotted_paths():
    py2 = analyse_pickle_bytes(b"c__builtin__\nset\n(]tR.")
    assert py2.issues == [] and py2.imports == {"builtins.set": True}
    walk = analyse_pickle_bytes(b"\x80\x04\x8c\x05torch\x8c\x17serialization.os.system\x93.")
    assert [(i.rule, i.callable) for i in walk.issues] == [("pickle-unknown-global", "torch.serialization.os.system")]


def test_stacked_and_trailing_streams():
    clean = pickle.dumps([1, 2])
    assert analyse_pickle_bytes(clean + clean).streams == 2
    trailing = analyse_pickle_bytes(clean + b"\x00\x01garbage")
    assert [i.rule for i in trailing.issues] == ["pickle-trailing-data"]


def test_never_crashes_on_truncated_or_random_bytes():
    data = pickle.dumps(BENIGN[2], protocol=2) + pickle.dumps(BENIGN[3], protocol=5)
    for cut in range(len(data)):
        analysis = analyse_pickle_bytes(data[:cut])
        assert analysis.issues or cut == len(pickle.dumps(BENIGN[2], protocol=2))
    rng = random.Random(0)
    for _ in range(300):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        analyse_pickle_bytes(blob)  # findings or malformed, never an exception
    lying = b"\x80\x04\x8e" + (1 << 62).to_bytes(8, "little") + b"."
    assert [i.rule for i in analyse_pickle_bytes(lying).issues] == [MALFORMED]


def test_big_constants_are_skipped_unless_they_hold_a_pickle():
    payload = b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x01x\x85R."
    big_nested = payload + b"\x00" * (2 << 20)  # trailing bytes: pickle.loads reads up to STOP
    analysis = analyse_pickle_bytes(pickle.dumps({"blob": big_nested}, protocol=4))
    assert [i.callable for i in analysis.issues] == ["os.system"]
    tensor_bytes = np.random.default_rng(0).bytes(3 << 20)
    assert analyse_pickle_bytes(pickle.dumps({"w": tensor_bytes}, protocol=4)).issues == []
