"""The reusable core imports without Lightning, ``datasets`` or the LaMP metrics' ``nltk``/``rouge_score``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("lightning", "pytorch_lightning", "datasets", "nltk", "rouge_score")
LIGHT_MODULES = (
    "bump_pl.core.reward",
    "bump_pl.core.grpo",
    "bump_pl.core.copy_rate",
    "bump_pl.core.baselines",
    "bump_pl.metrics.functional",
    "bump_pl.metrics.ndcg",
    "bump_pl.judges",
    "bump_pl.data.tasks",
)


def loaded_after_import(module: str) -> set[str]:
    """Top-level names in ``sys.modules`` after importing ``module`` in a fresh interpreter."""
    code = f"import json, sys, {module}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_core_imports_load_no_heavy_dependency(module: str) -> None:
    assert loaded_after_import(module).isdisjoint(HEAVY)


def test_judge_protocol_alone_does_not_import_transformers() -> None:
    assert "transformers" not in loaded_after_import("bump_pl.judges.base")


def test_lazy_exports_resolve_and_reject_unknown_names() -> None:
    import bump_pl.data as data
    import bump_pl.metrics as metrics

    from bump_pl.metrics.functional import multi_positive_ndcg

    assert metrics.multi_positive_ndcg is multi_positive_ndcg
    assert "BumpDataModule" in dir(data)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = metrics.nope


def test_downstream_parser_and_lora_settings_load_no_torch() -> None:
    """``bump-downstream --help`` builds its parser from DownstreamSettings (with LoraSettings) only."""
    code = (
        "import json, sys; from bump_pl.cli.downstream import build_parser; build_parser();"
        " print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert set(json.loads(out.splitlines()[-1])).isdisjoint({"torch", "peft", "transformers", *HEAVY})


def test_every_package_folder_is_listed_for_the_wheel() -> None:
    """``pyproject.toml`` lists packages by hand (the ``callbacks/`` mapping needs it): a new folder must join."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {".".join(init.parent.relative_to(root).parts) for init in (root / "bump_pl").rglob("__init__.py")}
    assert folders - listed == set()
