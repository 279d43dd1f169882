"""Data registry: shapes, ranges, splits, captions, attributes, image folders and partitions."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from trustgen.core.data import dataset_info, list_datasets, load_dataset, parse_partition  # noqa: E402
from trustgen.core.data.captions import (  # noqa: E402
    SLANT_CATEGORIES,
    THICKNESS_CATEGORIES,
    attribute_thresholds,
    caption_for,
    measure_slant,
    prompt_for_digit,
)
from trustgen.core.data.digits import DIGIT_NAMES  # noqa: E402
from trustgen.core.data.partition import partition_dirichlet, partition_iid  # noqa: E402
from trustgen.core.errors import TrustgenError  # noqa: E402


def _check_images(ds, n: int, shape: tuple[int, int, int]) -> None:
    assert len(ds) == n
    assert ds.images.dtype == torch.float32
    assert tuple(ds.images.shape) == (n, *shape)
    assert float(ds.images.min()) >= -1.0 and float(ds.images.max()) <= 1.0
    assert float(ds.images.max()) > float(ds.images.min())  # not blank


# ---------------------------------------------------------------- registry


def test_registry_lists_all_sets() -> None:
    names = {info.name for info in list_datasets()}
    assert names == {"digits", "digits-captioned", "digits-memorized", "digits-memorized-rare", "digits-biased", "mri",
                     "faces-lfw"}
    assert dataset_info("digits-captioned").conditioning == ("none", "class", "text")
    assert dataset_info("faces-lfw").num_classes is None
    with pytest.raises(TrustgenError, match="unknown dataset 'nope'"):
        load_dataset("nope")
    with pytest.raises(TrustgenError, match="unknown split"):
        load_dataset("digits", "val")  # type: ignore[arg-type]


# ---------------------------------------------------------------- digits


def test_digits_split_sizes_and_stratification() -> None:
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    _check_images(train, 1437, (1, 16, 16))
    _check_images(test, 360, (1, 16, 16))
    assert train.labels is not None and test.labels is not None and train.labels.dtype == torch.int64
    n_train = np.bincount(train.labels.numpy(), minlength=10)
    n_test = np.bincount(test.labels.numpy(), minlength=10)
    expected = 0.2 * (n_train + n_test)
    assert np.all(np.abs(n_test - expected) <= 1)


def test_digits_deterministic() -> None:
    a, b = load_dataset("digits", "test"), load_dataset("digits", "test")
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)


# ---------------------------------------------------------------- digits-captioned


def test_captioned_matches_digits() -> None:
    plain, cap = load_dataset("digits", "train"), load_dataset("digits-captioned", "train")
    assert torch.equal(plain.images, cap.images) and torch.equal(plain.labels, cap.labels)
    assert cap.captions is not None and len(cap.captions) == 1437
    assert len(load_dataset("digits-captioned", "test").captions or []) == 360
    for key in ("thickness", "slant", "thickness_category", "slant_category"):
        assert len(cap.attributes[key]) == 1437
    assert cap.attributes["thickness"].dtype.kind == "f" and cap.attributes["slant"].dtype.kind == "f"
    assert cap.attributes["thickness"].min() >= 0.0 and cap.attributes["thickness"].max() <= 1.0


def test_captions_name_their_digit_and_are_deterministic() -> None:
    ds = load_dataset("digits-captioned", "all")
    assert ds.captions == load_dataset("digits-captioned", "all").captions
    labels = ds.labels.numpy()
    for caption, y, t, s in zip(
        ds.captions, labels, ds.attributes["thickness_category"], ds.attributes["slant_category"], strict=True
    ):
        words = caption.replace(",", "").split()
        assert DIGIT_NAMES[y] in words or str(y) in words, caption
        assert not any(DIGIT_NAMES[o] in words or str(o) in words for o in range(10) if o != y), caption
        if "handwritten" not in words or len(words) > 3:  # descriptive templates name an attribute
            assert t in words or s in words, caption
    plain = {prompt_for_digit(d) for d in range(10)} | {f"a handwritten {d}" for d in range(10)}
    frac_plain = np.mean([c in plain for c in ds.captions])
    assert 0.28 <= frac_plain <= 0.40
    assert np.mean([c in {prompt_for_digit(d) for d in range(10)} for c in ds.captions]) >= 0.12
    assert np.mean([any(ch.isdigit() for ch in c) for c in ds.captions]) >= 0.3
    # same caption whatever split the image is loaded in
    test = load_dataset("digits-captioned", "test")
    from trustgen.core.data.digits import split_indices

    assert test.captions == [ds.captions[i] for i in split_indices("test")]


def test_caption_helpers() -> None:
    assert prompt_for_digit(7) == "a handwritten seven"
    assert caption_for(7, "thick", "upright", 0) == "a handwritten seven"
    assert caption_for(7, "thick", "upright", 1) == "a handwritten 7"
    assert caption_for(7, "thin", "upright", 3) == "a thin upright 7"
    assert caption_for(7, "thick", "right-slanted", 4) == "the digit seven, written with thick strokes"
    assert caption_for(3, "thin", "upright", 5).startswith("an upright handwritten 3")
    with pytest.raises(TrustgenError, match="thickness"):
        caption_for(1, "bold", "upright", 0)
    with pytest.raises(TrustgenError, match="digit"):
        prompt_for_digit(10)


def test_attribute_tertiles_balanced_on_train() -> None:
    ds = load_dataset("digits-captioned", "train")
    for key, names in (("thickness_category", THICKNESS_CATEGORIES), ("slant_category", SLANT_CATEGORIES)):
        shares = [np.mean(ds.attributes[key] == n) for n in names]
        assert all(0.25 <= s <= 0.42 for s in shares), (key, shares)
    thr = attribute_thresholds()
    assert thr["thickness"][0] < thr["thickness"][1] and thr["slant"][0] < thr["slant"][1]
    # test split uses the same fixed thresholds
    test = load_dataset("digits-captioned", "test")
    thick = test.attributes["thickness"]
    assert np.all((thick >= thr["thickness"][1]) == (test.attributes["thickness_category"] == "thick"))
    assert np.all((thick < thr["thickness"][0]) == (test.attributes["thickness_category"] == "thin"))


def test_slant_sign_on_synthetic_strokes() -> None:
    forward = np.fliplr(np.eye(8))[None]  # "/": top-right to bottom-left
    backward = np.eye(8)[None]  # "\\"
    upright = np.zeros((1, 8, 8))
    upright[0, :, 4] = 1.0
    assert measure_slant(forward)[0] == pytest.approx(1.0)
    assert measure_slant(backward)[0] == pytest.approx(-1.0)
    assert measure_slant(upright)[0] == pytest.approx(0.0)
    assert measure_slant(np.zeros((1, 8, 8)))[0] == 0.0
    # sevens lean right in this data set
    ds = load_dataset("digits-captioned", "train")
    assert np.median(ds.attributes["slant"][ds.labels.numpy() == 7]) > 0


# ---------------------------------------------------------------- mri and faces


def test_digits_biased_generic_captions_are_biased_specific_ones_cover_both_values() -> None:
    """Fair Diffusion's setting in miniature: ≥ 80 % of generic captions show thick strokes, every digit is
    split 50/50 by its own median, and attribute-specific captions exist for both values."""
    train = load_dataset("digits-biased", "train")
    digits = load_dataset("digits", "train")
    assert torch.equal(train.images, digits.images) and torch.equal(train.labels, digits.labels)
    value, generic = train.attributes["thickness_value"], train.attributes["generic"]
    assert (value[generic] == "thick").mean() >= 0.85
    labels = train.labels.numpy()
    for d in range(10):
        assert abs((value[labels == d] == "thick").mean() - 0.5) < 0.03
    captions = np.asarray(train.captions)
    for v in ("thin", "thick"):
        specific = captions[~generic & (value == v)]
        assert len(specific) > 250 and all(v in c for c in specific)
    assert all(c.startswith("a handwritten ") and len(c.split()) == 3 for c in captions[generic])
    assert load_dataset("digits-biased", "test").captions == load_dataset("digits-biased", "test").captions


def test_mri_slices() -> None:
    train, test, every = (load_dataset("mri", s) for s in ("train", "test", "all"))
    _check_images(every, 113, (1, 32, 32))
    _check_images(train, 90, (1, 32, 32))
    _check_images(test, 23, (1, 32, 32))
    assert every.class_names == ["inferior", "middle", "superior"]
    assert np.bincount(every.labels.numpy()).tolist() == [38, 38, 37]
    z = every.attributes["z"]
    assert np.all(np.diff(z) == 1) and z[0] == 26 and z[-1] == 138
    # labels grow with z; test is every 5th slice; corners are background (-1)
    assert np.all(np.diff(every.labels.numpy()) >= 0)
    assert test.attributes["z"].tolist() == z[::5].tolist()
    assert float(every.images[:, :, 0, 0].max()) == -1.0
    assert torch.equal(load_dataset("mri", "test").images, test.images)


def test_faces_lfw() -> None:
    train, test, every = (load_dataset("faces-lfw", s) for s in ("train", "test", "all"))
    _check_images(every, 100, (1, 32, 32))
    _check_images(train, 80, (1, 32, 32))
    _check_images(test, 20, (1, 32, 32))
    assert train.labels is None and train.class_names is None
    assert set(train.attributes["index"]).isdisjoint(test.attributes["index"])
    assert torch.equal(load_dataset("faces-lfw", "test").images, test.images)


# ---------------------------------------------------------------- imagefolder


def _png(path: Path, size: tuple[int, int], value: int, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    color = (value, 255 - value, 0) if mode == "RGB" else value
    Image.new(mode, size, color).save(path)


def test_imagefolder_with_classes(tmp_path: Path) -> None:
    sizes = [(20, 20), (40, 25), (9, 50)]
    for i, s in enumerate(sizes):
        _png(tmp_path / "cats" / f"c{i}.png", s, 200)
        _png(tmp_path / "dogs" / f"d{i}.jpg", s, 30, mode="L")
    (tmp_path / "notes.txt").write_text("ignored")
    spec = f"imagefolder:{tmp_path}"
    every = load_dataset(spec, "all")
    _check_images(every, 6, (3, 32, 32))
    assert every.class_names == ["cats", "dogs"]
    assert every.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert every.attributes["file"][0] == "cats/c0.png"
    train, test = load_dataset(spec, "train"), load_dataset(spec, "test")
    assert (len(train), len(test)) == (5, 1)
    assert set(train.attributes["file"]).isdisjoint(test.attributes["file"])
    assert train.attributes["file"].tolist() == load_dataset(spec, "train").attributes["file"].tolist()
    gray = load_dataset(f"{spec}?size=16&channels=1", "all")
    _check_images(gray, 6, (1, 16, 16))
    assert float(gray.images[3].mean()) == pytest.approx(30 / 127.5 - 1, abs=1e-3)
    info = dataset_info(spec)
    assert (info.num_classes, info.channels, info.size, info.conditioning) == (2, 3, 32, ("none", "class"))


def test_imagefolder_flat(tmp_path: Path) -> None:
    for i in range(5):
        _png(tmp_path / f"img{i}.PNG", (12 + i, 12), 10 * i)
    ds = load_dataset(f"imagefolder:{tmp_path}", "all")
    assert ds.labels is None and ds.class_names is None and len(ds) == 5
    assert dataset_info(f"imagefolder:{tmp_path}").conditioning == ("none",)


def test_imagefolder_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(TrustgenError, match="not found") as err:
        load_dataset(f"imagefolder:{missing}")
    assert str(missing) in str(err.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TrustgenError, match="no images") as err:
        load_dataset(f"imagefolder:{empty}")
    assert str(empty) in str(err.value)
    afile = tmp_path / "file.png"
    _png(afile, (8, 8), 0)
    with pytest.raises(TrustgenError, match="not a directory"):
        load_dataset(f"imagefolder:{afile}")
    bad = tmp_path / "bad"
    _png(bad / "ok.png", (8, 8), 0)
    (bad / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(TrustgenError) as err:
        load_dataset(f"imagefolder:{bad}", "all")
    assert str(bad / "broken.png") in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(TrustgenError, match="channels must be 1 or 3"):
        load_dataset(f"imagefolder:{bad}?channels=2")
    with pytest.raises(TrustgenError, match="unknown option"):
        load_dataset(f"imagefolder:{bad}?sz=2")


# ---------------------------------------------------------------- partitions


def _label_entropy(labels: np.ndarray, parts: list[np.ndarray]) -> float:
    ent = []
    for p in parts:
        q = np.bincount(labels[p], minlength=10) / len(p)
        q = q[q > 0]
        ent.append(float(-(q * np.log(q)).sum()))
    return float(np.mean(ent))


def test_partition_iid() -> None:
    parts = partition_iid(1437, 5, seed=1)
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == 1437
    joined = np.concatenate(parts)
    assert len(np.unique(joined)) == 1437 and joined.min() == 0 and joined.max() == 1436
    assert all(np.array_equal(a, b) for a, b in zip(parts, partition_iid(1437, 5, seed=1), strict=True))
    assert not np.array_equal(parts[0], partition_iid(1437, 5, seed=2)[0])


def test_partition_dirichlet_skew_and_determinism() -> None:
    labels = load_dataset("digits", "train").labels.numpy()
    skewed = partition_dirichlet(labels, 5, alpha=0.1, seed=0)
    even = partition_dirichlet(labels, 5, alpha=100.0, seed=0)
    for parts in (skewed, even):
        joined = np.concatenate(parts)
        assert len(joined) == len(labels) == len(np.unique(joined))
        assert min(len(p) for p in parts) >= 10
    assert _label_entropy(labels, skewed) < 0.8 * _label_entropy(labels, even)
    assert _label_entropy(labels, even) > 0.95 * np.log(10)
    again = parse_partition("dirichlet:0.1", labels, 5, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(skewed, again, strict=True))


def test_partition_bad_specs() -> None:
    labels = np.repeat(np.arange(10), 20)
    with pytest.raises(TrustgenError, match="unknown partition"):
        parse_partition("shards:2", labels, 4)
    with pytest.raises(TrustgenError, match="dirichlet:ALPHA"):
        parse_partition("dirichlet:abc", labels, 4)
    with pytest.raises(TrustgenError, match="alpha must be > 0"):
        parse_partition("dirichlet:0", labels, 4)
    with pytest.raises(TrustgenError, match="needs labels"):
        parse_partition("dirichlet:0.5", None, 4)
    with pytest.raises(TrustgenError, match="cannot split"):
        partition_iid(3, 5)


def test_contiguous_partition_keeps_order_and_sizes():
    from trustgen.core.data import parse_partition

    parts = parse_partition("contiguous", np.zeros(10), 3)
    assert [p.tolist() for p in parts] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    with pytest.raises(TrustgenError, match="cannot split"):
        parse_partition("contiguous", np.zeros(2), 3)
