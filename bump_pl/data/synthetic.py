"""Synthetic LaMP-format users whose histories really differ, for the demo and the tests.

Every user has latent preferences that shape both their profile items and their question's gold:

- ``LaMP_3`` (review rating): a rating bias, favourite topics (rated higher), a persona, personal
  pet words and a sign-off. The question's review text is neutral, so its score is predictable
  from the user's profile (bias, favourite topics) rather than from the review alone.
- ``LaMP_2`` (movie tagging): preferred tags and favourite settings. Descriptions mix phrases of the true tag and of a
  distractor tag, so the user's preferences disambiguate the question.
- ``LaMP_7`` (tweet paraphrase): favourite topics, hashtags, emoticons, casing and slang; the
  question is a neutral tweet whose gold is the user's styled version.

Files are written in LaMP's layout (``{split}_questions.json`` with ``user_id`` and dated profile
items, ``{split}_outputs.json``), users split 70/15/15 across train/dev/test. The output is a pure
function of the arguments.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bump_pl.atomic_files import write_folder_once
from bump_pl.data import synthetic_vocab as vocab
from bump_pl.data.tasks import LAMP2_TAGS, canonical_task_name
from bump_pl.did_you_mean import unknown_name

SYNTHETIC_TASKS = ("LaMP_2", "LaMP_3", "LaMP_7")
_DEFAULT_WORDS = {"LaMP_2": 30, "LaMP_3": 40, "LaMP_7": 14}

LAMP3_PROMPT = (
    "What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5"
    " without further explanation. review: "
)
LAMP2_PROMPT = (
    "Which tag does this movie relate to among the following tags? Just answer with the tag name without"
    f" further explanation. tags: [{', '.join(LAMP2_TAGS)}] description: "
)
LAMP7_PROMPT = "Paraphrase the following tweet without any explanation before or after it: "


@dataclass
class _User:
    """Latent preferences of one synthetic user (only the fields its task uses matter)."""

    rng: random.Random
    topics: list[str]
    bias: float
    persona: str
    pet_words: list[str]
    sign_off: str
    tags: list[str]
    settings: list[str]
    hashtags: list[str]
    emoticon: str
    lowercase: bool
    slang: bool


def _make_user(rng: random.Random, task: str) -> _User:
    topic_pool = list(vocab.TWEET_TOPICS if task == "LaMP_7" else vocab.REVIEW_TOPICS)
    return _User(
        rng=rng,
        topics=rng.sample(topic_pool, 2),
        bias=rng.uniform(-1.5, 1.5),
        persona=rng.choice(vocab.PERSONAS),
        pet_words=rng.sample(vocab.PET_WORDS, 3),
        sign_off=rng.choice(vocab.SIGN_OFFS),
        tags=rng.sample(LAMP2_TAGS, 3),
        settings=rng.sample(vocab.MOVIE_SETTINGS, 2),
        hashtags=rng.sample(vocab.HASHTAGS, 2),
        emoticon=rng.choice(vocab.EMOTICONS),
        lowercase=rng.random() < 0.5,
        slang=rng.random() < 0.5,
    )


def _pad(sentences: list[str], fillers: tuple[str, ...], rng: random.Random, words: int) -> str:
    """Join sentences, inserting fillers before the last one until the text has ``words`` words."""
    body, last = sentences[:-1], sentences[-1:]
    while len(" ".join(body + last).split()) < words:
        body.append(rng.choice(fillers))
    return " ".join(body + last)


def _review(user: _User, words: int, neutral: bool) -> tuple[str, int]:
    """A review (text, stars) by ``user``; ``neutral`` leaves out the sentiment sentence."""
    rng = user.rng
    topic = rng.choice(user.topics) if rng.random() < 0.75 else rng.choice(list(vocab.REVIEW_TOPICS))
    products, details = vocab.REVIEW_TOPICS[topic]
    affinity = 1.0 if topic in user.topics else -0.7
    stars = max(1, min(5, round(3 + user.bias + affinity + rng.gauss(0.0, 0.5))))
    pet = rng.choice(user.pet_words)
    product = rng.choice(products)
    sentences = [f"{user.persona}, I bought this {product} and it {pet} {rng.choice(details)}."]
    if not neutral:
        sentences.append(rng.choice(vocab.SENTIMENT[stars]))
    sentences.append(f"{pet.capitalize()}, {rng.choice(user.pet_words)} worth a look. {user.sign_off}")
    fillers = (*vocab.NEUTRAL_SENTENCES, *(f"It {d}." for d in details))
    return _pad(sentences, fillers, rng, words), stars


def _movie(user: _User, words: int) -> tuple[str, str]:
    """A movie (description, tag) the user tagged; the description also hints at a distractor tag."""
    rng = user.rng
    tag = rng.choice(user.tags) if rng.random() < 0.85 else rng.choice(LAMP2_TAGS)
    distractor = rng.choice([t for t in LAMP2_TAGS if t != tag])
    setting = rng.choice(user.settings) if rng.random() < 0.8 else rng.choice(vocab.MOVIE_SETTINGS)
    sentences = [
        f"{rng.choice(vocab.MOVIE_OPENERS)} {rng.choice(vocab.TAG_PHRASES[tag])}"
        f" and {rng.choice(vocab.TAG_PHRASES[distractor])} {setting}.",
        f"Expect {rng.choice(vocab.TAG_PHRASES[tag])}.",
    ]
    return _pad(sentences, vocab.MOVIE_FILLERS, rng, words), tag


def _style(user: _User, text: str) -> str:
    """The user's styled version of a neutral tweet."""
    tokens = text.split()
    if user.slang:
        tokens = [vocab.SLANG.get(token, token) for token in tokens]
    styled = " ".join(tokens)
    styled = styled.lower() if user.lowercase else styled[:1].upper() + styled[1:]
    return f"{styled} {user.emoticon} {' '.join(user.hashtags)}"


def _tweet(user: _User, words: int) -> tuple[str, str]:
    """A tweet as (neutral text, the user's styled text)."""
    rng = user.rng
    topic = rng.choice(user.topics) if rng.random() < 0.8 else rng.choice(list(vocab.TWEET_TOPICS))
    sentences = [rng.choice(vocab.TWEET_TOPICS[topic])]
    budget = max(1, words - 4)
    while len(" ".join(sentences).split()) < budget:
        sentences.append(rng.choice(vocab.TWEET_FILLERS) if rng.random() < 0.5 else rng.choice(vocab.TWEET_TOPICS[topic]))
    neutral = ", ".join(sentences)
    return neutral, _style(user, neutral)


def _user_record(user: _User, task: str, uid: str, qid: str, items: int, words: int) -> tuple[dict[str, Any], str]:
    """One LaMP question (with ``user_id`` and a dated profile) and its gold output."""
    day = date(2015, 1, 1) + timedelta(days=user.rng.randrange(0, 1500))
    profile = []
    for number in range(items):
        day += timedelta(days=user.rng.randint(1, 20))
        item: dict[str, Any] = {"id": f"{uid}-{number}"}
        if task == "LaMP_3":
            text, stars = _review(user, words, neutral=False)
            item.update(text=text, score=str(stars))
        elif task == "LaMP_2":
            description, tag = _movie(user, words)
            item.update(description=description, tag=tag)
        else:
            item["text"] = _tweet(user, words)[1]
        item["date"] = day.isoformat()
        profile.append(item)
    if task == "LaMP_3":
        text, stars = _review(user, words, neutral=True)
        query, gold = LAMP3_PROMPT + text, str(stars)
    elif task == "LaMP_2":
        description, gold = _movie(user, words)
        query = LAMP2_PROMPT + description
    else:
        neutral, gold = _tweet(user, words)
        query = LAMP7_PROMPT + neutral
    return {"id": qid, "user_id": uid, "input": query, "profile": profile}, gold


def write_synthetic_lamp(
    out_dir: str | Path,
    task: str,
    num_users: int,
    seed: int,
    items_per_user: int = 40,
    words_per_item: int | None = None,
) -> dict[str, int]:
    """Write train/dev/test questions and outputs for ``num_users`` synthetic users.

    Args:
        out_dir: destination folder (created).
        task: ``LaMP_2``, ``LaMP_3`` or ``LaMP_7`` (any accepted spelling).
        num_users: total users (at least 3: every split gets one or more).
        seed: the output is a pure function of the arguments.
        items_per_user: profile items per user.
        words_per_item: approximate words per item text (task default when None).

    Returns:
        ``{split: number of users}``.
    """
    name = canonical_task_name(task)
    if name not in SYNTHETIC_TASKS:
        raise ValueError(f"{unknown_name('synthetic task', task, SYNTHETIC_TASKS)}: synthetic data exists for these only")
    if num_users < 3 or items_per_user < 1:
        raise ValueError(f"need num_users >= 3 and items_per_user >= 1, got {num_users} and {items_per_user}")
    words = words_per_item if words_per_item is not None else _DEFAULT_WORDS[name]
    order = list(range(num_users))
    random.Random(f"split:{seed}:{name}").shuffle(order)
    n_dev = n_test = max(1, round(0.15 * num_users))
    n_train = num_users - n_dev - n_test
    splits = {"train": order[:n_train], "dev": order[n_train : n_train + n_dev], "test": order[n_train + n_dev :]}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for split, indices in splits.items():
        questions, golds = [], []
        for index in sorted(indices):
            user = _make_user(random.Random(f"user:{seed}:{name}:{index}"), name)
            uid, qid = f"u{index}", f"{name.lower()}-q{index}"
            question, gold = _user_record(user, name, uid, qid, items_per_user, words)
            questions.append(question)
            golds.append({"id": qid, "output": gold})
        (out / f"{split}_questions.json").write_text(json.dumps(questions, indent=1), encoding="utf-8")
        (out / f"{split}_outputs.json").write_text(json.dumps({"task": name, "golds": golds}, indent=1), encoding="utf-8")
    return {split: len(indices) for split, indices in splits.items()}


@dataclass(frozen=True)
class SyntheticUsers:
    """Synthetic LaMP users made on the fly: the demo's and the tests' data (see ``write_synthetic_lamp``)."""

    task: str = "LaMP_3"
    num_users: int = 64
    seed: int = 0
    items_per_user: int = 40
    words_per_item: int | None = None

    @property
    def folder_name(self) -> str:
        words = "default" if self.words_per_item is None else str(self.words_per_item)
        return f"{canonical_task_name(self.task)}-u{self.num_users}-s{self.seed}-i{self.items_per_user}-w{words}"


def ensure_synthetic_lamp(spec: SyntheticUsers, root: str | Path) -> Path:
    """The folder ``root/<spec.folder_name>``, written once: into a temporary sibling, then renamed.

    An interrupted write never leaves a half data set under the final name.
    """
    return write_folder_once(
        Path(root) / spec.folder_name,
        lambda folder: write_synthetic_lamp(
            folder, spec.task, spec.num_users, spec.seed, spec.items_per_user, spec.words_per_item
        ),
    )
