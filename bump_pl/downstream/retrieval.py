"""BM25 ranking of a user's history items against a question: the ``retrieved_history`` baseline.

LaMP's strong non-learned baseline puts the user's profile items most relevant to the question
(BM25 between the question input and each item) into the prompt. As there, the index is the user's
own history, so term statistics are those of that user's items. BM25 comes from ``bm25s`` (Okapi
BM25, ``k1=1.5``, ``b=0.75``, Lucene IDF; English stopwords removed).
"""

from __future__ import annotations

import bm25s


def _tokens(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(texts, stopwords="en", return_ids=False, show_progress=False)


def rank_by_bm25(query: str, documents: list[str]) -> list[int]:
    """Indices of ``documents`` from most to least relevant to ``query``.

    Equal scores (e.g. documents sharing no term with the query) keep the later document first:
    documents are a history in time order, so the more recent item wins a tie. With no indexable
    term at all the order is simply most recent first.
    """
    recent_first = list(range(len(documents) - 1, -1, -1))
    if not documents:
        return []
    corpus = bm25s.tokenize(documents, stopwords="en", show_progress=False)
    if not corpus.vocab:
        return recent_first
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    scores = retriever.get_scores(_tokens([query])[0])
    return sorted(recent_first, key=lambda index: -float(scores[index]))
