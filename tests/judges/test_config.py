"""Judges are buildable from YAML (class_path/init_args), as LightningCLI will build them."""

import pytest
from jsonargparse import ArgumentParser

from bump_pl.judges import CrossJudge, EmbeddingJudge, Judge

CROSS_YAML = """
judge:
  class_path: bump_pl.judges.CrossJudge
  init_args:
    model: tiny-random-llama
    yes_word: "True"
    no_word: "False"
    max_pairs_per_chunk: 7
    dtype: float32
"""
EMBEDDING_YAML = """
judge:
  class_path: bump_pl.judges.EmbeddingJudge
  init_args: {model: tiny-random-encoder, pooling: cls, item_instruction: "item: "}
"""


def _parser() -> ArgumentParser:
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--judge", type=Judge)
    return parser


def test_both_judges_build_from_yaml_through_the_protocol_type():
    parser = _parser()
    cross = parser.instantiate(parser.parse_string(CROSS_YAML)).judge
    assert isinstance(cross, CrossJudge) and cross.max_pairs_per_chunk == 7 and not cross.symmetric
    assert cross.yes_id == cross.tokenizer("T", add_special_tokens=False)["input_ids"][0]
    embedding = parser.instantiate(parser.parse_string(EMBEDDING_YAML)).judge
    assert isinstance(embedding, EmbeddingJudge) and embedding.pooling == "cls" and embedding.symmetric
    assert embedding.role_prefix["item"] == "item: "


def test_a_bad_literal_is_rejected_at_parse_time():
    with pytest.raises(Exception, match="pooling"):
        _parser().parse_string(EMBEDDING_YAML.replace("pooling: cls", "pooling: max"))
