"""A judge as plain data (``{"class_path", "init_args"}``) and back: how checkpoints keep the judge.

The judge is not an ``nn.Module`` and holds no trained weights, so a checkpoint keeps how to build
it instead: its class path and the arguments it was constructed with, the same shape as a
LightningCLI ``judge:`` entry. Each judge records its own arguments with :func:`record_init_args`
(``self.init_args``). Arguments that are objects (a loaded ``model``/``tokenizer``) cannot be
written down; :func:`judge_config` lists them under ``not_recorded`` and :func:`build_judge`
refuses such a config with a message that says to pass the judge itself.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Mapping
from typing import Any

from bump_pl.did_you_mean import did_you_mean, unknown_name
from bump_pl.judges.base import Judge

_PLAIN = (str, int, float, bool, type(None))
_TRUSTED_PACKAGE = "bump_pl.judges"
#: The judges ``--model.judge`` names (short, as a config may write them, or under ``bump_pl.judges.``).
JUDGE_NAMES: tuple[str, ...] = ("EmbeddingJudge", "CrossJudge", "LikelihoodJudge")


def record_init_args(init: Callable[..., None], values: Mapping[str, Any]) -> dict[str, Any]:
    """``init``'s arguments (without ``self``) as called, from the ``locals()`` at the top of ``init``.

    Called first thing in a judge's ``__init__`` (before any argument is reassigned):
    ``self.init_args = record_init_args(CrossJudge.__init__, locals())``.
    """
    return {name: values[name] for name in inspect.signature(init).parameters if name != "self"}


def _is_plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_is_plain(item) for item in value)
    if isinstance(value, Mapping):
        return all(isinstance(key, str) and _is_plain(item) for key, item in value.items())
    return isinstance(value, _PLAIN)


def class_path(cls: type) -> str:
    """The shortest import path of ``cls`` (``bump_pl.judges.CrossJudge``, as a CLI config writes it)."""
    parts = cls.__module__.split(".")
    for end in range(1, len(parts) + 1):
        package = ".".join(parts[:end])
        if getattr(sys.modules.get(package), cls.__name__, None) is cls:
            return f"{package}.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def judge_config(judge: Judge) -> dict[str, Any]:
    """``{"class_path", "init_args"}`` of ``judge``, plus ``"not_recorded"`` (argument names) when some
    arguments are objects, or ``["init_args"]`` when the judge records none."""
    config: dict[str, Any] = {"class_path": class_path(type(judge)), "init_args": {}}
    recorded = getattr(judge, "init_args", None)
    if not isinstance(recorded, Mapping):
        config["not_recorded"] = ["init_args"]
        return config
    config["init_args"] = {name: value for name, value in recorded.items() if _is_plain(value)}
    objects = [name for name in recorded if name not in config["init_args"]]
    if objects:
        config["not_recorded"] = objects
    return config


def _judge_class(path: str) -> type:
    """The class at ``path``: importable only under ``bump_pl.judges``, else already imported."""
    module_name, _, name = path.rpartition(".")
    if module_name == _TRUSTED_PACKAGE or module_name.startswith(_TRUSTED_PACKAGE + "."):
        module = importlib.import_module(module_name)
    else:
        module = sys.modules.get(module_name)
    cls = getattr(module, name, None) if module is not None else None
    if not (isinstance(cls, type) and callable(getattr(cls, "score", None)) and callable(getattr(cls, "to", None))):
        raise ValueError(
            f"model.judge: class_path {path!r} is not a judge under {_TRUSTED_PACKAGE} or an already-imported Judge"
            " class (import its module first, or pass the judge object)"
        )
    return cls


def check_judge_name(name: str) -> None:
    """Refuse a judge class name that is not one of :data:`JUDGE_NAMES` (short or under
    ``bump_pl.judges``), naming the nearest; a class path outside ``bump_pl.judges`` is left to import.

    Raises:
        ValueError: ``unknown judge 'EmbedingJudge': did you mean 'EmbeddingJudge'? (known: ...)``.
    """
    module_name, _, short = name.rpartition(".")
    trusted = not module_name or module_name == _TRUSTED_PACKAGE or module_name.startswith(_TRUSTED_PACKAGE + ".")
    if trusted and short not in JUDGE_NAMES:
        raise ValueError(unknown_name("judge", name, JUDGE_NAMES))


def check_judge_init_args(cls: type, init_args: Mapping[str, Any]) -> None:
    """Refuse ``init_args`` keys that ``cls.__init__`` does not take, naming the nearest one it does.

    Raises:
        ValueError: ``model.judge.init_args: EmbeddingJudge takes no 'poolng': did you mean 'pooling'? ...``.
    """
    parameters = inspect.signature(cls.__init__).parameters
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()):
        return
    accepted = [name for name in parameters if name != "self"]
    for key in init_args:
        if key not in accepted:
            hint = did_you_mean(key, accepted)
            raise ValueError(
                f"model.judge.init_args: {cls.__name__} takes no {key!r}: {hint + ' ' if hint else ''}"
                f"(it takes: {', '.join(accepted)})"
            )


def build_judge_class(name: str) -> type:
    """The judge class ``name`` names (short, as ``EmbeddingJudge``, or a class path), checked by
    :func:`check_judge_name` first."""
    check_judge_name(name)
    return _judge_class(name if "." in name else f"{_TRUSTED_PACKAGE}.{name}")


def build_judge(config: Mapping[str, Any]) -> Judge:
    """The judge that :func:`judge_config` wrote down.

    Raises:
        ValueError: one line, when the config is malformed, names an unknown or untrusted class or
            an argument its class does not take (with the nearest known name), or lacks
            arguments that were objects (pass ``judge=`` to ``BumpModule.load_from_checkpoint``).
    """
    if not isinstance(config.get("class_path"), str) or not isinstance(config.get("init_args", {}), Mapping):
        raise ValueError(f"model.judge: expected {{'class_path': str, 'init_args': dict}}, got {dict(config)!r}")
    if config.get("not_recorded"):
        raise ValueError(
            f"model.judge: the saved judge {config['class_path']} was built from objects that hyperparameters cannot"
            f" hold ({', '.join(config['not_recorded'])}); pass the judge itself, e.g."
            " BumpModule.load_from_checkpoint(path, judge=...)"
        )
    cls = build_judge_class(config["class_path"])
    check_judge_init_args(cls, config.get("init_args", {}))
    return cls(**config.get("init_args", {}))
