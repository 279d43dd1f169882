"""Every encoder trustgen loads comes back in its own layout, loadable by its own library."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from trustgen.core.errors import TrustgenError
from trustgen.name_removal.encoders import load_text_model

TEXTS = ["a photo of Barack Obama", "a red bicycle on a beach"]


def _perturbed(encoder):
    student = __import__("copy").deepcopy(encoder.model)
    with torch.no_grad():
        student.get_input_embeddings().weight.add_(0.01 * torch.randn_like(student.get_input_embeddings().weight))
    return student


def test_minilm_is_written_as_a_sentence_transformers_folder(tmp_path):
    encoder = load_text_model("minilm")
    assert (encoder.layout, encoder.pooling) == ("minilm", "mean")
    student = _perturbed(encoder)
    out = encoder.save(student, tmp_path / "m")
    assert (out / "modules.json").is_file() and (out / "1_Pooling" / "config.json").is_file()
    assert (out / "model.safetensors").is_file() and not list(out.glob("*.bin"))
    reloaded = load_text_model(str(out))
    assert reloaded.layout == "sentence-transformers"
    assert torch.allclose(reloaded.embed(TEXTS), encoder.embed(TEXTS, student), atol=1e-5)
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(out), device="cpu")
    got = torch.as_tensor(st.encode(TEXTS))
    want = torch.nn.functional.normalize(encoder.embed(TEXTS, student), dim=-1)
    assert torch.allclose(got, want, atol=1e-4)


def test_the_clip_text_transformer_is_written_as_a_transformers_folder(tmp_path):
    from transformers import AutoModel, AutoTokenizer

    encoder = load_text_model("clip")
    assert encoder.pooling == "eos"
    student = _perturbed(encoder)
    out = encoder.save(student, tmp_path / "c")
    assert len(AutoTokenizer.from_pretrained(str(out))) == 49408
    assert type(AutoModel.from_pretrained(str(out))).__name__ == "CLIPTextModel"
    assert torch.allclose(load_text_model(str(out)).embed(TEXTS), encoder.embed(TEXTS, student), atol=1e-5)


def test_a_pipeline_folder_gets_its_text_encoder_replaced(tmp_path):
    from diffusers import StableDiffusionPipeline

    from tiny_sd import tiny_sd_components

    pipe = StableDiffusionPipeline(**tiny_sd_components(), safety_checker=None, feature_extractor=None,
                                   image_encoder=None, requires_safety_checker=False)
    pipe.save_pretrained(tmp_path / "sd")
    encoder = load_text_model(str(tmp_path / "sd"))
    assert (encoder.layout, encoder.pooling) == ("pipeline", "eos")
    student = _perturbed(encoder)
    out = encoder.save(student, tmp_path / "out")
    loaded = StableDiffusionPipeline.from_pretrained(str(out), safety_checker=None)
    assert torch.equal(loaded.text_encoder.get_input_embeddings().weight, student.get_input_embeddings().weight)
    assert torch.equal(next(loaded.unet.parameters()), next(pipe.unet.parameters()))


def test_a_zoo_bundle_with_the_package_minilm_gets_its_own_text_encoder(tmp_path):
    from trustgen.diffusion.bundle import load_model

    encoder = load_text_model("digits-t2i")
    assert (encoder.layout, encoder.max_length) == ("bundle", 16)
    student = _perturbed(encoder)
    out = encoder.save(student, tmp_path / "b")
    assert json.loads((out / "trustgen.json").read_text())["text_encoder"] == "pipeline"
    assert not (out / "card.json").exists()
    model = load_model(out)
    features = model.text_encoder.encode(TEXTS)
    assert model.text_encoder.max_length == 16
    assert torch.allclose(features.pooled, encoder.embed(TEXTS, student), atol=1e-4)


@pytest.mark.parametrize("make", ["empty", "unet", "file", "missing"])
def test_what_is_not_a_text_encoder_is_refused(tmp_path, make):
    path = tmp_path / "x"
    if make == "empty":
        path.mkdir()
    elif make == "unet":
        from trustgen.core.zoo import ZOO_DIR

        shutil.copytree(ZOO_DIR / "digits-ddpm" / "unet", path)
    elif make == "file":
        path.write_text("hello")
    with pytest.raises(TrustgenError, match="not a text encoder|no such folder"):
        load_text_model(str(path))
