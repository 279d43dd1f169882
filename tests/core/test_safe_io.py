"""Safe IO: safetensors in, pickle refused, corrupt files named, atomic writes."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from trustgen.core.errors import CorruptFileError, TrustgenError, UnsafeFileError
from trustgen.core.runs import atomic_path, write_text_atomic
from trustgen.core.safe_io import load_state_dict, save_state_dict, sniff_format


class Boom:
    """An object whose unpickling would run code (it writes a marker file)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_safetensors_round_trip(tmp_path):
    tensors = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(3, dtype=torch.int64)}
    save_state_dict(tensors, tmp_path / "m.safetensors")
    loaded = load_state_dict(tmp_path / "m.safetensors")
    assert sniff_format(tmp_path / "m.safetensors") == "safetensors"
    assert all(torch.equal(loaded[k], v) for k, v in tensors.items())


def test_malicious_pickle_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(Boom(str(marker))))
    with pytest.raises(UnsafeFileError, match="allow-pickle"):
        load_state_dict(path)
    # even when allowed, the static analysis of `trustgen audit` refuses it before torch.load sees it
    with pytest.raises(UnsafeFileError, match="io.open imported by"):
        load_state_dict(path, allow_pickle=True)
    assert not marker.exists()


def test_allowed_pickle_with_payload_inside_a_torch_zip_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    torch.save({"w": torch.ones(2), "hook": Boom(str(marker))}, path)
    with pytest.raises(UnsafeFileError, match=r"data.pkl: io.open imported by GLOBAL at byte \d+"):
        load_state_dict(path, allow_pickle=True)
    assert not marker.exists()


def test_torch_save_archive_needs_allow_pickle(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.ones(2)}, path)
    assert sniff_format(path) == "zip-pickle"
    with pytest.raises(UnsafeFileError):
        load_state_dict(path)
    assert torch.equal(load_state_dict(path, allow_pickle=True)["w"], torch.ones(2))


def test_corrupt_and_missing_files(tmp_path):
    good = tmp_path / "m.safetensors"
    save_state_dict({"w": torch.ones(4)}, good)
    truncated = tmp_path / "t.safetensors"
    truncated.write_bytes(good.read_bytes()[:-8])
    with pytest.raises(CorruptFileError, match="corrupt"):
        load_state_dict(truncated)
    (tmp_path / "noise.safetensors").write_bytes(os.urandom(64))
    with pytest.raises(CorruptFileError):
        load_state_dict(tmp_path / "noise.safetensors")
    with pytest.raises(TrustgenError, match="not found"):
        load_state_dict(tmp_path / "absent.safetensors")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "metrics.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    write_text_atomic(target, "{}")
    assert target.read_text() == "{}" and (target.stat().st_mode & 0o777) != 0o600
