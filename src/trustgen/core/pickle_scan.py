"""Static pickle analysis: every import and call a pickle would make, found without running it.

The opcodes are read one by one (argument formats from :mod:`pickletools`) and a symbolic pickle
machine keeps the stack, the mark stack and the memo, so that the strings ``STACK_GLOBAL`` consumes
are known even when they were fetched from the memo, duplicated or stored under another index, and
so that every ``REDUCE``/``NEWOBJ``/``OBJ``/``INST``/``BUILD`` knows what it calls. Each import is
compared with :data:`~trustgen.core.pickle_allowlist.ALLOWED_GLOBALS`; anything else is an issue
that names the callable and the byte offset of the opcode. Nothing from the data is imported,
evaluated or unpickled.

Shared by ``trustgen audit`` (:mod:`trustgen.audit`) and by :func:`trustgen.core.safe_io.load_state_dict`,
which runs it before ``torch.load`` ever sees a pickle.

Streams this follows the way their loaders do:

* a file may hold several pickles one after another (a loop of ``pickle.load`` runs them all); each
  is analysed, and bytes that do not parse are reported as trailing data;
* legacy ``torch.save`` files are five pickles (magic number, protocol, system info, the object,
  the storage keys) followed by raw storage bytes;
* joblib writes the bytes of each numpy array right after its ``NumpyArrayWrapper`` (object arrays
  as a nested pickle): the machine skips or analyses them as joblib does, and a second pass reads
  the same bytes as plain ``pickle.load`` would, so that a file cannot be clean for one loader and
  malicious for the other;
* a bytes or str constant that is itself a pickle (the argument of a nested ``pickle.loads``) is
  analysed as well.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickletools
import re
import reprlib
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any, cast

from trustgen.core.pickle_allowlist import is_allowed, is_dangerous

CRITICAL, HIGH, MEDIUM, LOW = "critical", "high", "medium", "low"
MALFORMED = "malformed-file"

PICKLE_RULES: dict[str, tuple[str, str]] = {
    "pickle-dangerous-global": (CRITICAL, "The pickle imports a callable known to run code, touch files or the "
                                          "network, or load another pickle."),
    "pickle-unknown-global": (HIGH, "The pickle imports a callable outside the allowlist of checkpoint "
                                    "reconstructors; loading it would import and possibly call it."),
    "pickle-unresolved-global": (HIGH, "STACK_GLOBAL imports a name that is computed while loading, so it "
                                       "cannot be checked."),
    "pickle-indirect-call": (HIGH, "The pickle calls a value that is not an imported allowlisted callable "
                                   "(e.g. the result of another call)."),
    "pickle-extension-code": (HIGH, "EXT1/EXT2/EXT4 import whatever the loading process registered in "
                                    "copyreg's extension registry; it cannot be checked."),
    "pickle-build-attribute": (CRITICAL, "BUILD sets a dunder attribute (e.g. __setstate__) or changes an "
                                         "imported class or function: a known gadget to run code."),
    "pickle-unanalysed-data": (MEDIUM, "Part of the pickle (a huge constant that looks like a nested pickle) "
                                       "was not analysed."),
    "pickle-trailing-data": (LOW, "Bytes after the last pickle that no pickle loader reads as a pickle."),
}

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
"""The first pickle of a legacy (pre-zip) ``torch.save`` file holds this number."""

BIG_CONSTANT = 1 << 20
"""Bytes/str constants larger than this are skipped (not read) unless they start like a binary pickle."""

INLINE_LIMIT = 64 << 20
"""Constants larger than this are never read into memory."""

MAX_LINE = 64 << 20
MAX_NESTED_DEPTH = 4
MAX_STREAMS = 1000
_JOBLIB_WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"
_LENGTH_PREFIXED: dict[str, tuple[str, str | None]] = {
    # opcode name: (struct format of the length, text encoding or None for bytes)
    "BINSTRING": ("<i", "latin-1"), "SHORT_BINSTRING": ("<B", "latin-1"),
    "BINBYTES": ("<I", None), "SHORT_BINBYTES": ("<B", None), "BINBYTES8": ("<Q", None), "BYTEARRAY8": ("<Q", None),
    "BINUNICODE": ("<I", "utf-8"), "SHORT_BINUNICODE": ("<B", "utf-8"), "BINUNICODE8": ("<Q", "utf-8"),
}
_PICKLE_START = re.compile(rb"\x80[\x00-\x05]|[(cI\]}lSVdNKJ)]")
_BINARY_PICKLE_START = re.compile(rb"\x80[\x02-\x05]")


@dataclass(frozen=True)
class PickleIssue:
    """One thing found in a pickle: a rule id, its severity, a sentence, and the byte offset."""

    rule: str
    severity: str
    detail: str
    offset: int | None = None
    callable: str | None = None


@dataclass
class PickleAnalysis:
    """What :func:`analyse_pickle` found in one stream of pickles."""

    kind: str = "pickle"  # "pickle", "pytorch-legacy" or "joblib"
    streams: int = 0
    imports: dict[str, bool] = field(default_factory=dict)  # module.name -> allowed
    issues: list[PickleIssue] = field(default_factory=list)
    end: int = 0  # bytes consumed

    @property
    def unsafe(self) -> list[PickleIssue]:
        """The issues that make the file unsafe to unpickle (severity medium and above, malformed excluded)."""
        return [i for i in self.issues if i.severity != LOW and i.rule != MALFORMED]


class PickleError(Exception):
    """The stream is not a well-formed pickle (truncated, unknown opcode, empty stack …)."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


# --- symbolic values -------------------------------------------------------------------------


@dataclass(eq=False)
class _Global:
    module: str
    name: str
    offset: int

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(eq=False)
class _Unresolved:
    offset: int


@dataclass(eq=False)
class _Call:
    func: Any
    args: Any
    offset: int
    state: Any = None


@dataclass(eq=False)
class _Dict:
    items: list[tuple[Any, Any]] = field(default_factory=list)

    def get(self, key: str) -> Any:
        return next((v for k, v in reversed(self.items) if k == key), None)


@dataclass(eq=False)
class _Set:
    items: list[Any] = field(default_factory=list)


@dataclass(eq=False)
class _Opaque:
    what: str


def describe(value: Any, limit: int = 60) -> str:
    """A short human description of a symbolic value, for messages."""
    if isinstance(value, _Global):
        return value.qualname
    if isinstance(value, _Call):
        inner = value.func
        while isinstance(inner, _Call):  # a chain of calls, described by its innermost callable
            inner = inner.func
        return f"the result of {describe(inner)}(…)"
    if isinstance(value, _Unresolved):
        return f"the computed import at byte {value.offset}"
    if isinstance(value, _Opaque):
        return value.what
    text = reprlib.repr(value)  # bounded in depth and length, whatever the pickle built
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- reading ---------------------------------------------------------------------------------


class _Reader:
    """A buffered forward-only reader that knows its absolute position and refuses reads past the end."""

    CHUNK = 1 << 20

    def __init__(self, f: IO[bytes], end: int | None, base: int = 0):
        """Read ``f``; its first byte is at offset ``base`` and its end at offset ``end`` (if known)."""
        self._f = f
        self.size = end
        self.buf = b""
        self.i = 0
        self.start = base  # absolute offset of buf[0]

    @property
    def pos(self) -> int:
        return self.start + self.i

    def remaining(self) -> int | None:
        return None if self.size is None else self.size - self.pos

    def at_end(self) -> bool:
        if self.i < len(self.buf):
            return False
        left = self.remaining()
        return left is not None and left <= 0

    def read(self, n: int) -> bytes:
        i = self.i
        j = i + n
        if j <= len(self.buf):
            self.i = j
            return self.buf[i:j]
        return self._read_more(n)

    def _refill(self, need: int) -> None:
        """Keep the unread bytes and append at least ``need`` more (fewer only at the end of the file)."""
        rest = self.buf[self.i:]
        self.start += self.i
        self.buf, self.i = rest + self._f.read(max(need, self.CHUNK)), 0

    def _read_more(self, n: int) -> bytes:
        left = self.remaining()
        if left is not None and n > left:
            raise PickleError(f"truncated: {n} bytes declared, {max(left, 0)} left", self.pos)
        self._refill(n - (len(self.buf) - self.i))
        if len(self.buf) < n:
            self.i = len(self.buf)
            raise PickleError(f"truncated: {n} bytes declared, {len(self.buf)} read", self.pos)
        self.i = n
        return self.buf[:n]

    def readline(self) -> bytes:
        while (k := self.buf.find(b"\n", self.i)) < 0:
            before = len(self.buf) - self.i
            if before > MAX_LINE:
                raise PickleError("overlong text argument", self.pos)
            self._refill(self.CHUNK)
            if len(self.buf) - self.i == before:
                self.i = len(self.buf)
                raise PickleError("truncated text argument (no newline)", self.pos)
        line = self.buf[self.i:k + 1]
        self.i = k + 1
        return line

    def skip(self, n: int) -> None:
        if self.i + n <= len(self.buf):
            self.i += n
            return
        left = self.remaining()
        if left is not None and n > left:
            raise PickleError(f"truncated: {n} bytes declared, {max(left, 0)} left", self.pos)
        n -= len(self.buf) - self.i
        self.start += len(self.buf)
        self.buf, self.i = b"", 0
        if left is not None and self._f.seekable():
            self._f.seek(n, io.SEEK_CUR)
            self.start += n
            return
        while n > 0:
            chunk = len(self._f.read(min(n, 16 << 20)))
            if not chunk:
                raise PickleError("truncated while skipping data", self.pos)
            self.start += chunk
            n -= chunk


def _looks_like_pickle(data: bytes) -> bool:
    """A binary pickle header (``pickle.loads`` ignores what follows STOP), or a text pickle ending in STOP."""
    if len(data) < 4:
        return False
    return _BINARY_PICKLE_START.match(data) is not None or (data.endswith(b".") and bool(_PICKLE_START.match(data)))


# --- the machine -----------------------------------------------------------------------------


@dataclass
class _Record:
    """Every import of one name in one analysis, to report it once with where it was used."""

    qualname: str
    allowed: bool
    dangerous: bool
    first: tuple[str, int]
    count: int = 0
    calls: list[tuple[str, int]] = field(default_factory=list)


class _Machine:
    """Runs pickle streams symbolically on one reader, collecting imports and issues."""

    def __init__(self, reader: _Reader, analysis: PickleAnalysis, *, extra: frozenset[str], depth: int,
                 follow_joblib: bool, where: str = ""):
        self.r = reader
        self.a = analysis
        self.extra = extra
        self.depth = depth
        self.follow_joblib = follow_joblib
        self.where = where  # prefix for nested pickles' messages
        self.records: dict[str, _Record] = {}
        self.saw_joblib = False
        self._data_start = 0
        self._reset()

    def _reset(self) -> None:
        self.stack: list[Any] = []
        self.marks: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.proto = 0

    # issues ------------------------------------------------------------------------------------
    def issue(self, rule: str, detail: str, offset: int | None, callable_: str | None = None,
              severity: str | None = None) -> None:
        sev = severity or PICKLE_RULES[rule][0]
        self.a.issues.append(PickleIssue(rule, sev, self.where + detail, offset, callable_))

    def flush_records(self) -> None:
        """Turn the import records into one issue per name that is not allowed."""
        for rec in sorted(self.records.values(), key=lambda r: r.first[1]):
            self.a.imports.setdefault(rec.qualname, rec.allowed)
            if rec.allowed:
                continue
            op, offset = rec.first
            detail = f"{rec.qualname} imported by {op} at byte {offset}"
            if rec.calls and rec.calls[0] == rec.first:
                detail = f"{rec.qualname} imported and called by {op} at byte {offset}"
            elif rec.calls:
                cop, coff = rec.calls[0]
                detail += f", called by {cop} at byte {coff}"
            if rec.count > 1:
                detail += f" ({rec.count} imports in all)"
            rule = "pickle-dangerous-global" if rec.dangerous else "pickle-unknown-global"
            self.issue(rule, detail, offset, rec.qualname)
        self.records.clear()

    # stack helpers ---------------------------------------------------------------------------
    def pop(self, pos: int) -> Any:
        if not self.stack:
            raise PickleError("stack underflow", pos)
        return self.stack.pop()

    def top(self, pos: int) -> Any:
        if not self.stack:
            raise PickleError("stack underflow", pos)
        return self.stack[-1]

    def pop_mark(self, pos: int) -> list[Any]:
        if not self.marks:
            raise PickleError("no MARK to pop to", pos)
        items = self.stack
        self.stack = self.marks.pop()
        return items

    # reading arguments -----------------------------------------------------------------------
    def read_counted(self, name: str, length: int, encoding: str | None, pos: int) -> Any:
        """The argument of a length-prefixed opcode; huge ones are skipped, not read."""
        if length < 0:
            raise PickleError(f"{name} with negative length", pos)
        self._data_start = self.r.pos
        if length > BIG_CONSTANT:  # tensor bytes, typically: skipped unless they start like a nested pickle
            head = self.r.read(16)
            nested = _BINARY_PICKLE_START.match(head) is not None
            if not nested or length > INLINE_LIMIT:
                self.r.skip(length - 16)
                if nested:
                    self.issue("pickle-unanalysed-data", f"a {length}-byte constant at byte {pos} starts like a "
                               "pickle and was not analysed", pos)
                return _Opaque(f"a {length}-byte constant")
            data = head + self.r.read(length - 16)
        else:
            data = self.r.read(length)
        if encoding is None:
            return bytearray(data) if name == "BYTEARRAY8" else data
        try:
            return data.decode(encoding, "surrogatepass")
        except UnicodeDecodeError as exc:
            raise PickleError(f"{name}: invalid {encoding}", pos) from exc

    # running -----------------------------------------------------------------------------------
    def run_stream(self) -> Any:
        """Run one pickle up to its STOP; return the value it would return (symbolically)."""
        self._reset()
        r, table = self.r, _TABLE
        try:
            while True:
                i = r.i
                pos = r.start + i
                if i < len(r.buf):  # the fast path: the opcode byte is buffered
                    code = r.buf[i]
                    r.i = i + 1
                else:
                    try:
                        code = r.read(1)[0]
                    except PickleError:
                        raise PickleError("truncated: the pickle ends without STOP", pos) from None
                entry = table[code]
                if entry is None:
                    raise PickleError(f"unknown opcode 0x{code:02x}", pos)
                reader, handler = entry
                arg = reader(self, pos) if reader is not None else None
                if handler is None:  # STOP
                    return self.pop(pos)
                handler(self, arg, pos)
        finally:
            self.flush_records()

    def nested(self, value: str | bytes | bytearray, pos: int, exact: bool) -> None:
        """Analyse a constant that is itself a pickle; offsets are exact for length-prefixed constants."""
        data = value.encode("latin-1", "replace") if isinstance(value, str) else bytes(value)
        if not _looks_like_pickle(data):
            return
        base = self._data_start if exact else pos
        sub = PickleAnalysis()
        machine = _Machine(_Reader(io.BytesIO(data), base + len(data), base), sub, extra=self.extra,
                           depth=self.depth + 1, follow_joblib=False,
                           where=f"{self.where}in the pickle nested in the constant at byte {pos}: ")
        try:
            machine.run_stream()
        except PickleError:
            if not sub.unsafe:  # data that merely looks like a pickle
                return
        self.a.issues.extend(sub.unsafe)
        for k, v in sub.imports.items():
            self.a.imports.setdefault(k, v)

    # imports and calls -----------------------------------------------------------------------
    def import_(self, module: str, name: str, op: str, pos: int) -> _Global:
        if self.proto < 3:  # Python 2 names, as pickle's fix_imports maps them
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        g = _Global(module, name, pos)
        rec = self.records.get(g.qualname)
        if rec is None:
            rec = self.records[g.qualname] = _Record(g.qualname, is_allowed(g.qualname, self.extra),
                                                     is_dangerous(module, name), (op, pos))
        rec.count += 1
        return g

    def call(self, func: Any, args: Any, op: str, pos: int) -> _Call:
        if isinstance(func, _Global):
            rec = self.records.get(func.qualname)
            if rec is not None:
                rec.calls.append((op, pos))
            else:  # defensive: every global is created with its record in the same stream
                self.import_(func.module, func.name, op, pos)
        elif not isinstance(func, _Unresolved):
            self.issue("pickle-indirect-call", f"{op} at byte {pos} calls {describe(func)}", pos)
        return _Call(func, args, pos)

    def build(self, state: Any, pos: int) -> None:
        inst = self.top(pos)
        if isinstance(inst, _Global):
            self.issue("pickle-build-attribute", f"BUILD at byte {pos} changes the imported {inst.qualname}", pos,
                       inst.qualname)
        dicts = [s for s in (state if isinstance(state, tuple) else (state,)) if isinstance(s, _Dict)]
        for d in dicts:
            for key, _ in d.items:
                if isinstance(key, str) and key.startswith("__") and key.endswith("__"):
                    self.issue("pickle-build-attribute", f"BUILD at byte {pos} sets {key} on {describe(inst)}", pos)
        if isinstance(inst, _Call):
            inst.state = state
            if (isinstance(inst.func, _Global) and inst.func.qualname == _JOBLIB_WRAPPER):
                self.saw_joblib = True
                if self.follow_joblib:
                    self.skip_joblib_array(state, pos)

    def skip_joblib_array(self, state: Any, pos: int) -> None:
        """Follow joblib's ``NumpyArrayWrapper.read_array``: raw bytes or a nested pickle follow the BUILD."""
        if not isinstance(state, _Dict):
            raise PickleError("joblib array wrapper without a state dict", pos)
        shape, dtype = state.get("shape"), state.get("dtype")
        if not (isinstance(shape, tuple) and all(isinstance(n, int) and n >= 0 for n in shape)
                and isinstance(dtype, _Call) and isinstance(dtype.args, tuple) and dtype.args
                and isinstance(dtype.args[0], str)):
            raise PickleError(f"joblib array wrapper at byte {pos}: cannot tell the size of its data", pos)
        dstate = dtype.state if isinstance(dtype.state, tuple) else ()
        flags = dstate[7] if len(dstate) > 7 and isinstance(dstate[7], int) else 0
        if dtype.args[0].startswith("O") or flags & 1:  # object array: a nested pickle stream follows
            inner = _Machine(self.r, self.a, extra=self.extra, depth=self.depth, follow_joblib=True,
                             where=self.where)
            inner.run_stream()
            return
        if state.get("numpy_array_alignment_bytes") is not None:
            self.r.skip(self.r.read(1)[0])
        elsize = dstate[5] if len(dstate) > 5 and isinstance(dstate[5], int) and dstate[5] > 0 else None
        digits = re.search(r"\d+", dtype.args[0])
        itemsize = elsize or (int(digits.group()) if digits else 0)
        count = 1
        for n in shape:
            count *= n
        self.r.skip(count * itemsize)


def _h_const(value: Any) -> Callable[[_Machine, Any, int], None]:
    return lambda m, arg, pos: m.stack.append(value)


def _h_mark(m: _Machine, arg: Any, pos: int) -> None:
    m.marks.append(m.stack)
    m.stack = []


def _h_pop(m: _Machine, arg: Any, pos: int) -> None:
    if m.stack:
        m.stack.pop()
    else:
        m.pop_mark(pos)


def _h_put(m: _Machine, arg: Any, pos: int) -> None:
    if not isinstance(arg, int) or arg < 0:
        raise PickleError("bad PUT index", pos)
    m.memo[arg] = m.top(pos)


def _h_memoize(m: _Machine, arg: Any, pos: int) -> None:
    m.memo[len(m.memo)] = m.top(pos)


def _h_get(m: _Machine, arg: Any, pos: int) -> None:
    if arg not in m.memo:
        raise PickleError(f"memo key {arg!r} not found", pos)
    m.stack.append(m.memo[arg])


def _h_append(m: _Machine, arg: Any, pos: int) -> None:
    value = m.pop(pos)
    target = m.top(pos)
    if isinstance(target, list):
        target.append(value)


def _h_appends(m: _Machine, arg: Any, pos: int) -> None:
    items = m.pop_mark(pos)
    target = m.top(pos)
    if isinstance(target, list):
        target.extend(items)


def _h_setitem(m: _Machine, arg: Any, pos: int) -> None:
    value, key = m.pop(pos), m.pop(pos)
    target = m.top(pos)
    if isinstance(target, _Dict):
        target.items.append((key, value))


def _h_setitems(m: _Machine, arg: Any, pos: int) -> None:
    items = m.pop_mark(pos)
    target = m.top(pos)
    if isinstance(target, _Dict):
        target.items.extend(zip(items[::2], items[1::2], strict=False))


def _h_additems(m: _Machine, arg: Any, pos: int) -> None:
    items = m.pop_mark(pos)
    target = m.top(pos)
    if isinstance(target, _Set):
        target.items.extend(items)


def _h_tuple_n(n: int) -> Callable[[_Machine, Any, int], None]:
    def handler(m: _Machine, arg: Any, pos: int) -> None:
        if len(m.stack) < n:
            raise PickleError("stack underflow", pos)
        items = m.stack[len(m.stack) - n:]
        del m.stack[len(m.stack) - n:]
        m.stack.append(tuple(items))

    return handler


def _h_from_mark(kind: str) -> Callable[[_Machine, Any, int], None]:
    def handler(m: _Machine, arg: Any, pos: int) -> None:
        items = m.pop_mark(pos)
        if kind == "list":
            m.stack.append(list(items))
        elif kind == "tuple":
            m.stack.append(tuple(items))
        elif kind == "dict":
            m.stack.append(_Dict(list(zip(items[::2], items[1::2], strict=False))))
        else:
            m.stack.append(_Set(list(items)))

    return handler


def _h_global(m: _Machine, arg: Any, pos: int) -> None:
    m.stack.append(m.import_(arg[0], arg[1], "GLOBAL", pos))


def _h_stack_global(m: _Machine, arg: Any, pos: int) -> None:
    name, module = m.pop(pos), m.pop(pos)
    if isinstance(module, str) and isinstance(name, str):
        m.stack.append(m.import_(module, name, "STACK_GLOBAL", pos))
        return
    m.issue("pickle-unresolved-global", f"STACK_GLOBAL at byte {pos} imports a name built while loading "
            f"(module: {describe(module)}, name: {describe(name)})", pos)
    m.stack.append(_Unresolved(pos))


def _h_inst(m: _Machine, arg: Any, pos: int) -> None:
    args = m.pop_mark(pos)
    cls = m.import_(arg[0], arg[1], "INST", pos)
    m.stack.append(m.call(cls, tuple(args), "INST", pos))


def _h_obj(m: _Machine, arg: Any, pos: int) -> None:
    items = m.pop_mark(pos)
    if not items:
        raise PickleError("OBJ without a class", pos)
    m.stack.append(m.call(items[0], tuple(items[1:]), "OBJ", pos))


def _h_reduce(m: _Machine, arg: Any, pos: int) -> None:
    args, func = m.pop(pos), m.pop(pos)
    m.stack.append(m.call(func, args, "REDUCE", pos))


def _h_newobj(m: _Machine, arg: Any, pos: int) -> None:
    args, cls = m.pop(pos), m.pop(pos)
    m.stack.append(m.call(cls, args, "NEWOBJ", pos))


def _h_newobj_ex(m: _Machine, arg: Any, pos: int) -> None:
    m.pop(pos)  # kwargs
    args, cls = m.pop(pos), m.pop(pos)
    m.stack.append(m.call(cls, args, "NEWOBJ_EX", pos))


def _h_build(m: _Machine, arg: Any, pos: int) -> None:
    m.build(m.pop(pos), pos)


def _h_ext(m: _Machine, arg: Any, pos: int) -> None:
    m.issue("pickle-extension-code", f"extension code {arg} at byte {pos} imports whatever the loading process "
            "registered under it", pos)
    m.stack.append(_Unresolved(pos))


_PERSISTENT = _Opaque("a persistent id (a loader-defined object, e.g. a torch storage)")


def _h_persid(m: _Machine, arg: Any, pos: int) -> None:
    m.stack.append(_PERSISTENT)


def _h_binpersid(m: _Machine, arg: Any, pos: int) -> None:
    m.pop(pos)
    m.stack.append(_PERSISTENT)


def _h_proto(m: _Machine, arg: Any, pos: int) -> None:
    if not isinstance(arg, int) or arg > 5:
        raise PickleError(f"unsupported pickle protocol {arg}", pos)
    m.proto = arg


def _h_noop(m: _Machine, arg: Any, pos: int) -> None:
    pass


def _h_dup(m: _Machine, arg: Any, pos: int) -> None:
    m.stack.append(m.top(pos))


def _h_pop_mark(m: _Machine, arg: Any, pos: int) -> None:
    m.pop_mark(pos)


def _h_push(m: _Machine, arg: Any, pos: int) -> None:
    m.stack.append(arg)


def _h_push_text(exact: bool) -> Callable[[_Machine, Any, int], None]:
    def handler(m: _Machine, arg: Any, pos: int) -> None:
        m.stack.append(arg)
        if (not isinstance(arg, _Opaque) and len(arg) >= 4 and (arg[-1:] in _DOTS or arg[:1] in _PROTO)
                and m.depth < MAX_NESTED_DEPTH):
            m.nested(arg, pos, exact)

    return handler


_HANDLERS: dict[str, Callable[[_Machine, Any, int], None]] = {
    "NONE": _h_const(None), "NEWTRUE": _h_const(True), "NEWFALSE": _h_const(False),
    "EMPTY_LIST": lambda m, a, p: m.stack.append([]), "EMPTY_TUPLE": _h_const(()),
    "EMPTY_DICT": lambda m, a, p: m.stack.append(_Dict()), "EMPTY_SET": lambda m, a, p: m.stack.append(_Set()),
    "MARK": _h_mark, "POP": _h_pop, "POP_MARK": _h_pop_mark, "DUP": _h_dup,
    "PUT": _h_put, "BINPUT": _h_put, "LONG_BINPUT": _h_put, "MEMOIZE": _h_memoize,
    "GET": _h_get, "BINGET": _h_get, "LONG_BINGET": _h_get,
    "APPEND": _h_append, "APPENDS": _h_appends, "SETITEM": _h_setitem, "SETITEMS": _h_setitems,
    "ADDITEMS": _h_additems, "LIST": _h_from_mark("list"), "TUPLE": _h_from_mark("tuple"),
    "DICT": _h_from_mark("dict"), "FROZENSET": _h_from_mark("set"),
    "TUPLE1": _h_tuple_n(1), "TUPLE2": _h_tuple_n(2), "TUPLE3": _h_tuple_n(3),
    "GLOBAL": _h_global, "STACK_GLOBAL": _h_stack_global, "INST": _h_inst, "OBJ": _h_obj,
    "REDUCE": _h_reduce, "NEWOBJ": _h_newobj, "NEWOBJ_EX": _h_newobj_ex, "BUILD": _h_build,
    "EXT1": _h_ext, "EXT2": _h_ext, "EXT4": _h_ext, "PERSID": _h_persid, "BINPERSID": _h_binpersid,
    "PROTO": _h_proto, "FRAME": _h_noop, "NEXT_BUFFER": lambda m, a, p: m.stack.append(_Opaque("a buffer")),
    "READONLY_BUFFER": _h_noop,
    **{name: _h_push for name in ("INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT",
                                  "BINFLOAT")},
    **{name: _h_push_text(True) for name in _LENGTH_PREFIXED},
    "STRING": _h_push_text(False), "UNICODE": _h_push_text(False),
}


# --- argument readers, by the argument format pickletools names -----------------------------------

_Reader_t = Callable[[_Machine, int], Any]


def _fixed(fmt: str) -> _Reader_t:
    st = struct.Struct(fmt)
    return lambda m, pos: st.unpack(m.r.read(st.size))[0]


def _long(fmt: str) -> _Reader_t:
    st = struct.Struct(fmt)

    def reader(m: _Machine, pos: int) -> int:
        n = st.unpack(m.r.read(st.size))[0]
        if n < 0:
            raise PickleError("LONG4 with negative length", pos)
        return int.from_bytes(m.r.read(n), "little", signed=True)

    return reader


def _counted(name: str, fmt: str, encoding: str | None) -> _Reader_t:
    st = struct.Struct(fmt)
    return lambda m, pos: m.read_counted(name, st.unpack(m.r.read(st.size))[0], encoding, pos)


def _text(arg: pickletools.ArgumentDescriptor) -> _Reader_t:
    def reader(m: _Machine, pos: int) -> Any:
        try:
            return arg.reader(cast(Any, m.r))  # the readers only call read/readline
        except ValueError as exc:
            raise PickleError(f"bad text argument: {exc}", pos) from exc

    return reader


def _pair(m: _Machine, pos: int) -> tuple[str, str]:
    try:
        return m.r.readline()[:-1].decode("utf-8"), m.r.readline()[:-1].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PickleError("GLOBAL/INST: module or name is not UTF-8", pos) from exc


_FIXED = {"uint1": _fixed("<B"), "uint2": _fixed("<H"), "int4": _fixed("<i"), "uint4": _fixed("<I"),
          "uint8": _fixed("<Q"), "float8": _fixed(">d"), "long1": _long("<B"), "long4": _long("<i")}
_DOTS = (b".", ".")
_PROTO = (b"\x80", "\x80")


def _reader_for(op: pickletools.OpcodeInfo) -> _Reader_t | None:
    if op.arg is None:
        return None
    if op.name in _LENGTH_PREFIXED:
        return _counted(op.name, *_LENGTH_PREFIXED[op.name])
    if op.arg.name == "stringnl_noescape_pair":
        return _pair
    return _FIXED.get(op.arg.name) or _text(op.arg)


_TABLE: list[tuple[_Reader_t | None, Callable[[_Machine, Any, int], None] | None] | None] = [None] * 256
for _op in pickletools.opcodes:
    _TABLE[ord(_op.code)] = (_reader_for(_op), None if _op.name == "STOP" else _HANDLERS[_op.name])


# --- streams -----------------------------------------------------------------------------------


def _run(opener: Callable[[], IO[bytes]], size: int | None, analysis: PickleAnalysis, *, extra: frozenset[str],
         follow_joblib: bool, start: int) -> _Machine:
    """Analyse every pickle in the stream the way its loader would read it."""
    f = opener()
    try:
        reader = _Reader(f, size, start)
        m = _Machine(reader, analysis, extra=extra, depth=0, follow_joblib=follow_joblib)
        try:
            first = m.run_stream()
        except PickleError as exc:
            analysis.issues.append(PickleIssue(MALFORMED, MEDIUM, f"not a well-formed pickle: {exc} at byte "
                                               f"{exc.offset}", exc.offset))
            return m
        analysis.streams = 1
        if type(first) is int and first == TORCH_LEGACY_MAGIC:
            analysis.kind = "pytorch-legacy"
            for what in ("protocol version", "system info", "object", "storage keys"):
                try:
                    m.run_stream()
                except PickleError as exc:
                    analysis.issues.append(PickleIssue(MALFORMED, MEDIUM, f"legacy torch.save file: the {what} "
                                                       f"pickle is broken: {exc} at byte {exc.offset}", exc.offset))
                    return m
                analysis.streams += 1
            analysis.end = reader.pos
            return m
        while size is not None and not reader.at_end() and analysis.streams < MAX_STREAMS:
            at = reader.pos
            try:
                m.run_stream()
            except PickleError:
                analysis.issues.append(PickleIssue("pickle-trailing-data", LOW, f"{size - at} bytes after the "
                                                   f"pickle at byte {at} are not a pickle", at))
                break
            analysis.streams += 1
        analysis.end = reader.pos
        return m
    finally:
        f.close()


def analyse_pickle(opener: Callable[[], IO[bytes]], size: int | None = None, *,
                   extra_allowed: frozenset[str] = frozenset(), start: int = 0) -> PickleAnalysis:
    """Analyse the pickle stream(s) that ``opener()`` returns, without unpickling anything.

    ``size`` (the offset where the stream ends, when known) lets lying length fields be caught before
    a read. ``start`` is the offset of the stream's first byte, for a pickle embedded in a larger file
    (``opener`` must return the stream positioned there); reported offsets count from the file's start.
    ``extra_allowed`` adds ``module.name`` strings to the allowlist. Issues come back in
    :attr:`PickleAnalysis.issues`; a stream that is not a pickle gives one ``malformed-file`` issue.
    """
    analysis = PickleAnalysis()
    m = _run(opener, size, analysis, extra=extra_allowed, follow_joblib=True, start=start)
    if m.saw_joblib:
        analysis.kind = "joblib"
        plain = PickleAnalysis()
        _run(opener, size, plain, extra=extra_allowed, follow_joblib=False, start=start)
        seen = {(i.rule, i.offset) for i in analysis.issues}
        analysis.issues.extend(i for i in plain.unsafe if (i.rule, i.offset) not in seen)
    return analysis


def analyse_pickle_bytes(data: bytes, *, extra_allowed: frozenset[str] = frozenset()) -> PickleAnalysis:
    """:func:`analyse_pickle` for bytes in memory."""
    return analyse_pickle(lambda: io.BytesIO(data), len(data), extra_allowed=extra_allowed)


def analyse_file(path: str | Path, *, extra_allowed: frozenset[str] = frozenset()) -> PickleAnalysis:
    """Analyse what ``torch.load``/``pickle.load`` would unpickle from ``path``: every ``*.pkl`` member of a
    zip checkpoint, or the pickle stream(s) of any other file. Issues of members name the member."""
    p = Path(path)
    with p.open("rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"
    if not is_zip:
        return analyse_pickle(lambda: p.open("rb"), p.stat().st_size, extra_allowed=extra_allowed)
    total = PickleAnalysis(kind="pytorch-zip")
    try:
        with zipfile.ZipFile(p) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".pkl"):
                    continue
                sub = analyse_pickle(partial(zf.open, info), info.file_size, extra_allowed=extra_allowed)
                total.streams += sub.streams
                total.imports.update(sub.imports)
                total.issues += [PickleIssue(i.rule, i.severity, f"{info.filename}: {i.detail}", i.offset, i.callable)
                                 for i in sub.issues]
    except (zipfile.BadZipFile, OSError) as exc:
        total.issues.append(PickleIssue(MALFORMED, MEDIUM, f"not a readable zip archive: {exc}"))
    return total
