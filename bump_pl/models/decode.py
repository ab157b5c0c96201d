"""Token-by-token decoding from a prefilled prompt cache in preallocated buffers.

The shared-prompt rollout loop (:mod:`bump_pl.models.rollout`) used to grow a ``DynamicCache``
by one column per token, i.e. re-allocate and copy every layer's keys and values at each step.
Here the cache is a transformers ``StaticCache`` of length ``P + T`` allocated once, the
attention mask is one ``[n, 1, 1, P + T]`` additive tensor updated in place, and rows that
finished are dropped from the batch (the cache is compacted) once at most half of the rows
still decode. On CUDA one decode step is captured as a CUDA graph per batch size (launch
overhead dominates a 128-row step of a 1.5B model); on CPU the step runs eagerly.

Only full-attention decoder-only models are supported (as in :mod:`bump_pl.models.prefix`).
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor
from transformers import DynamicCache, PreTrainedModel, StaticCache

from bump_pl.models.prefix import additive_mask


def static_cache_from_prefix(cache: DynamicCache, rows: Tensor, config, cache_len: int) -> StaticCache:
    """A ``StaticCache`` of ``cache_len`` slots whose row ``n`` starts as prefix row ``rows[n]``.

    Args:
        cache: prefix cache, per layer ``[B, heads, P, head_dim]``.
        rows: ``[N]`` long, which prefix each decoding row continues.
        cache_len: ``P + max_new_tokens`` slots; the write position starts at ``P``.
    """
    static = StaticCache(config=config, max_cache_len=cache_len)
    if len(static.layers) != len(cache.layers):
        raise ValueError(f"decode.py: static cache has {len(static.layers)} layers, the prefix {len(cache.layers)}")
    for target, source in zip(static.layers, cache.layers):
        target.update(source.keys.index_select(0, rows), source.values.index_select(0, rows))
    return static


def compact_cache(cache: StaticCache, keep: Tensor) -> None:
    """Keep only batch rows ``keep`` ``[n]`` of every layer of ``cache`` (in place, new storage)."""
    for layer in cache.layers:
        layer.keys = layer.keys.index_select(0, keep)
        layer.values = layer.values.index_select(0, keep)
        layer.batch_size = int(keep.shape[0])


def _forward_step(model: PreTrainedModel, cache: StaticCache, ids: Tensor, positions: Tensor, mask4d: Tensor) -> Tensor:
    """``[n, V]`` next-token logits for one token per row (``ids``/``positions`` ``[n, 1]``)."""
    out = model(
        input_ids=ids, attention_mask=mask4d, position_ids=positions, cache=cache, use_cache=True, logits_to_keep=1
    )
    return out.logits[:, -1]


def _set_write_position(cache: StaticCache, position: int) -> None:
    """Point every layer's next write at slot ``position`` (in place: CUDA graphs keep the address)."""
    for layer in cache.layers:
        layer.cumulative_length.fill_(position)


class _GraphStep:
    """One decode step of ``n`` rows captured as a CUDA graph, replayed with new inputs."""

    def __init__(self, model: PreTrainedModel, cache: StaticCache, ids: Tensor, positions: Tensor, mask4d: Tensor, slot: int):
        self.ids, self.positions, self.mask4d = ids.clone(), positions.clone(), mask4d.clone()
        # Keep the caller's autocast (e.g. Lightning's bf16-mixed) but without its weight-cast
        # cache, whose tensors would be freed under the captured graph (torch.cuda.graph docs).
        autocast = torch.autocast(
            "cuda", dtype=torch.get_autocast_dtype("cuda"), enabled=torch.is_autocast_enabled("cuda"), cache_enabled=False
        )
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), autocast:  # warm-up writes the same slot the real step writes next
            for _ in range(2):
                _set_write_position(cache, slot)
                _forward_step(model, cache, self.ids, self.positions, self.mask4d)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        _set_write_position(cache, slot)
        with torch.cuda.graph(self.graph), autocast:
            self.logits = _forward_step(model, cache, self.ids, self.positions, self.mask4d)

    def __call__(self, ids: Tensor, positions: Tensor, mask4d: Tensor) -> Tensor:
        self.ids.copy_(ids)
        self.positions.copy_(positions)
        self.mask4d.copy_(mask4d)
        self.graph.replay()
        return self.logits


class StaticDecoder:
    """Runs decode steps over a preallocated cache; drops finished rows; CUDA graphs on CUDA.

    Args:
        model: the policy (eval mode, no grad: the caller's job).
        cache: from :func:`static_cache_from_prefix`, batch ``N``.
        key_mask: ``[N, P + T]`` 0/1, the prompt mask followed by zeros.
        prompt_len: ``P``, the first write slot.
        cuda_graphs: capture the step as a CUDA graph (ignored off CUDA).
    """

    def __init__(self, model: PreTrainedModel, cache: StaticCache, key_mask: Tensor, prompt_len: int, cuda_graphs: bool):
        self.model, self.cache, self.prompt_len = model, cache, prompt_len
        self.key_mask = key_mask.clone()
        self.active = torch.arange(key_mask.shape[0], device=key_mask.device)  # rows in the cache, in order
        self.use_graphs = cuda_graphs and key_mask.is_cuda
        self.graph: _GraphStep | None = None

    def step(self, step: int, tokens: Tensor, positions: Tensor, done: Tensor) -> tuple[Tensor, Tensor]:
        """Feed token ``step`` of every row; return ``(rows [n], logits [n, V])`` for the rows computed.

        Args:
            tokens: ``[N]`` the tokens just drawn (pad for finished rows).
            positions: ``[N]`` their position ids.
            done: ``[N]`` bool, rows that finished (dropped once at most half the batch is active).
        """
        self.key_mask[:, self.prompt_len + step] = 1
        live = ~done.index_select(0, self.active)
        n_live = int(live.sum())
        if 2 * n_live <= self.active.shape[0]:
            keep = live.nonzero().squeeze(1)
            compact_cache(self.cache, keep)
            self.active = self.active.index_select(0, keep)
            self.key_mask = self.key_mask.index_select(0, keep)
            self.graph = None
        ids = tokens.index_select(0, self.active).unsqueeze(1)
        pos = positions.index_select(0, self.active).unsqueeze(1)
        mask4d = additive_mask(self.key_mask.bool(), self.model.dtype)[:, None, None, :]
        slot = self.prompt_len + step
        if self.use_graphs:
            logits = self._graph_step(ids, pos, mask4d, slot)
            if logits is not None:
                return self.active, logits
        _set_write_position(self.cache, slot)
        return self.active, _forward_step(self.model, self.cache, ids, pos, mask4d)

    def _graph_step(self, ids: Tensor, pos: Tensor, mask4d: Tensor, slot: int) -> Tensor | None:
        """CUDA-only: replay (capturing first if the batch changed); None, with a warning, if capture fails."""
        try:
            if self.graph is None:
                self.graph = _GraphStep(self.model, self.cache, ids, pos, mask4d, slot)
            _set_write_position(self.cache, slot)
            return self.graph(ids, pos, mask4d)
        except RuntimeError as error:  # e.g. a host sync inside a custom model's forward
            warnings.warn(f"decode.py: CUDA graph capture failed, decoding eagerly ({error})", stacklevel=2)
            self.use_graphs, self.graph = False, None
            return None
