"""BM25 ranking of history items: the relevant item first, ties broken by recency, degenerate inputs."""

from __future__ import annotations

from bump_pl.downstream.retrieval import rank_by_bm25


def test_the_obviously_relevant_item_ranks_first() -> None:
    history = [
        "review: the kettle boils water fast and the handle stays cool",
        "review: a thriller novel with a twist ending",
        "review: running shoes that fit well on long runs",
        "review: another novel, a slow romance",
    ]
    order = rank_by_bm25("Rate this review: my new kettle boils water in a minute", history)
    assert order[0] == 0 and sorted(order) == [0, 1, 2, 3]
    assert rank_by_bm25("a twist ending in a thriller", history)[0] == 1


def test_ties_and_empty_inputs_fall_back_to_most_recent_first() -> None:
    assert rank_by_bm25("nothing shared", ["alpha beta", "gamma delta", "epsilon"]) == [2, 1, 0]
    assert rank_by_bm25("the a of", ["the", "a", "of"]) == [2, 1, 0]  # stopwords only: no index at all
    assert rank_by_bm25("anything", []) == []
