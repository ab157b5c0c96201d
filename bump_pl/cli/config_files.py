"""The configs shipped inside the package, found by name as well as by path.

``configs/`` of the source tree is installed as the package ``bump_pl.configs`` (see
``pyproject.toml``), so a wheel carries every config. ``bump fit --config tiny`` (or
``lamp/LaMP_3``, ``strategy/ddp.yaml``, ``configs/tiny.yaml``) resolves to the shipped file when
no such file exists in the working directory; an existing path always wins. A name that is neither
is refused with the nearest shipped name, and a file that is not valid YAML with its line and column. ``bump configs``
lists them and copies one out to be edited.

A config can be an overlay: a ``# base: NAME`` line in its leading comments puts that config before it
(``tiny``, ``demo`` and ``movielens_minilm`` over ``cpu/base``, ``movielens`` over ``movielens_minilm``),
as if both were given with ``--config``, recursively.
``NAME`` is a path relative to the overlay's folder, else a shipped config's name (so a copy made
with ``bump configs copy`` keeps its base).
"""

from __future__ import annotations

import re
import shutil
import sys
from importlib.resources import files
from pathlib import Path

from bump_pl.cli.config_errors import check_yaml
from bump_pl.cli.failure import UsageError
from bump_pl.did_you_mean import unknown_name

PACKAGE = "bump_pl.configs"
SUFFIX = ".yaml"
BASE_LINE = re.compile(r"#\s*base:\s*(\S+)")


def configs_root() -> Path:
    """The folder of the shipped configs (the source tree's ``configs/`` in an editable install)."""
    return Path(str(files(PACKAGE)))


def shipped_configs() -> dict[str, Path]:
    """Shipped config name (``tiny``, ``lamp/LaMP_3``, ``strategy/ddp``) -> its file."""
    root = configs_root()
    return {path.relative_to(root).with_suffix("").as_posix(): path for path in sorted(root.rglob(f"*{SUFFIX}"))}


def resolve_config(value: str) -> str:
    """``value`` itself when it is an existing file, else the shipped config it names; its YAML checked.

    Raises:
        UsageError: neither a file nor a shipped config (with the nearest shipped name), or a file
            that is not valid YAML (file, line and column).
    """
    if Path(value).exists():
        check_yaml(Path(value))
        return value
    name = value.removeprefix("configs/").removesuffix(SUFFIX)
    shipped = shipped_configs()
    if name not in shipped:
        raise UsageError(f"no such file, and {unknown_name('shipped config', name, shipped)} (--config {value}): `bump configs` lists them")
    return str(shipped[name])


def with_bases(path: str) -> list[str]:
    """``[base's bases..., base, path]``: the config ``path`` preceded by the base its leading comments
    name on a ``# base: NAME`` line (relative to its folder, else a shipped name), recursively."""
    for line in Path(path).read_text().splitlines():
        if not line.startswith("#"):
            break
        if found := BASE_LINE.fullmatch(line.strip()):
            sibling = Path(path).parent / found.group(1)
            base = str(sibling) if sibling.is_file() else resolve_config(found.group(1))
            return [*with_bases(base), path]
    return [path]


def resolve_config_args(args: list[str]) -> list[str]:
    """``args`` with every ``--config VALUE`` / ``--config=VALUE`` resolved by :func:`resolve_config`,
    an overlay's base given first (:func:`with_bases`)."""
    resolved: list[str] = []
    expect_value = False
    for arg in args:
        if expect_value:
            for path in with_bases(resolve_config(arg)):
                resolved += ["--config", path]
            expect_value = False
        elif arg == "--config":
            expect_value = True
        elif arg.startswith("--config="):
            resolved += [f"--config={path}" for path in with_bases(resolve_config(arg.removeprefix("--config=")))]
        else:
            resolved.append(arg)
    return resolved + ["--config"] * expect_value  # a trailing --config: the parser says what is missing


def configs_command(args: list[str]) -> int:
    """``bump configs`` (list the shipped configs) or ``bump configs copy NAME [DEST]`` (copy one out)."""
    shipped = shipped_configs()
    if not args or args[0] == "list":
        for name, path in shipped.items():
            print(f"{name:<20} {_first_comment(path)}")
        return 0
    if args[0] == "copy" and len(args) in (2, 3):
        name = args[1].removeprefix("configs/").removesuffix(SUFFIX)
        if name not in shipped:
            print(f"bump configs: error: {unknown_name('shipped config', name, shipped)}: `bump configs` lists them", file=sys.stderr)
            return 1
        dest = Path(args[2]) if len(args) == 3 else Path(Path(name).name + SUFFIX)
        if dest.is_dir():
            dest = dest / (Path(name).name + SUFFIX)
        if dest.exists():
            print(f"bump configs: error: {dest} exists; remove it or name another destination", file=sys.stderr)
            return 1
        shutil.copyfile(shipped[name], dest)
        print(f"wrote {dest}")
        return 0
    print("usage: bump configs [list] | bump configs copy NAME [DEST]", file=sys.stderr)
    return 2


def _first_comment(path: Path) -> str:
    """The config's first comment line (what it is for), without the ``#``."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""
