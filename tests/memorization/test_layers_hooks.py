"""Value-layer discovery, the deactivation hook, and the weight-patched export."""

from __future__ import annotations

import json

import pytest
import torch

from trustgen.core.errors import TrustgenError
from trustgen.memorization.hooks import count_unet_evals, deactivate, patched_unet
from trustgen.memorization.layers import all_neurons, as_pairs, check_neurons, from_pairs, value_layers

DOWN = "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_v"
MID = "mid_block.attentions.0.transformer_blocks.0.attn2.to_v"


def _inputs(model, n=3):
    g = torch.Generator().manual_seed(1)
    x = torch.randn((n, *model.image_shape), generator=g)
    text = model.text_encoder.encode(["a handwritten seven"] * n)
    return x, torch.full((n,), 50), {"encoder_hidden_states": text.tokens, "class_labels": text.pooled}


def test_layers_are_discovered_down_mid_then_up(tiny_text_model):
    unet = tiny_text_model.unet
    assert list(value_layers(unet)) == [DOWN, MID]
    with_up = list(value_layers(unet, include_up=True))
    assert with_up[:2] == [DOWN, MID] and len(with_up) == 4 and all(n.startswith("up_blocks") for n in with_up[2:])
    every = all_neurons(value_layers(unet))
    assert list(every) == [DOWN, MID] and every[MID] == list(range(value_layers(unet)[MID].out_features))
    assert from_pairs(as_pairs(every)) == every and from_pairs([[MID, 3], [MID, 1]]) == {MID: [3, 1]}


def test_no_cross_attention_and_fused_projections_are_refused(tiny_text_model):
    from diffusers import UNet2DModel

    plain = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16),
                        norm_num_groups=4, down_block_types=("DownBlock2D", "DownBlock2D"),
                        up_block_types=("UpBlock2D", "UpBlock2D"))
    with pytest.raises(TrustgenError, match="no cross-attention"):
        value_layers(plain)
    import copy

    fused = copy.deepcopy(tiny_text_model.unet)
    fused.fuse_qkv_projections()
    with pytest.raises(TrustgenError, match="fused"):
        value_layers(fused)


def test_neuron_indices_are_checked(tiny_text_model):
    layers = value_layers(tiny_text_model.unet)
    assert check_neurons({MID: [3, 1, 3]}, layers) == {MID: [1, 3]}
    with pytest.raises(TrustgenError, match="out of range"):
        check_neurons({MID: [16]}, layers)
    with pytest.raises(TrustgenError, match="unknown value layer"):
        check_neurons({"mid_block.nope": [0]}, layers)


def test_hook_zeroes_exactly_the_chosen_neurons_and_is_removed(tiny_text_model):
    unet = tiny_text_model.unet
    layer = value_layers(unet)[MID]
    seen: list[torch.Tensor] = []
    spy = layer.register_forward_hook(lambda _m, _i, out: seen.append(out.detach().clone()))
    x, t, kw = _inputs(tiny_text_model)
    try:
        with torch.no_grad():
            ref = unet(x, t, **kw).sample
            with deactivate(unet, {MID: [2, 5]}):
                off = unet(x, t, **kw).sample
            again = unet(x, t, **kw).sample
    finally:
        spy.remove()
    # the spy was registered first, so it sees the raw output; the model saw the hooked one
    assert torch.equal(ref, again)  # hooks are gone after the block
    assert not torch.allclose(ref, off)
    hooked_layer_out = []
    h = layer.register_forward_hook(lambda _m, _i, out: hooked_layer_out.append(out))
    with torch.no_grad(), deactivate(unet, {MID: [2, 5]}):
        inner = []
        h2 = layer.register_forward_hook(lambda _m, _i, out: inner.append(out))
        unet(x, t, **kw)
        h2.remove()
    h.remove()
    out = inner[0]
    assert torch.count_nonzero(out[..., [2, 5]]) == 0
    keep = [i for i in range(out.shape[-1]) if i not in (2, 5)]
    assert torch.equal(out[..., keep], seen[0][..., keep])


def test_scale_one_is_identity_and_bad_index_fails_before_hooking(tiny_text_model):
    unet = tiny_text_model.unet
    x, t, kw = _inputs(tiny_text_model)
    with torch.no_grad():
        ref = unet(x, t, **kw).sample
        with deactivate(unet, {MID: [0, 1]}, scale=1.0):
            same = unet(x, t, **kw).sample
    assert torch.equal(ref, same)
    with pytest.raises(TrustgenError, match="out of range"), deactivate(unet, {MID: [99]}):
        pass
    assert all(not layer._forward_hooks for layer in value_layers(unet, include_up=True).values())


def test_patched_weights_match_the_hook_and_count_evals(tiny_text_model):
    unet = tiny_text_model.unet
    neurons = {DOWN: [0, 7], MID: [3]}
    x, t, kw = _inputs(tiny_text_model, n=4)
    with torch.no_grad(), deactivate(unet, neurons):
        hooked = unet(x, t, **kw).sample
    patched = patched_unet(unet, neurons)
    with torch.no_grad(), count_unet_evals(patched) as evals:
        baked = patched(x, t, **kw).sample
        patched(x[:1], t[:1], **{k: v[:1] for k, v in kw.items()})
    assert torch.allclose(hooked, baked, atol=1e-6)
    assert evals[0] == 5
    assert torch.count_nonzero(value_layers(patched)[MID].weight[3]) == 0
    assert torch.count_nonzero(value_layers(unet)[MID].weight[3]) > 0  # the original is untouched


def test_export_reloads_in_diffusers_and_reproduces_the_hooked_model(tiny_text_model, tmp_path):
    from diffusers import UNet2DConditionModel

    from trustgen.memorization.export import export_patched

    neurons = {MID: [1, 4]}
    folder = export_patched(tiny_text_model, neurons, tmp_path / "patched", source="tiny",
                            why={f"{MID}:1": ["a memorized caption"]})
    reloaded = UNet2DConditionModel.from_pretrained(str(folder / "unet")).eval()
    x, t, kw = _inputs(tiny_text_model)
    with torch.no_grad():
        with deactivate(tiny_text_model.unet, neurons):
            hooked = tiny_text_model.unet(x, t, **kw).sample
        exported = reloaded(x, t, **kw).sample
    assert torch.allclose(hooked, exported, atol=1e-5)
    card = (folder / "README.md").read_text()
    assert f"`{MID}` | 1 | a memorized caption" in card and f"`{MID}` | 4 |" in card
    record = json.loads((folder / "memorization.json").read_text())
    assert record["neurons"] == [[MID, 1], [MID, 4]]
