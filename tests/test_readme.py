"""The README is a guide: short, its contents list leads to each task's command, its commands run as
written, and every page it or docs/ links to exists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from bump_pl.cli import main as bump
from bump_pl.cli.data import main as bump_data

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
LINES = README.splitlines()
#: The six things users come for: the contents entry's section and the command that must open it.
TASKS = {
    "Quick start": "make demo",
    "Install": "pip install bump-pl",
    "Train on LaMP or on your own data": "bump fit --config lamp/base --config lamp/LaMP_3",
    "Multiple GPUs and clusters": "--config strategy/ddp",
    "Evaluate profiles downstream": "bump-downstream --data_dir",
    "Reuse the reward: in Python, inside TRL's GRPOTrainer": "from bump_pl.core.reward import",
}
#: Linked pages written on another branch (issue 36: docs/clusters.md); drop an entry once it is merged.


def sections() -> dict[str, int]:
    """``## heading`` -> its line index."""
    return {line[3:]: n for n, line in enumerate(LINES) if line.startswith("## ")}


def commands() -> list[list[str]]:
    """The ``bump``/``bump-data`` commands of the README's ``bash`` blocks, continuation lines joined, comments cut."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] in ("bump", "bump-data"):
                found.append(words)
    return found


def test_readme_is_short_and_lists_every_task_up_front():
    assert len(LINES) <= 300
    contents = LINES[: LINES.index("## Quick start")]
    heads = sections()
    for title, command in TASKS.items():
        anchor = re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")
        assert any(f"(#{anchor})" in line for line in contents), title
        start = heads[title]
        assert any(command in line for line in LINES[start : start + 60]), (title, command)


def test_no_dated_measurement_outside_results_at_a_glance():
    heads = sections()
    glance = range(heads["Results at a glance"], heads["Troubleshooting"])
    dated = [n for n, line in enumerate(LINES) if re.search(r"\b20\d\d-\d\d-\d\d\b", line) and n not in glance]
    assert dated == []


def test_the_readme_commands_run_as_written(tmp_path, monkeypatch, capsys):
    """``bump configs`` and ``bump-data synth`` run; every ``bump fit``/``predict`` parses (``--print_config``)."""
    monkeypatch.chdir(tmp_path)
    found = commands()
    assert ["bump", "configs"] in found and any(words[1] == "fit" for words in found)
    for words in found:
        if words[:2] == ["bump", "configs"]:
            with pytest.raises(SystemExit) as done:
                bump(words[1:])
            assert done.value.code == 0 and "cpu/base" in capsys.readouterr().out
        elif words[:2] == ["bump-data", "synth"]:
            assert bump_data(words[1:]) == 0
            assert (tmp_path / words[words.index("--out") + 1] / "train_questions.json").is_file()
            capsys.readouterr()
        elif words[0] == "bump" and words[1] in ("fit", "predict"):
            with pytest.raises(SystemExit) as done:
                bump([*words[1:], "--print_config"])
            out = capsys.readouterr()
            assert done.value.code in (0, None), (words, out.err)
            assert "model" in yaml.safe_load(out.out), words


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a Markdown page's headings (lower case, punctuation dropped, spaces to ``-``)."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_every_linked_page_and_heading_exists():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            path = (page.parent / target).resolve() if target else page
            assert path.exists(), f"{page.name} links to missing {target}"
            if anchor and path.suffix == ".md" and path.exists():
                assert anchor in anchors(path), f"{page.name} links to {target}#{anchor}: no such heading"
