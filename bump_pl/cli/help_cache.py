"""``bump SUBCOMMAND --help`` from a cache: building the LightningCLI parser imports Lightning and
torch (seconds), while the help text only changes with the code and the installed packages.

The text of ``bump fit --help`` (and validate/test/predict) is saved under the cache folder on first
use, keyed by everything it depends on: the size and modification time of every source file of
``bump_pl`` (which includes ``bump_pl.callbacks`` and the shipped configs), the versions of the
packages whose classes it lists, and the terminal width (argparse wraps to it). Any change misses
the cache and the help is built again. Only a bare ``bump SUBCOMMAND --help`` is cached: a
``--config`` changes the defaults it shows.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from importlib import metadata
from pathlib import Path

from bump_pl.cache_dir import cache_dir

SUBCOMMANDS = ("fit", "validate", "test", "predict")
PACKAGES = ("lightning", "jsonargparse", "torch", "transformers", "peft")


def is_bare_help(args: list[str]) -> bool:
    """Whether ``args`` is exactly ``SUBCOMMAND --help`` (or ``-h``)."""
    return len(args) == 2 and args[0] in SUBCOMMANDS and args[1] in ("-h", "--help")


def _source_roots() -> list[Path]:
    """The folders of ``bump_pl``, ``bump_pl.callbacks`` and ``bump_pl.configs`` (apart in a source tree)."""
    roots = []
    for package in ("bump_pl", "bump_pl.callbacks", "bump_pl.configs"):
        spec = importlib.util.find_spec(package)
        roots += [Path(path).resolve() for path in (spec.submodule_search_locations or [])] if spec else []
    return list(dict.fromkeys(roots))


def _key(subcommand: str) -> str:
    digest = hashlib.sha256(subcommand.encode())
    for root in _source_roots():
        for path in sorted(root.rglob("*")):
            if path.suffix in (".py", ".yaml") and path.is_file():
                stat = path.stat()
                digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    for package in PACKAGES:
        try:
            digest.update(f"{package}={metadata.version(package)}\n".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package}=-\n".encode())
    digest.update(f"columns={shutil.get_terminal_size().columns}".encode())
    return digest.hexdigest()[:24]


def help_path(subcommand: str) -> Path:
    """Where the help of ``subcommand`` for the current code and packages is (or would be) cached."""
    return cache_dir() / "help" / f"{subcommand}-{_key(subcommand)}.txt"


def cached_help(subcommand: str) -> str | None:
    """The cached help text, or None when there is none for the current code and packages."""
    path = help_path(subcommand)
    return path.read_text(encoding="utf-8") if path.is_file() else None


def store_help(subcommand: str, text: str) -> None:
    """Save the help text (atomically; a read-only cache folder is no error: the help was printed)."""
    path = help_path(subcommand)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}")
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
    except OSError:
        pass
