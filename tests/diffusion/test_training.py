"""Training loop: bit-exact resume, atomic checkpoints, timestep bands."""

from __future__ import annotations

import shutil

import pytest
import torch

from trustgen.core.errors import CorruptFileError, TrustgenError
from trustgen.diffusion.checkpoint import latest_checkpoint
from trustgen.diffusion.training import _Batches, learning_rate, new_model, train_diffusion


class Killed(Exception):
    pass


def test_killed_and_resumed_run_matches_uninterrupted(tmp_path, tiny_settings, digits_train):
    settings = tiny_settings(steps=6, checkpoint_every=3)
    full = train_diffusion(settings, digits_train, out_dir=tmp_path / "full")

    def kill_at_4(step, loss):
        if step == 4:
            raise Killed

    with pytest.raises(Killed):
        train_diffusion(settings, digits_train, out_dir=tmp_path / "resumed", on_step=kill_at_4)
    ckpt = latest_checkpoint(tmp_path / "resumed")
    assert ckpt is not None and ckpt.name == "step-0000003"
    resumed = train_diffusion(settings, digits_train, out_dir=tmp_path / "resumed", resume_from=ckpt)

    a, b = full.model.unet.state_dict(), resumed.model.unet.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert full.losses[3:] == resumed.losses


def test_same_seed_same_weights_other_seed_differs(tiny_settings, digits_train):
    w = [train_diffusion(tiny_settings(seed=s, steps=3), digits_train).model.unet.conv_in.weight for s in (1, 1, 2)]
    assert torch.equal(w[0], w[1])
    assert not torch.equal(w[0], w[2])


def test_partial_checkpoints_are_ignored(tmp_path, tiny_settings, digits_train):
    train_diffusion(tiny_settings(steps=3, checkpoint_every=3), digits_train, out_dir=tmp_path)
    ckpts = tmp_path / "checkpoints"
    (ckpts / ".step-0000006.partial").mkdir()
    half = ckpts / "step-0000009"
    shutil.copytree(ckpts / "step-0000003", half)
    (half / "state.json").unlink()  # a copy killed before its last file
    assert latest_checkpoint(tmp_path) == ckpts / "step-0000003"


def test_resume_into_a_different_shape_is_a_clear_error(tmp_path, tiny_settings, digits_train):
    train_diffusion(tiny_settings(steps=3), digits_train, out_dir=tmp_path)
    wider = tiny_settings(steps=6, unet={"block_out_channels": (16, 16), "norm_num_groups": 4})
    with pytest.raises(CorruptFileError, match="does not fit"):
        train_diffusion(wider, digits_train, resume_from=latest_checkpoint(tmp_path))


def test_corrupt_checkpoint_is_a_clear_error(tmp_path, tiny_settings, digits_train):
    train_diffusion(tiny_settings(steps=3), digits_train, out_dir=tmp_path)
    ckpt = latest_checkpoint(tmp_path)
    (ckpt / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CorruptFileError):
        train_diffusion(tiny_settings(steps=6), digits_train, resume_from=ckpt)


def test_timestep_band_and_conditioning_dropout(tiny_settings, digits_train):
    settings = tiny_settings(t_min=10, t_max=20, conditioning="class", batch_size=512, cond_dropout=0.25)
    model = new_model(settings, digits_train)
    x0, t, noise, kwargs = _Batches(model, digits_train, settings, "cpu").draw(torch.Generator().manual_seed(0))
    assert x0.shape == noise.shape == (512, 1, 16, 16)
    assert int(t.min()) >= 10 and int(t.max()) < 20
    null = (kwargs["class_labels"] == 10).float().mean().item()
    assert 0.18 < null < 0.32  # the CFG "no class" token replaces ~25 % of labels


def test_learning_rate_warms_up_then_decays(tiny_settings):
    s = tiny_settings(steps=100, warmup_steps=10, lr=1e-3)
    assert learning_rate(s, 0) == pytest.approx(1e-4)
    assert learning_rate(s, 9) == pytest.approx(1e-3)
    assert learning_rate(s, 99) == pytest.approx(1e-4, rel=0.05)


def test_training_reduces_the_loss(tiny_settings, digits_train):
    result = train_diffusion(tiny_settings(steps=60, batch_size=32, lr=3e-3, warmup_steps=5), digits_train)
    first, last = sum(result.losses[:10]) / 10, sum(result.losses[-10:]) / 10
    assert last < 0.7 * first


def test_init_from_starts_from_a_zoo_model_and_checks_it(tiny_settings, digits_train):
    from trustgen.core.data import load_dataset
    from trustgen.diffusion.bundle import load_model

    with pytest.raises(TrustgenError, match="init_from"):
        new_model(tiny_settings(conditioning="class", init_from="digits-t2i"), digits_train)
    captioned = load_dataset("digits-captioned", "train")
    model = new_model(tiny_settings(conditioning="text", init_from="digits-t2i"), captioned)
    reference = load_model("digits-t2i").unet.state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in model.unet.state_dict().items())
    assert model.meta["init_from"] == "digits-t2i" and model.meta["dataset"] == "digits-captioned"


def test_init_from_with_pooled_text_off_removes_only_the_pooled_path(tiny_settings):
    from trustgen.core.data import load_dataset
    from trustgen.diffusion.bundle import load_model
    from trustgen.diffusion.config import UNetSettings
    from trustgen.diffusion.models import text_inputs
    from trustgen.diffusion.training import without_pooled_text

    captioned = load_dataset("digits-captioned", "train")
    unet = UNetSettings(pooled_text=False)
    model = new_model(tiny_settings(conditioning="text", init_from="digits-t2i", unet=unet), captioned)
    assert model.unet.class_embedding is None and model.unet.config.class_embed_type is None
    reference = load_model("digits-t2i").unet
    assert reference.config.class_embed_type == "projection"  # the zoo model itself keeps its path
    ref = reference.state_dict()
    kept = model.unet.state_dict()
    assert set(ref) - set(kept) == {k for k in ref if k.startswith("class_embedding.")}
    assert all(torch.equal(v, ref[k]) for k, v in kept.items())
    text = model.text_encoder.encode(["a handwritten 3"])
    assert set(text_inputs(model.unet, text)) == {"encoder_hidden_states"}  # text enters by cross-attention only
    x, t = torch.zeros(1, 1, 16, 16), torch.tensor([500])
    with torch.no_grad():
        assert model.unet(x, t, **text_inputs(model.unet, text)).sample.shape == x.shape
    assert without_pooled_text(model.unet) is model.unet  # nothing left to remove
