"""Mitigations (nemo, embedding, attention, finetune), the re-trigger search and `mitigate` bad input."""

from __future__ import annotations

import pytest
import torch

from cli_support import assert_bad_input, trustgen
from conftest import MEMORIZED, OTHERS


def test_logit_edit_processor_is_plain_attention_when_unedited_and_changes_output_when_edited(tiny_text_model):
    from trustgen.diffusion.attention import cross_attention_names, edit_cross_attention
    from trustgen.diffusion.models import text_inputs

    unet = tiny_text_model.unet
    feats = tiny_text_model.text_encoder.encode([MEMORIZED])
    kw = text_inputs(unet, feats.expand(2))
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([50, 50])
    with torch.no_grad():
        plain = unet(x, t, **kw).sample
        with edit_cross_attention(unet):
            same = unet(x, t, **kw).sample
        drop = torch.zeros(1, feats.tokens.shape[1], dtype=torch.bool)
        drop[0, 3:] = True
        with edit_cross_attention(unet, scale=torch.full((1, feats.tokens.shape[1]), 2.0), drop=drop):
            edited = unet(x, t, **kw).sample
        after = unet(x, t, **kw).sample
    assert cross_attention_names(unet)
    assert torch.allclose(plain, same, atol=1e-5)
    assert not torch.allclose(plain, edited, atol=1e-4)
    assert torch.equal(plain, after)  # processors restored


def test_attention_needs_cross_attention(memorizing_model):
    from trustgen.core.errors import TrustgenError
    from trustgen.diffusion.attention import edit_cross_attention
    from trustgen.memorization.mitigation import make_mitigation

    with pytest.raises(TrustgenError, match="no cross-attention"):
        make_mitigation("attention").prepare(memorizing_model, [MEMORIZED], OTHERS)
    with pytest.raises(TrustgenError, match="no cross-attention"), edit_cross_attention(memorizing_model.unet):
        pass
    with pytest.raises(TrustgenError, match="unknown mitigation method"):
        make_mitigation("prune-everything")


def test_embedding_optimisation_lowers_the_text_conditional_noise_norm(memorizing_model):
    """Wen et al.: the optimised features move the memorizing prompt's prediction towards the empty prompt's."""
    from trustgen.memorization.config import MitigationSettings
    from trustgen.memorization.mitigation import initial_latents, make_mitigation, text_noise_norm

    m = memorizing_model
    mit = make_mitigation("embedding", MitigationSettings(embed_target_loss="none", embed_iters=15, embed_lr=0.05))
    mit.prepare(m, [MEMORIZED], OTHERS)
    text = m.text_encoder.encode([MEMORIZED])
    x = initial_latents(m, 4, 0)
    new = mit.features(m, MEMORIZED, text, x, steps=10)
    null = m.text_encoder.encode([""])
    t = 999
    with torch.no_grad():
        eps_null = m.unet(x, torch.full((4,), t), encoder_hidden_states=null.tokens.expand(4, -1, -1)).sample
        before = float(text_noise_norm(m, x, t, text.tokens, text.pooled, eps_null))
        after = float(text_noise_norm(m, x, t, new.tokens, new.pooled, eps_null))
    assert after < 0.5 * before
    assert torch.equal(new.tokens[:, 0], text.tokens[:, 0])  # beginning token frozen
    # a target above the current loss stops before the first step
    mit.target_loss = before + 1
    assert torch.equal(mit.features(m, MEMORIZED, text, x, steps=10).tokens, text.tokens)


def test_nemo_and_finetune_mitigate_the_synthetic_memorization_and_the_search_stays_in_its_ball(memorizing_model):
    """The synthetic UNet memorizes through value neurons 0 and 1: NeMo's switch-off removes the pattern; the
    fine-tune trains the gate shut; the re-trigger search returns features within its radius."""
    from trustgen.memorization.config import MitigationSettings
    from trustgen.memorization.mitigation import make_mitigation
    from trustgen.memorization.retrigger import perturb_embedding

    m = memorizing_model
    layer = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_v"
    plain = make_mitigation("nemo", neurons={MEMORIZED: {}}).generate(m, MEMORIZED, 2, 0, 5)
    nemo = make_mitigation("nemo", neurons={MEMORIZED: {layer: [0, 1]}})
    nemo.prepare(m, [MEMORIZED], OTHERS)
    off = nemo.generate(m, MEMORIZED, 2, 0, 5)
    assert (plain - off).abs().max() > 0.1
    assert nemo.record()["num_neurons_union"] == 2
    s = MitigationSettings(ft_steps=30, ft_lr=1e-2, ft_batch=4, ft_images=4)
    ft = make_mitigation("finetune", s, steps=5)
    ft.prepare(m, [MEMORIZED], OTHERS)
    first, last = ft.info["forget_loss_first_last"]
    assert last < 0.5 * first
    text = m.text_encoder.encode([MEMORIZED])
    image = torch.zeros(1, 1, 16, 16)
    new, search = perturb_embedding(m, nemo.unet_context(m, MEMORIZED), text, image, radius=0.1, steps=3, batch=2,
                                    seed=0)
    assert search["delta_norm"] <= search["radius"] * 1.0001
    assert (new.tokens - text.tokens).norm() <= 0.1 * text.tokens.norm() * 1.0001


def test_mitigate_bad_input_exits_2(tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("Velvet Compass album artwork\n", encoding="utf-8")
    r = trustgen("memorization", "mitigate", "--model", "digits-t2i-memorized", "--prompts", prompts,
                 "--method", "lobotomy", "--out", tmp_path / "run")
    assert_bad_input(r, "unknown mitigation method", "nemo")
    r = trustgen("memorization", "mitigate", "--model", "digits-ddpm", "--prompts", prompts,
                 "--method", "attention", "--out", tmp_path / "run")
    assert_bad_input(r, "not text-conditional", "cross-attention")
    r = trustgen("memorization", "evaluate", "--compare", "--methods", "nemo,lobotomy", "--model",
                 "digits-t2i-memorized", "--out", tmp_path / "run")
    assert_bad_input(r, "unknown mitigation method")


@pytest.mark.slow
def test_mitigate_nothing_to_do_exits_0(tmp_path):
    """A prompt file without memorized captions: calibrated on the model's own lists (small settings), says so."""
    import json

    prompts = tmp_path / "p.txt"
    prompts.write_text("a handwritten seven\na thick upright 3\n", encoding="utf-8")
    r = trustgen("memorization", "mitigate", "--model", "digits-t2i-memorized", "--prompts", prompts,
                 "--method", "embedding", "--out", tmp_path / "run", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["nothing_to_do"] is True and out["num_memorized"] == 0
