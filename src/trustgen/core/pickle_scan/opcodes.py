"""One handler and one argument reader per pickle opcode (formats from :mod:`pickletools`)."""

from __future__ import annotations

import pickletools
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from trustgen.core.pickle_scan.findings import MAX_NESTED_DEPTH, PickleError
from trustgen.core.pickle_scan.values import Dict, Opaque, Set, Unresolved, describe

if TYPE_CHECKING:
    from trustgen.core.pickle_scan.machine import Machine

LENGTH_PREFIXED: dict[str, tuple[str, str | None]] = {
    # opcode name: (struct format of the length, text encoding or None for bytes)
    "BINSTRING": ("<i", "latin-1"), "SHORT_BINSTRING": ("<B", "latin-1"),
    "BINBYTES": ("<I", None), "SHORT_BINBYTES": ("<B", None), "BINBYTES8": ("<Q", None), "BYTEARRAY8": ("<Q", None),
    "BINUNICODE": ("<I", "utf-8"), "SHORT_BINUNICODE": ("<B", "utf-8"), "BINUNICODE8": ("<Q", "utf-8"),
}


def _h_const(value: Any) -> Callable[[Machine, Any, int], None]:
    return lambda m, arg, pos: m.stack.append(value)


def _h_mark(m: Machine, arg: Any, pos: int) -> None:
    m.marks.append(m.stack)
    m.stack = []


def _h_pop(m: Machine, arg: Any, pos: int) -> None:
    if m.stack:
        m.stack.pop()
    else:
        m.pop_mark(pos)


def _h_put(m: Machine, arg: Any, pos: int) -> None:
    if not isinstance(arg, int) or arg < 0:
        raise PickleError("bad PUT index", pos)
    m.memo[arg] = m.top(pos)


def _h_memoize(m: Machine, arg: Any, pos: int) -> None:
    m.memo[len(m.memo)] = m.top(pos)


def _h_get(m: Machine, arg: Any, pos: int) -> None:
    if arg not in m.memo:
        raise PickleError(f"memo key {arg!r} not found", pos)
    m.stack.append(m.memo[arg])


def _h_append(m: Machine, arg: Any, pos: int) -> None:
    value = m.pop(pos)
    target = m.top(pos)
    if isinstance(target, list):
        target.append(value)


def _h_appends(m: Machine, arg: Any, pos: int) -> None:
    items = m.pop_mark(pos)
    target = m.top(pos)
    if isinstance(target, list):
        target.extend(items)


def _h_setitem(m: Machine, arg: Any, pos: int) -> None:
    value, key = m.pop(pos), m.pop(pos)
    target = m.top(pos)
    if isinstance(target, Dict):
        target.items.append((key, value))


def _h_setitems(m: Machine, arg: Any, pos: int) -> None:
    items = m.pop_mark(pos)
    target = m.top(pos)
    if isinstance(target, Dict):
        target.items.extend(zip(items[::2], items[1::2], strict=False))


def _h_additems(m: Machine, arg: Any, pos: int) -> None:
    items = m.pop_mark(pos)
    target = m.top(pos)
    if isinstance(target, Set):
        target.items.extend(items)


def _h_tuple_n(n: int) -> Callable[[Machine, Any, int], None]:
    def handler(m: Machine, arg: Any, pos: int) -> None:
        if len(m.stack) < n:
            raise PickleError("stack underflow", pos)
        items = m.stack[len(m.stack) - n:]
        del m.stack[len(m.stack) - n:]
        m.stack.append(tuple(items))

    return handler


def _h_from_mark(kind: str) -> Callable[[Machine, Any, int], None]:
    def handler(m: Machine, arg: Any, pos: int) -> None:
        items = m.pop_mark(pos)
        if kind == "list":
            m.stack.append(list(items))
        elif kind == "tuple":
            m.stack.append(tuple(items))
        elif kind == "dict":
            m.stack.append(Dict(list(zip(items[::2], items[1::2], strict=False))))
        else:
            m.stack.append(Set(list(items)))

    return handler


def _h_global(m: Machine, arg: Any, pos: int) -> None:
    m.stack.append(m.import_(arg[0], arg[1], "GLOBAL", pos))


def _h_stack_global(m: Machine, arg: Any, pos: int) -> None:
    name, module = m.pop(pos), m.pop(pos)
    if isinstance(module, str) and isinstance(name, str):
        m.stack.append(m.import_(module, name, "STACK_GLOBAL", pos))
        return
    m.issue("pickle-unresolved-global", f"STACK_GLOBAL at byte {pos} imports a name built while loading "
            f"(module: {describe(module)}, name: {describe(name)})", pos)
    m.stack.append(Unresolved(pos))


def _h_inst(m: Machine, arg: Any, pos: int) -> None:
    args = m.pop_mark(pos)
    cls = m.import_(arg[0], arg[1], "INST", pos)
    m.stack.append(m.call(cls, tuple(args), "INST", pos))


def _h_obj(m: Machine, arg: Any, pos: int) -> None:
    items = m.pop_mark(pos)
    if not items:
        raise PickleError("OBJ without a class", pos)
    m.stack.append(m.call(items[0], tuple(items[1:]), "OBJ", pos))


def _h_reduce(m: Machine, arg: Any, pos: int) -> None:
    args, func = m.pop(pos), m.pop(pos)
    m.stack.append(m.call(func, args, "REDUCE", pos))


def _h_newobj(m: Machine, arg: Any, pos: int) -> None:
    args, cls = m.pop(pos), m.pop(pos)
    m.stack.append(m.call(cls, args, "NEWOBJ", pos))


def _h_newobj_ex(m: Machine, arg: Any, pos: int) -> None:
    m.pop(pos)  # kwargs
    args, cls = m.pop(pos), m.pop(pos)
    m.stack.append(m.call(cls, args, "NEWOBJ_EX", pos))


def _h_build(m: Machine, arg: Any, pos: int) -> None:
    m.build(m.pop(pos), pos)


def _h_ext(m: Machine, arg: Any, pos: int) -> None:
    m.issue("pickle-extension-code", f"extension code {arg} at byte {pos} imports whatever the loading process "
            "registered under it", pos)
    m.stack.append(Unresolved(pos))


_PERSISTENT = Opaque("a persistent id (a loader-defined object, e.g. a torch storage)")


def _h_persid(m: Machine, arg: Any, pos: int) -> None:
    m.stack.append(_PERSISTENT)


def _h_binpersid(m: Machine, arg: Any, pos: int) -> None:
    m.pop(pos)
    m.stack.append(_PERSISTENT)


def _h_proto(m: Machine, arg: Any, pos: int) -> None:
    if not isinstance(arg, int) or arg > 5:
        raise PickleError(f"unsupported pickle protocol {arg}", pos)
    m.proto = arg


def _h_noop(m: Machine, arg: Any, pos: int) -> None:
    pass


def _h_dup(m: Machine, arg: Any, pos: int) -> None:
    m.stack.append(m.top(pos))


def _h_pop_mark(m: Machine, arg: Any, pos: int) -> None:
    m.pop_mark(pos)


def _h_push(m: Machine, arg: Any, pos: int) -> None:
    m.stack.append(arg)


def _h_push_text(exact: bool) -> Callable[[Machine, Any, int], None]:
    def handler(m: Machine, arg: Any, pos: int) -> None:
        m.stack.append(arg)
        if (not isinstance(arg, Opaque) and len(arg) >= 4 and (arg[-1:] in _DOTS or arg[:1] in _PROTO)
                and m.depth < MAX_NESTED_DEPTH):
            m.nested(arg, pos, exact)

    return handler


_HANDLERS: dict[str, Callable[[Machine, Any, int], None]] = {
    "NONE": _h_const(None), "NEWTRUE": _h_const(True), "NEWFALSE": _h_const(False),
    "EMPTY_LIST": lambda m, a, p: m.stack.append([]), "EMPTY_TUPLE": _h_const(()),
    "EMPTY_DICT": lambda m, a, p: m.stack.append(Dict()), "EMPTY_SET": lambda m, a, p: m.stack.append(Set()),
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
    "PROTO": _h_proto, "FRAME": _h_noop, "NEXT_BUFFER": lambda m, a, p: m.stack.append(Opaque("a buffer")),
    "READONLY_BUFFER": _h_noop,
    **{name: _h_push for name in ("INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT",
                                  "BINFLOAT")},
    **{name: _h_push_text(True) for name in LENGTH_PREFIXED},
    "STRING": _h_push_text(False), "UNICODE": _h_push_text(False),
}


# --- argument readers, by the argument format pickletools names -----------------------------------

ArgReader = Callable[["Machine", int], Any]


def _fixed(fmt: str) -> ArgReader:
    st = struct.Struct(fmt)
    return lambda m, pos: st.unpack(m.r.read(st.size))[0]


def _long(fmt: str) -> ArgReader:
    st = struct.Struct(fmt)

    def reader(m: Machine, pos: int) -> int:
        n = st.unpack(m.r.read(st.size))[0]
        if n < 0:
            raise PickleError("LONG4 with negative length", pos)
        return int.from_bytes(m.r.read(n), "little", signed=True)

    return reader


def _counted(name: str, fmt: str, encoding: str | None) -> ArgReader:
    st = struct.Struct(fmt)
    return lambda m, pos: m.read_counted(name, st.unpack(m.r.read(st.size))[0], encoding, pos)


def _text(arg: pickletools.ArgumentDescriptor) -> ArgReader:
    def reader(m: Machine, pos: int) -> Any:
        try:
            return arg.reader(cast(Any, m.r))  # the readers only call read/readline
        except ValueError as exc:
            raise PickleError(f"bad text argument: {exc}", pos) from exc

    return reader


def _pair(m: Machine, pos: int) -> tuple[str, str]:
    try:
        return m.r.readline()[:-1].decode("utf-8"), m.r.readline()[:-1].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PickleError("GLOBAL/INST: module or name is not UTF-8", pos) from exc


_FIXED = {"uint1": _fixed("<B"), "uint2": _fixed("<H"), "int4": _fixed("<i"), "uint4": _fixed("<I"),
          "uint8": _fixed("<Q"), "float8": _fixed(">d"), "long1": _long("<B"), "long4": _long("<i")}
_DOTS = (b".", ".")
_PROTO = (b"\x80", "\x80")


def _reader_for(op: pickletools.OpcodeInfo) -> ArgReader | None:
    if op.arg is None:
        return None
    if op.name in LENGTH_PREFIXED:
        return _counted(op.name, *LENGTH_PREFIXED[op.name])
    if op.arg.name == "stringnl_noescape_pair":
        return _pair
    return _FIXED.get(op.arg.name) or _text(op.arg)


TABLE: list[tuple[ArgReader | None, Callable[[Machine, Any, int], None] | None] | None] = [None] * 256
for _op in pickletools.opcodes:
    TABLE[ord(_op.code)] = (_reader_for(_op), None if _op.name == "STOP" else _HANDLERS[_op.name])
