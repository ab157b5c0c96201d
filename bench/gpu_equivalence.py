"""Check on a GPU what the CPU test suite cannot: the CUDA-only fast paths give the reference results.

    python bench/gpu_equivalence.py                 # cuda (the point of it)
    python bench/gpu_equivalence.py --device cpu    # same checks, CUDA graphs not involved (a test runs it)

1. Rollouts: shared-prompt decoding with CUDA graphs == without == ``generate`` on repeated
   prompts, greedy and seeded sampling, tokens compared exactly (float32 and bfloat16).
2. Cross judge: packed shared-prefix scores vs the naive one-sequence-per-pair path (max abs
   difference; float32 must be <= 1e-4, bfloat16 is reported).
3. The update's log-softmax (``selected_log_softmax``, in the device's default chunks and in many
   small ones) vs the float64 expression: log-probs, entropy and gradient (max abs difference;
   float32 must be <= 1e-5, bfloat16 logits are reported).

Uses the Qwen2-shaped random models of ``gpu_step.py`` (``--shape``, default tiny). The last line
printed is one JSON object; the exit status is 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json

import torch

from gpu_step import SHAPES, TINY_VOCAB, lamp_batch, random_model, word_tokenizer

from bump_pl.judges import CrossJudge
from bump_pl.models.rollout import SamplingSettings, generate_rollouts
from bump_pl.rl.selected_log_softmax import selected_log_softmax


def rollouts_equal(model, tokenizer, ids, mask, settings: SamplingSettings) -> dict[str, bool]:
    """Whether graphs / eager / generate give the same tokens from the same seed."""
    outputs = {}
    for name, kwargs in {"graphs": {}, "eager": {"cuda_graphs": False}, "generate": {"share_prompt": False}}.items():
        torch.manual_seed(0)
        outputs[name] = generate_rollouts(model, tokenizer, ids, mask, group_size=4, settings=settings, **kwargs).completion_ids
    return {
        "graphs_eq_eager": torch.equal(outputs["graphs"], outputs["eager"]),
        "eager_eq_generate": torch.equal(outputs["eager"], outputs["generate"]),
    }


def log_softmax_max_diffs(device: str, dtype: torch.dtype) -> dict[str, float]:
    """Largest differences of ``selected_log_softmax`` on ``device`` (``dtype`` logits, temperature 0.7)
    from the float64 expression: log-probs, entropy, and the gradient of a weighted sum of the log-probs."""
    gen = torch.Generator().manual_seed(0)
    logits, tokens = torch.randn(300, 1000, generator=gen) * 3, torch.randint(0, 1000, (300,), generator=gen)
    weights = torch.randn(300, generator=gen)
    reference = logits.to(dtype).double().requires_grad_()
    log_p = torch.log_softmax(reference / 0.7, -1)
    expected = log_p.gather(1, tokens[:, None]).squeeze(1)
    (expected * weights.double()).sum().backward()
    entropy = -(log_p.exp() * log_p).sum(-1).detach()
    diffs = {"logps": 0.0, "entropy": 0.0, "grad": 0.0}
    for chunk_rows in (None, 7):
        x = logits.to(device, dtype).clone().requires_grad_()  # a fresh leaf: .to() may return logits itself
        logps, ent = selected_log_softmax(x, tokens.to(device), 0.7, with_entropy=True, chunk_rows=chunk_rows)
        (logps * weights.to(device)).sum().backward()
        for name, got, want in (("logps", logps, expected), ("entropy", ent, entropy), ("grad", x.grad, reference.grad)):
            diffs[name] = max(diffs[name], (got.detach().double().cpu() - want.detach()).abs().max().item())
    return diffs


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--shape", default="tiny", choices=sorted(SHAPES))
    args = parser.parse_args(argv)
    tokenizer = word_tokenizer(TINY_VOCAB)
    batch = lamp_batch(users=3, prompt_tokens=24, heldout=2, item_tokens=6, vocab_size=TINY_VOCAB)
    ids, mask = batch.input_ids.to(args.device), batch.attention_mask.to(args.device)
    mask[1, :5] = 0  # one left-padded prompt
    report: dict = {"device": args.device, "shape": args.shape}
    ok = True
    for dtype_name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        model = random_model(args.shape, TINY_VOCAB, dtype).to(args.device).eval()
        for name, settings in {
            "greedy": SamplingSettings(max_new_tokens=24, greedy=True),
            "sample": SamplingSettings(max_new_tokens=24, temperature=0.8),
        }.items():
            checks = rollouts_equal(model, tokenizer, ids, mask, settings)
            report[f"{dtype_name}_{name}"] = checks
            ok &= all(checks.values()) if dtype == torch.float32 else checks["graphs_eq_eager"]
        texts = [item for items in batch.heldout for item in items]
        judge = dict(tokenizer=tokenizer, yes_word="w5", no_word="w6", dtype=dtype_name)
        packed, naive = CrossJudge(model, **judge), CrossJudge(model, share_prefix=False, **judge)
        diff = (packed.score(texts, texts, "item_to_profile") - naive.score(texts, texts, "item_to_profile")).abs().max().item()
        report[f"{dtype_name}_judge_max_abs_diff"] = diff
        ok &= diff <= 1e-4 if dtype == torch.float32 else True
        log_softmax = log_softmax_max_diffs(args.device, dtype)
        report[f"{dtype_name}_log_softmax_max_abs_diff"] = log_softmax
        ok &= max(log_softmax.values()) <= 1e-5 if dtype == torch.float32 else True
    report["ok"] = bool(ok)
    print(json.dumps(report))
    if not ok:
        raise SystemExit(1)
    return report


if __name__ == "__main__":
    main()
