"""Every shipped YAML parses through the real `bump` CLI, in every combination a README command uses."""

from pathlib import Path

import pytest
import yaml

from bump_pl.cli import main
from bump_pl.cli.config_files import with_bases
from bump_pl.downstream.settings import DownstreamSettings
from bump_pl.models.lora import LoraSettings

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ROOT_DOCS = CONFIGS.parent / "docs"
OVERLAYS = sorted((CONFIGS / "strategy").glob("*.yaml"))
LAMP_BASE = CONFIGS / "lamp" / "base.yaml"
CPU_BASE = CONFIGS / "cpu" / "base.yaml"
CPU_RUNS = ("tiny", "demo", "movielens_minilm", "movielens")
LAMP_TASKS = sorted((CONFIGS / "lamp").glob("LaMP_*.yaml"))
#: Every run a README command starts, as the configs it gives (several --config compose, left to right).
RUNS = [(CONFIGS / f"{name}.yaml",) for name in CPU_RUNS] + [(LAMP_BASE, task) for task in LAMP_TASKS]
#: The old LaMP configs' downstream answer lengths (``max_new_tokens`` of their DownstreamEvalCallback).
ANSWER_TOKENS = {"LaMP_1": 4, "LaMP_2": 8, "LaMP_3": 4, "LaMP_4": 64, "LaMP_5": 64, "LaMP_6": 64, "LaMP_7": 64}


def _print_config(capsys, *configs: Path) -> dict:
    args = ["fit"] + [arg for config in configs for arg in ("--config", str(config))] + ["--print_config"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code in (0, None), capsys.readouterr().err
    return yaml.safe_load(capsys.readouterr().out)


def _declared_model(configs: tuple[Path, ...]) -> str:
    """The ``model.model`` the given configs (each after its base) set last."""
    files = [Path(path) for config in configs for path in with_bases(str(config))]
    return [spec["model"]["model"] for spec in map(yaml.safe_load, (f.read_text() for f in files)) if "model" in (spec.get("model") or {})][-1]


def _name(configs: tuple[Path, ...]) -> str:
    return "+".join(config.relative_to(CONFIGS).as_posix() for config in configs)


def test_every_config_is_covered():
    names = {path.relative_to(CONFIGS).as_posix() for path in CONFIGS.rglob("*.yaml")}
    expected = {*(f"{name}.yaml" for name in CPU_RUNS), "cpu/base.yaml", "lamp/base.yaml", *(f"lamp/LaMP_{k}.yaml" for k in range(1, 8))}
    expected |= {f"strategy/{name}.yaml" for name in ("ddp", "fsdp", "deepspeed")}
    tested = {config.relative_to(CONFIGS).as_posix() for run in RUNS for config in run} | {
        path.relative_to(CONFIGS).as_posix() for path in OVERLAYS
    } | {CPU_BASE.relative_to(CONFIGS).as_posix()}
    assert expected <= names and names == tested


@pytest.mark.parametrize("configs", RUNS, ids=_name)
def test_every_run_parses_and_checkpoints_last(configs, capsys):
    resolved = _print_config(capsys, *configs)
    assert resolved["model"]["model"] == _declared_model(configs)
    checkpoints = [cb for cb in resolved["trainer"]["callbacks"] if cb["class_path"].endswith("ModelCheckpoint")]
    assert checkpoints and checkpoints[0]["init_args"]["save_last"] is True
    assert checkpoints[0]["init_args"]["every_n_train_steps"] > 0


@pytest.mark.parametrize("task", LAMP_TASKS, ids=lambda p: p.stem)
def test_a_lamp_task_file_names_its_data_run_and_answer_length_over_the_base(task, capsys):
    resolved = _print_config(capsys, LAMP_BASE, task)
    name = task.stem
    assert resolved["data"]["task"] == name and resolved["data"]["data_dir"] == f"data/{name}"
    logger = resolved["trainer"]["logger"]["init_args"]
    assert (logger["save_dir"], logger["name"]) == ("runs", name)
    (downstream,) = [cb for cb in resolved["trainer"]["callbacks"] if cb["class_path"].endswith("DownstreamEvalCallback")]
    settings = downstream["init_args"]["settings"]
    settings = DownstreamSettings(**{**settings, "lora": LoraSettings(**settings["lora"])})
    assert settings.backbone == "Qwen/Qwen2.5-1.5B-Instruct" and settings.for_task(name).max_answer_tokens == ANSWER_TOKENS[name]
    assert resolved["model"]["sampling"]["max_new_tokens"] == 128  # the profile's length, another setting


def test_a_lamp_task_file_alone_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(LAMP_TASKS[0]), "--print_config"])
    assert exit_info.value.code not in (0, None) and LAMP_TASKS[0].name in capsys.readouterr().err  # names the file


@pytest.mark.parametrize("base", [RUNS[0], (LAMP_BASE, CONFIGS / "lamp" / "LaMP_3.yaml")], ids=_name)
@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_strategy_overlay_composes(base, overlay, capsys):
    resolved = _print_config(capsys, *base, overlay)
    strategy = yaml.safe_load(overlay.read_text())["trainer"]["strategy"]
    if isinstance(strategy, dict):  # resolved init_args also list the class's defaults
        assert resolved["trainer"]["strategy"]["class_path"] == strategy["class_path"]
        resolved_args = resolved["trainer"]["strategy"]["init_args"]
        assert all(resolved_args[key] == value for key, value in strategy["init_args"].items())
    else:
        assert resolved["trainer"]["strategy"] == strategy
    assert resolved["model"]["model"] == _declared_model(base)  # the base survives


EXPERIMENT_OVERLAYS = sorted((CONFIGS.parent / "experiments" / "overlays").glob("*.yaml"))
#: The overlays of experiments/results.md whose recipe configs/movielens.yaml ships, in the order they were run.
SHIPPED_RECIPE = ("likelihood_rating", "margin", "rating_start", "judge_bf16", "negative_users")


def _leaves(tree: dict, prefix: str = "") -> dict[str, object]:
    """``{"a.b.c": value}`` of a nested mapping's leaves."""
    leaves = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        leaves.update(_leaves(value, f"{path}.") if isinstance(value, dict) else {path: value})
    return leaves


@pytest.mark.parametrize("overlay", EXPERIMENT_OVERLAYS, ids=lambda p: p.name)
def test_experiment_overlay_composes_with_the_experiments_base(overlay, capsys):
    resolved = _print_config(capsys, CONFIGS / "movielens_minilm.yaml", overlay)
    for path, value in _leaves(yaml.safe_load(overlay.read_text())).items():
        node = resolved
        for key in path.split("."):
            node = node[key]
        assert node == value, path
    assert resolved["model"]["model"] == "smollm2-135m-instruct"  # the base config survives the overlay


def test_the_shipped_movielens_config_is_the_measured_recipe(capsys):
    """configs/movielens.yaml resolves to the experiments' base with the recipe's overlays (as
    experiments/run.py composed them for docs/results.md), but for the run's name and length."""
    shipped = _leaves(_print_config(capsys, CONFIGS / "movielens.yaml"))
    overlays = [CONFIGS.parent / "experiments" / "overlays" / f"{name}.yaml" for name in SHIPPED_RECIPE]
    measured = _leaves(_print_config(capsys, CONFIGS / "movielens_minilm.yaml", *overlays))
    differing = {path for path in shipped.keys() | measured.keys() if shipped.get(path) != measured.get(path)}
    assert differing == {"trainer.logger.init_args.name", "trainer.max_steps", "trainer.val_check_interval"}
    assert shipped["trainer.max_steps"] == 16  # the length every downstream figure of the recipe was measured at
    assert shipped["model.judge.class_path"] == "bump_pl.judges.LikelihoodJudge"


@pytest.mark.parametrize("name", CPU_RUNS)
def test_a_cpu_config_is_a_short_overlay_of_the_one_cpu_base(name):
    path = CONFIGS / f"{name}.yaml"
    assert len(path.read_text().splitlines()) <= 30 and Path(with_bases(str(path))[0]) == CPU_BASE


#: Values the CPU configs had as whole files (before they became overlays of cpu/base.yaml), one per
#: block the base now holds; the full resolved configs were compared line by line when they moved
#: (movielens_minilm was configs/movielens.yaml until 2026-12-07, when the likelihood recipe took the name).
OLD_VALUES = {
    "tiny": {"trainer.accelerator": "cpu", "trainer.max_steps": 4, "trainer.logger.init_args.name": "tiny",
             "trainer.default_root_dir": "runs/tiny", "model.judge.init_args.model": "tiny-random-encoder",
             "model.judge.init_args.max_length": 128, "model.lora.rank": 4, "model.lora.dropout": 0.0,
             "model.grad_budget_tokens": "auto", "optimizer.init_args.lr": 0.001, "data.heldout_per_user": 2,
             "data.min_context_items": 2, "data.max_prompt_tokens": 768, "trainer.num_sanity_val_steps": 0},
    "demo": {"trainer.accelerator": "cpu", "trainer.max_steps": 16, "trainer.logger.init_args.name": "demo",
             "model.model": "smollm2-135m-instruct", "model.judge.init_args.model": "all-minilm-l6-v2",
             "model.lora.rank": 16, "model.sampling.max_new_tokens": 32, "model.grad_budget_tokens": 0,
             "optimizer.init_args.lr": 0.0005, "data.users_per_batch": 4, "data.max_prompt_tokens": 256,
             "trainer.enable_model_summary": False, "data.synthetic.num_users": 80},
    "movielens_minilm": {"trainer.accelerator": "cpu", "trainer.max_steps": 32,
                         "trainer.logger.init_args.name": "movielens_minilm",
                         "model.judge.class_path": "bump_pl.judges.EmbeddingJudge", "model.reward.copy_penalty": 0.5,
                         "model.lora.alpha": 32.0, "model.log_samples_every_n_steps": 4, "model.grad_budget_tokens": 0,
                         "data.task": "MovieLens_rating", "data.users_per_batch": 8, "data.heldout_per_user": 2},
}


@pytest.mark.parametrize("name", OLD_VALUES)
def test_a_cpu_overlay_resolves_to_what_the_whole_file_said(name, capsys):
    resolved = _print_config(capsys, CONFIGS / f"{name}.yaml")
    for path, value in OLD_VALUES[name].items():
        node = resolved
        for key in path.split("."):
            node = node[key]
        assert node == value, path
    callbacks = [cb["class_path"].rsplit(".", 1)[-1] for cb in resolved["trainer"]["callbacks"]]
    expected = ["ModelCheckpoint", "ProfileWriter"] if name == "movielens_minilm" else [
        "ModelCheckpoint", "ProfileCacheCallback", "DownstreamEvalCallback", "ProfileWriter"]
    assert callbacks == expected


def test_the_learning_rate_schedule_ends_at_max_steps():
    """``--trainer.max_steps N`` sizes a LinearLR decay to N steps (lamp/base.yaml's schedule, on tiny)."""
    from bump_pl.cli import build_cli

    schedule = ["--lr_scheduler", "LinearLR", "--lr_scheduler.start_factor", "1.0", "--lr_scheduler.end_factor", "0.1"]
    for steps in (3, 500):
        cli = build_cli(["--config", str(CONFIGS / "tiny.yaml"), "--trainer.max_steps", str(steps), *schedule], run=False)
        configured = cli.model.configure_optimizers()
        (scheduler,) = configured[1] if isinstance(configured, tuple) else [configured["lr_scheduler"]["scheduler"]]
        assert scheduler.total_iters == steps
    lamp = yaml.safe_load(LAMP_BASE.read_text())
    assert "total_iters" not in lamp["lr_scheduler"]["init_args"]  # nothing apart from max_steps to forget


def test_one_downstream_setting_is_overridden_without_repeating_the_block(tmp_path, capsys):
    """docs/training.md's overlay: callbacks merge by position, ``settings:`` key by key."""
    block = (ROOT_DOCS / "training.md").read_text().split("```yaml\ntrainer:\n  callbacks:", 1)[1].split("```", 1)[0]
    overlay = tmp_path / "more_sft.yaml"
    overlay.write_text("trainer:\n  callbacks:" + block)
    resolved = _print_config(capsys, LAMP_BASE, CONFIGS / "lamp" / "LaMP_3.yaml", overlay)
    (downstream,) = [cb for cb in resolved["trainer"]["callbacks"] if cb["class_path"].endswith("DownstreamEvalCallback")]
    settings = downstream["init_args"]["settings"]
    assert settings["max_train_examples"] == 500
    assert (settings["backbone"], settings["lr"], settings["context_tokens"]) == ("Qwen/Qwen2.5-1.5B-Instruct", 0.0002, 256)
    (checkpoint,) = [cb for cb in resolved["trainer"]["callbacks"] if cb["class_path"].endswith("ModelCheckpoint")]
    assert checkpoint["init_args"]["every_n_train_steps"] == 100  # the base's, kept
