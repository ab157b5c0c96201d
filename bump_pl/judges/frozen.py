"""A frozen model + tokenizer pair: what every judge holds, resolved from a name or given as objects.

Judges take plain constructor values (so LightningCLI/jsonargparse can build them from YAML):
``model`` is a name, folder or offline alias resolved with :mod:`bump_pl.models.loading`, or an
already-loaded model passed together with its ``tokenizer`` (tests, library users). Either way
the judge owns the model afterwards: it is cast to ``dtype``, moved to ``device``, put in eval
mode and every parameter gets ``requires_grad = False``.
"""

from __future__ import annotations

from typing import Literal

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from typing_extensions import Self

ModelKind = Literal["encoder", "causal_lm"]
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_judge_model(name: str, kind: ModelKind, dtype: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load ``name`` (Hub id, folder or alias) as an encoder or a causal LM, plus its tokenizer.

    The loaders are imported here, not at module import, so the judges work with model objects
    even where :mod:`bump_pl.models.loading` is unavailable.
    """
    from bump_pl.models.loading import load_causal_lm, load_encoder, load_tokenizer

    model = load_causal_lm(name, dtype=dtype) if kind == "causal_lm" else load_encoder(name, dtype=dtype)
    return model, load_tokenizer(name)


class FrozenModelHolder:
    """Owns a frozen model and its tokenizer; the common base of :class:`EmbeddingJudge` and :class:`CrossJudge`.

    Args:
        model: name/folder/alias to load, or a loaded ``PreTrainedModel``.
        tokenizer: required when ``model`` is an object; ignored (loaded) when it is a name.
        kind: how to load a named model.
        device: e.g. ``"cpu"``, ``"cuda:0"``; None keeps the model where it is (CPU when loaded).
        dtype: one of ``"float32"``, ``"bfloat16"``, ``"float16"``.
    """

    def __init__(
        self,
        model: str | PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase | None,
        kind: ModelKind,
        device: str | None,
        dtype: str,
    ) -> None:
        owner = type(self).__name__
        if kind not in ("encoder", "causal_lm"):
            raise ValueError(f"{owner}: model kind must be 'encoder' or 'causal_lm', got {kind!r}")
        if dtype not in DTYPES:
            raise ValueError(f"{owner}: dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        if isinstance(model, str):
            model, tokenizer = load_judge_model(model, kind, dtype)
        elif not isinstance(model, torch.nn.Module):
            raise TypeError(f"{owner}: model must be a name/path or a loaded model, got {type(model).__name__}")
        elif tokenizer is None:
            raise ValueError(f"{owner}: pass `tokenizer` together with a loaded model object")
        model = model.to(dtype=DTYPES[dtype])
        if device is not None:
            model = model.to(device)
        model.eval()
        model.requires_grad_(False)
        self.model = model
        self.tokenizer = tokenizer

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters."""
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> Self:
        """Move the model to ``device`` (e.g. from ``LightningModule.on_fit_start``); returns self."""
        self.model.to(device)
        return self
