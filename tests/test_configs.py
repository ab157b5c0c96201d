"""Every shipped YAML parses through the real `bump` CLI (overlays on top of tiny.yaml)."""

from pathlib import Path

import pytest
import yaml

from bump_pl.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
OVERLAYS = sorted((CONFIGS / "strategy").glob("*.yaml"))
STANDALONE = sorted(set(CONFIGS.rglob("*.yaml")) - set(OVERLAYS))


def _print_config(capsys, *configs: Path) -> dict:
    args = ["fit"] + [arg for config in configs for arg in ("--config", str(config))] + ["--print_config"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code in (0, None), capsys.readouterr().err
    return yaml.safe_load(capsys.readouterr().out)


def test_every_config_is_covered():
    names = {path.relative_to(CONFIGS).as_posix() for path in STANDALONE + OVERLAYS}
    expected = {"tiny.yaml", "demo.yaml", *(f"lamp/LaMP_{k}.yaml" for k in range(1, 8))}
    expected |= {f"strategy/{name}.yaml" for name in ("ddp", "fsdp", "deepspeed")}
    assert expected <= names


@pytest.mark.parametrize("config", STANDALONE, ids=lambda p: p.relative_to(CONFIGS).as_posix())
def test_standalone_config_parses_and_checkpoints_last(config, capsys):
    resolved = _print_config(capsys, config)
    source = yaml.safe_load(config.read_text())
    assert resolved["model"]["model"] == source["model"]["model"]
    checkpoints = [cb for cb in resolved["trainer"]["callbacks"] if cb["class_path"].endswith("ModelCheckpoint")]
    assert checkpoints and checkpoints[0]["init_args"]["save_last"] is True
    assert checkpoints[0]["init_args"]["every_n_train_steps"] > 0


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_strategy_overlay_composes_with_tiny(overlay, capsys):
    resolved = _print_config(capsys, CONFIGS / "tiny.yaml", overlay)
    strategy = yaml.safe_load(overlay.read_text())["trainer"]["strategy"]
    if isinstance(strategy, dict):  # resolved init_args also list the class's defaults
        assert resolved["trainer"]["strategy"]["class_path"] == strategy["class_path"]
        resolved_args = resolved["trainer"]["strategy"]["init_args"]
        assert all(resolved_args[key] == value for key, value in strategy["init_args"].items())
    else:
        assert resolved["trainer"]["strategy"] == strategy
    assert resolved["model"]["model"] == "tiny-random-llama"  # the base config survives the overlay


EXPERIMENT_OVERLAYS = sorted((CONFIGS.parent / "experiments" / "overlays").glob("*.yaml"))


def _leaves(tree: dict, prefix: str = "") -> dict[str, object]:
    """``{"a.b.c": value}`` of a nested mapping's leaves."""
    leaves = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        leaves.update(_leaves(value, f"{path}.") if isinstance(value, dict) else {path: value})
    return leaves


@pytest.mark.parametrize("overlay", EXPERIMENT_OVERLAYS, ids=lambda p: p.name)
def test_experiment_overlay_composes_with_movielens(overlay, capsys):
    resolved = _print_config(capsys, CONFIGS / "movielens.yaml", overlay)
    for path, value in _leaves(yaml.safe_load(overlay.read_text())).items():
        node = resolved
        for key in path.split("."):
            node = node[key]
        assert node == value, path
    assert resolved["model"]["model"] == "smollm2-135m-instruct"  # the base config survives the overlay
