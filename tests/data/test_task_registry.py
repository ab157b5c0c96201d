"""Task registry: name spellings, labels, metric families and item rendering."""

import pytest

from bump_pl.data.tasks import LAMP2_TAGS, canonical_task_name, get_task, known_tasks


@pytest.mark.parametrize("name", ["LaMP_3", "LaMP-3", "lamp3", "lamp_3", "LAMP 3", " LaMP-3 "])
def test_spellings_resolve_to_one_task(name: str) -> None:
    assert canonical_task_name(name) == "LaMP_3"
    assert get_task(name).fields == ("text", "score")


def test_registry_contents() -> None:
    assert known_tasks() == [f"LaMP_{k}" for k in range(1, 8)]
    metrics = {name: get_task(name).metric for name in known_tasks()}
    assert metrics == {
        "LaMP_1": "classification", "LaMP_2": "classification", "LaMP_3": "regression",
        "LaMP_4": "generation", "LaMP_5": "generation", "LaMP_6": "generation", "LaMP_7": "generation",
    }
    assert get_task("LaMP_1").labels == ("[1]", "[2]")
    assert get_task("LaMP_3").labels == ("1", "2", "3", "4", "5")
    assert len(LAMP2_TAGS) == 15 and len(set(LAMP2_TAGS)) == 15 and "true story" in LAMP2_TAGS
    assert get_task("LaMP_2").labels == LAMP2_TAGS
    assert get_task("LaMP_7").labels is None


def test_known_task_renders_its_fields_in_order_on_one_line() -> None:
    item = {"id": "7", "date": "2020", "score": 5, "text": "Great\nkettle,\t boils  fast.", "extra": "ignored"}
    assert get_task("LaMP_3").render(item) == "text: Great kettle, boils fast.; score: 5"


def test_unknown_task_renders_scalar_fields_but_id_and_date() -> None:
    spec = get_task("MovieLens_rating")
    assert spec.name == "MovieLens_rating" and not spec.known and spec.labels is None
    item = {"id": "ml1-2", "title": "Go (1999)", "genres": "Comedy, Crime", "score": "5", "date": "964983000", "tags": ["x"]}
    assert spec.render(item) == "title: Go (1999); genres: Comedy, Crime; score: 5"


def test_item_without_text_field_is_an_error() -> None:
    with pytest.raises(ValueError, match="no text field for LaMP_7"):
        get_task("LaMP-7").render({"id": "t1", "date": "2020-01-01", "title": "not a tweet field"})
    with pytest.raises(ValueError, match="no text field"):
        get_task("custom").render({"id": "x", "date": "2020-01-01"})
