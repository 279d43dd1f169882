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

from trustgen.core.pickle_scan.findings import (
    BIG_CONSTANT,
    CRITICAL,
    HIGH,
    INLINE_LIMIT,
    LOW,
    MALFORMED,
    MAX_LINE,
    MAX_NESTED_DEPTH,
    MAX_STREAMS,
    MEDIUM,
    PICKLE_RULES,
    TORCH_LEGACY_MAGIC,
    PickleAnalysis,
    PickleError,
    PickleIssue,
)
from trustgen.core.pickle_scan.streams import analyse_file, analyse_pickle, analyse_pickle_bytes
from trustgen.core.pickle_scan.values import describe

__all__ = [
    "BIG_CONSTANT", "CRITICAL", "HIGH", "INLINE_LIMIT", "LOW", "MALFORMED", "MAX_LINE", "MAX_NESTED_DEPTH",
    "MAX_STREAMS", "MEDIUM", "PICKLE_RULES", "TORCH_LEGACY_MAGIC", "PickleAnalysis", "PickleError", "PickleIssue",
    "analyse_file", "analyse_pickle", "analyse_pickle_bytes", "describe",
]
