"""docs/architecture.md stays true: every path it names exists, every module sits in one of its
layers, imports go only to the same layer or one above it in the table (bottom-up), and Lightning
stays in the layers it names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
#: The one import against the layers that the page states: lazy (inside a function), for the tokenizer.
LAZY_UPWARD = {("bump_pl/data/datamodule.py", "models")}
LIGHTNING_LAYERS = {"Lightning", "front ends"}
LIGHTNING_ALSO = {"bump_pl/data/datamodule.py", "bump_pl/data/notices.py"}  # the page's data row


def layers() -> list[tuple[str, list[str]]]:
    """``[(layer, [path, ...])]`` in the table's order (lowest layer first)."""
    table = PAGE.split("| layer | paths |", 1)[1].split("\n\n", 1)[0]
    rows = [line.split(" | ") for line in table.splitlines()[2:]]
    return [(cells[0].lstrip("| "), re.findall(r"`([^`]+)`", cells[1])) for cells in rows]


LAYERS = layers()
MODULES = sorted(p for top in ("bump_pl", "callbacks") for p in (ROOT / top).rglob("*.py"))


def layer_of(path: Path) -> int:
    """Index in :data:`LAYERS` of the longest table path that holds ``path`` (a file of the repo)."""
    rel = path.relative_to(ROOT).as_posix()
    matches = [(len(p), n) for n, (_, paths) in enumerate(LAYERS) for p in paths if rel == p or rel.startswith(p) and p.endswith("/")]
    assert matches, f"{rel} is in no layer of docs/architecture.md"
    return max(matches)[1]


def module_file(name: str) -> Path | None:
    """The file of an imported ``bump_pl.*`` module (``bump_pl.callbacks`` lives in ``callbacks/``), or of
    its nearest package when ``name`` ends in an attribute; None for other modules."""
    parts = name.split(".")
    if parts[0] != "bump_pl":
        return None
    base = [ROOT / "callbacks", *parts[2:]] if parts[1:2] == ["callbacks"] else [ROOT, *parts]
    for cut in range(len(base), 1, -1):
        stem = Path(*map(str, base[:cut]))
        for candidate in (stem.with_suffix(".py"), stem / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def imports(path: Path) -> list[tuple[str, bool]]:
    """``(module, at_top_level)`` of every absolute import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.module, id(node) in top)] + [(f"{node.module}.{a.name}", id(node) in top) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
    return found


def test_the_table_is_ordered_and_every_module_has_a_layer():
    assert [name for name, _ in LAYERS][:2] == ["helpers", "data"] and LAYERS[-1][0] == "front ends"
    assert {layer_of(path) for path in MODULES} == set(range(len(LAYERS)))  # no empty layer either


def test_imports_go_to_the_same_layer_or_below():
    wrong = []
    for path in MODULES:
        source = layer_of(path)
        for name, top_level in imports(path):
            target = module_file(name)
            if target is None or target == path:
                continue
            if layer_of(target) > source:
                lazy_ok = (path.relative_to(ROOT).as_posix(), LAYERS[layer_of(target)][0]) in LAZY_UPWARD and not top_level
                if not lazy_ok:
                    wrong.append(f"{path.relative_to(ROOT)} ({LAYERS[source][0]}) imports {name} ({LAYERS[layer_of(target)][0]})")
    assert wrong == []


def test_lightning_only_where_the_page_says():
    users = {
        path.relative_to(ROOT).as_posix() for path in MODULES
        if any(name.split(".")[0] in ("lightning", "pytorch_lightning") for name, _ in imports(path))
    }
    allowed = {p for p in users if LAYERS[layer_of(ROOT / p)][0] in LIGHTNING_LAYERS} | LIGHTNING_ALSO
    assert users and users <= allowed, users - allowed


def _exists(token: str) -> bool:
    """A path (from the repo root, ``bump_pl/`` or ``callbacks/``; a bare file name anywhere in them),
    or ``module/path.attribute`` whose module file defines ``attribute``."""
    dotted = re.fullmatch(r"([\w/]+)\.(\w+)", token)
    if dotted and dotted.group(2) not in ("py", "md", "yaml", "toml", "json"):
        module = next((p for p in (ROOT / f"{dotted.group(1)}.py", ROOT / "bump_pl" / f"{dotted.group(1)}.py") if p.is_file()), None)
        return module is not None and re.search(rf"^\s*(def|class)\s+{dotted.group(2)}\b|^{dotted.group(2)}\s*=", module.read_text(), re.M) is not None
    if any((base / token).exists() for base in (ROOT, ROOT / "bump_pl", ROOT / "callbacks")):
        return True
    return "/" not in token and any(any(top.rglob(token)) for top in (ROOT / "bump_pl", ROOT / "callbacks"))


def test_every_path_the_page_names_exists():
    tokens = {t for t in re.findall(r"`([^`\s]+)`", PAGE) if re.search(r"/|\.(py|md|yaml)$", t) and not re.search(r"[{}*<>]", t)}
    assert len(tokens) > 30
    assert sorted(t for t in tokens if not _exists(t)) == []
