"""``ItemTemplate`` alone, and the data module writing held-out items with it for the judge."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bump_pl.data import BumpDataModule, LampFormatError
from bump_pl.data.item_template import ItemTemplate
from bump_pl.models.tiny import tiny_tokenizer

STARS = {"1": "hated", "2": "disliked", "3": "was lukewarm about", "4": "liked", "5": "loved"}


def test_render_maps_values_to_words_and_collapses_whitespace() -> None:
    template = ItemTemplate("The user {score}: {title}  ({genres}).", {"score": STARS})
    item = {"id": "m1", "title": "Heat\n(1995)", "genres": "Action, Crime", "score": "2"}
    assert template.render(item) == "The user disliked: Heat (1995) (Action, Crime)."
    assert template.fields == ["score", "title", "genres"]
    # numbers match the words of their text: 5, 5.0 and "5" are the same rating
    assert {template.render({**item, "score": value}) for value in (5, 5.0, "5")} == {"The user loved: Heat (1995) (Action, Crime)."}


@pytest.mark.parametrize(
    ("template", "words", "message"),
    [
        ("no fields at all", {}, "names no item field"),
        ("{score!r} stars", {}, "plain field name"),
        ("{score:>3} stars", {}, "plain field name"),
        ("{item[0]}", {}, "plain field name"),
        ("{title", {}, "heldout_template"),
        ("{title}", {"score": STARS}, r"does not use: \['score'\]"),
    ],
)
def test_bad_templates_are_refused_at_construction(template: str, words: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ItemTemplate(template, words)


def test_items_that_do_not_fit_the_template_are_named() -> None:
    template = ItemTemplate("{score}: {title}", {"score": STARS})
    with pytest.raises(ValueError, match=r"'m7' has no field 'title'"):
        template.render({"id": "m7", "score": "3"})
    with pytest.raises(ValueError, match=r"'m8': score '4.5' has no word"):
        template.render({"id": "m8", "score": "4.5", "title": "Heat"})


def _module(data_dir: Path, **kwargs: object) -> BumpDataModule:
    module = BumpDataModule(
        data_dir, tokenizer=tiny_tokenizer(), users_per_batch=4, heldout_per_user=3, min_context_items=2,
        max_prompt_tokens=None, seed=0, **kwargs,
    )
    module.setup("fit")
    return module


def test_heldout_items_are_written_by_the_template_and_prompts_are_unchanged(synthetic_lamp3: Path) -> None:
    template = ItemTemplate("The user {score} this: {text}", {"score": STARS})
    plain, templated = _module(synthetic_lamp3), _module(synthetic_lamp3, heldout_template=template)
    questions = json.loads((synthetic_lamp3 / "train_questions.json").read_text())
    items = {q["user_id"]: q["profile"] for q in questions}
    for split in ("train", "val"):
        loaders = (plain.train_dataloader(), templated.train_dataloader()) if split == "train" else (
            plain.val_dataloader(), templated.val_dataloader())
        for before, after in zip(*loaders):
            assert after.user_ids == before.user_ids and after.prompts == before.prompts
            assert after.context == before.context and after.heldout != before.heldout
            for user, old, new in zip(after.user_ids, before.heldout, after.heldout):
                # the same items are held out, written by the template instead of the task's rendering
                assert [line.removeprefix("text: ").split("; score: ")[0] for line in old] == [
                    line.split(" this: ", 1)[1] for line in new]
                assert all(line.split(" this: ")[0].removeprefix("The user ") in STARS.values() for line in new)
                if split == "train":
                    by_text = {item["text"]: item for item in items[user]}
                    assert [template.render(by_text[line.split(" this: ", 1)[1]]) for line in new] == new
            for prompt, heldout in zip(after.prompts, after.heldout):
                assert not any(line.split(" this: ", 1)[1] in prompt for line in heldout)


def test_an_item_the_template_cannot_write_names_the_file_and_user(synthetic_lamp3: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(synthetic_lamp3, data)
    path = data / "train_questions.json"
    questions = json.loads(path.read_text())
    questions[2]["profile"][5]["score"] = "4.5"
    path.write_text(json.dumps(questions))
    with pytest.raises(LampFormatError, match=rf"^{path}: user '{questions[2]['user_id']}': profile item .* score '4.5' has no word"):
        _module(data, heldout_template=ItemTemplate("{score}: {text}", {"score": STARS}))


def test_the_judge_sees_ratings_overlay_writes_every_movielens_item(movielens_dir: Path) -> None:
    import yaml

    overlay = Path(__file__).parents[2] / "experiments" / "overlays" / "judge_sees_ratings.yaml"
    template = ItemTemplate(**yaml.safe_load(overlay.read_text())["data"]["heldout_template"])
    module = _module(movielens_dir, heldout_template=template)
    batch = next(iter(module.val_dataloader()))
    for prompt, heldout in zip(batch.prompts, batch.heldout):
        for line in heldout:  # "The user liked Heat (1995) (Action)."
            word = next(word for word in template.value_words["score"].values() if line.startswith(f"The user {word} "))
            title = line.removeprefix(f"The user {word} ").rsplit(" (", 1)[0]
            assert title.endswith(")") and title not in prompt
