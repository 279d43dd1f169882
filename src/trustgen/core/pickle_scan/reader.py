"""A bounded forward-only byte reader for pickle streams, and the quick "is this a pickle?" test."""

from __future__ import annotations

import io
import re
from typing import IO

from trustgen.core.pickle_scan.findings import MAX_LINE, PickleError

_PICKLE_START = re.compile(rb"\x80[\x00-\x05]|[(cI\]}lSVdNKJ)]")
BINARY_PICKLE_START = re.compile(rb"\x80[\x02-\x05]")


class Reader:
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


def looks_like_pickle(data: bytes) -> bool:
    """A binary pickle header (``pickle.loads`` ignores what follows STOP), or a text pickle ending in STOP."""
    if len(data) < 4:
        return False
    return BINARY_PICKLE_START.match(data) is not None or (data.endswith(b".") and bool(_PICKLE_START.match(data)))
