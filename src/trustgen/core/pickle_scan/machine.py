"""The symbolic pickle machine: stack, mark stack and memo, imports checked against the allowlist."""

from __future__ import annotations

import _compat_pickle
import io
import re
from dataclasses import dataclass, field
from typing import Any

from trustgen.core.pickle_allowlist import is_allowed, is_dangerous
from trustgen.core.pickle_scan.findings import (
    BIG_CONSTANT,
    INLINE_LIMIT,
    PICKLE_RULES,
    PickleAnalysis,
    PickleError,
    PickleIssue,
)
from trustgen.core.pickle_scan.opcodes import TABLE
from trustgen.core.pickle_scan.reader import BINARY_PICKLE_START, Reader, looks_like_pickle
from trustgen.core.pickle_scan.values import Call, Dict, Global, Opaque, Unresolved, describe

_JOBLIB_WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"


@dataclass
class ImportRecord:
    """Every import of one name in one analysis, to report it once with where it was used."""

    qualname: str
    allowed: bool
    dangerous: bool
    first: tuple[str, int]
    count: int = 0
    calls: list[tuple[str, int]] = field(default_factory=list)


class Machine:
    """Runs pickle streams symbolically on one reader, collecting imports and issues."""

    def __init__(self, reader: Reader, analysis: PickleAnalysis, *, extra: frozenset[str], depth: int,
                 follow_joblib: bool, where: str = "", roots: frozenset[str] = frozenset()):
        self.r = reader
        self.a = analysis
        self.extra = extra
        self.roots = roots  # modules allowed with everything under them (TorchScript's __torch__)
        self.depth = depth
        self.follow_joblib = follow_joblib
        self.where = where  # prefix for nested pickles' messages
        self.records: dict[str, ImportRecord] = {}
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
            nested = BINARY_PICKLE_START.match(head) is not None
            if not nested or length > INLINE_LIMIT:
                self.r.skip(length - 16)
                if nested:
                    self.issue("pickle-unanalysed-data", f"a {length}-byte constant at byte {pos} starts like a "
                               "pickle and was not analysed", pos)
                return Opaque(f"a {length}-byte constant")
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
        r, table = self.r, TABLE
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
        if not looks_like_pickle(data):
            return
        base = self._data_start if exact else pos
        sub = PickleAnalysis()
        machine = Machine(Reader(io.BytesIO(data), base + len(data), base), sub, extra=self.extra,
                           depth=self.depth + 1, follow_joblib=False, roots=self.roots,
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
    def import_(self, module: str, name: str, op: str, pos: int) -> Global:
        if self.proto < 3:  # Python 2 names, as pickle's fix_imports maps them
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        g = Global(module, name, pos)
        rec = self.records.get(g.qualname)
        if rec is None:
            rec = self.records[g.qualname] = ImportRecord(g.qualname, is_allowed(g.qualname, self.extra, self.roots),
                                                     is_dangerous(module, name), (op, pos))
        rec.count += 1
        return g

    def call(self, func: Any, args: Any, op: str, pos: int) -> Call:
        if isinstance(func, Global):
            rec = self.records.get(func.qualname)
            if rec is not None:
                rec.calls.append((op, pos))
            else:  # defensive: every global is created with its record in the same stream
                self.import_(func.module, func.name, op, pos)
        elif not isinstance(func, Unresolved):
            self.issue("pickle-indirect-call", f"{op} at byte {pos} calls {describe(func)}", pos)
        return Call(func, args, pos)

    def build(self, state: Any, pos: int) -> None:
        inst = self.top(pos)
        if isinstance(inst, Global):
            self.issue("pickle-build-attribute", f"BUILD at byte {pos} changes the imported {inst.qualname}", pos,
                       inst.qualname)
        dicts = [s for s in (state if isinstance(state, tuple) else (state,)) if isinstance(s, Dict)]
        for d in dicts:
            for key, _ in d.items:
                if isinstance(key, str) and key.startswith("__") and key.endswith("__"):
                    self.issue("pickle-build-attribute", f"BUILD at byte {pos} sets {key} on {describe(inst)}", pos)
        if isinstance(inst, Call):
            inst.state = state
            if (isinstance(inst.func, Global) and inst.func.qualname == _JOBLIB_WRAPPER):
                self.saw_joblib = True
                if self.follow_joblib:
                    self.skip_joblib_array(state, pos)

    def skip_joblib_array(self, state: Any, pos: int) -> None:
        """Follow joblib's ``NumpyArrayWrapper.read_array``: raw bytes or a nested pickle follow the BUILD."""
        if not isinstance(state, Dict):
            raise PickleError("joblib array wrapper without a state dict", pos)
        shape, dtype = state.get("shape"), state.get("dtype")
        if not (isinstance(shape, tuple) and all(isinstance(n, int) and n >= 0 for n in shape)
                and isinstance(dtype, Call) and isinstance(dtype.args, tuple) and dtype.args
                and isinstance(dtype.args[0], str)):
            raise PickleError(f"joblib array wrapper at byte {pos}: cannot tell the size of its data", pos)
        dstate = dtype.state if isinstance(dtype.state, tuple) else ()
        flags = dstate[7] if len(dstate) > 7 and isinstance(dstate[7], int) else 0
        if dtype.args[0].startswith("O") or flags & 1:  # object array: a nested pickle stream follows
            inner = Machine(self.r, self.a, extra=self.extra, depth=self.depth, follow_joblib=True,
                             where=self.where, roots=self.roots)
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
