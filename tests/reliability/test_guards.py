"""Guards on what bump-pl runs and reads: no remote code unless asked, ``torch.load`` only with
``weights_only=True``, and user ids never spliced into file paths."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import bump_pl.models.loading as loading
from bump_pl.judges import EmbeddingJudge
from bump_pl.models.tiny import tiny_random_encoder, tiny_random_llama, tiny_tokenizer
from bump_pl.module import BumpModule

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for folder in ("bump_pl", "callbacks", "bench") for p in (REPO_ROOT / folder).rglob("*.py"))
PATH_CALLS = {"Path", "open", "joinpath", "with_name", "with_suffix", "mkdir", "write_text", "write_bytes", "mkdtemp", "mkstemp"}


def _capture_loaders(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Replace the three transformers loaders bump-pl calls; record each call's kwargs."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def fake(name: str, result: Any) -> Any:
        def from_pretrained(location: str, **kwargs: Any) -> Any:
            calls.append((name, kwargs))
            return result()

        return from_pretrained

    monkeypatch.setattr(loading.AutoModelForCausalLM, "from_pretrained", fake("causal", lambda: tiny_random_llama(0)))
    monkeypatch.setattr(loading.AutoModel, "from_pretrained", fake("encoder", lambda: tiny_random_encoder(0)))
    monkeypatch.setattr(loading.AutoTokenizer, "from_pretrained", fake("tokenizer", tiny_tokenizer))
    return calls


def test_trust_remote_code_is_off_unless_the_config_sets_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _capture_loaders(monkeypatch)
    folder = str(tmp_path)  # an existing folder: goes through from_pretrained, not an alias
    BumpModule(model=folder, judge=EmbeddingJudge(model=folder))
    assert sorted(name for name, _ in calls) == ["causal", "encoder", "tokenizer", "tokenizer"]
    assert all(kwargs["trust_remote_code"] is False for _, kwargs in calls)

    calls.clear()
    BumpModule(model=folder, judge=EmbeddingJudge(model=tiny_random_encoder(0), tokenizer=tiny_tokenizer()), trust_remote_code=True)
    assert [(name, kwargs["trust_remote_code"]) for name, kwargs in calls] == [("tokenizer", True), ("causal", True)]


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _is_torch_load(call: ast.Call) -> bool:
    func = call.func
    return isinstance(func, ast.Attribute) and func.attr == "load" and isinstance(func.value, ast.Name) and func.value.id == "torch"


def _weights_only_true(call: ast.Call) -> bool:
    return any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords)


def test_the_torch_load_scanner_flags_unsafe_calls() -> None:
    unsafe, safe = ast.parse("torch.load(path)"), ast.parse("torch.load(path, weights_only=True)")
    assert [_weights_only_true(c) for c in _calls(unsafe) if _is_torch_load(c)] == [False]
    assert [_weights_only_true(c) for c in _calls(safe) if _is_torch_load(c)] == [True]


def test_every_torch_load_in_the_package_sets_weights_only_true() -> None:
    assert len(SOURCES) > 40  # the scan really covers the package
    unsafe = [
        f"{path.relative_to(REPO_ROOT)}:{call.lineno}"
        for path in SOURCES
        for call in _calls(ast.parse(path.read_text(encoding="utf-8")))
        if _is_torch_load(call) and not _weights_only_true(call)
    ]
    assert unsafe == []


def _names(node: ast.AST) -> set[str]:
    return {n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(node) if isinstance(n, (ast.Name, ast.Attribute))}


def _raw_user_paths(tree: ast.AST) -> list[int]:
    """Lines where a user id flows straight into a path: ``x / user_id``, ``Path(..user_id..)``, ..."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            parts = [node.left, node.right]
        elif isinstance(node, ast.Call) and (_names(node.func) & PATH_CALLS):
            parts = [*node.args, *(k.value for k in node.keywords)]
        else:
            continue
        if any(name in ("user_id", "user_ids") for part in parts for name in _names(part)):
            lines.append(node.lineno)
    return lines


def test_the_user_path_scanner_flags_raw_ids() -> None:
    assert _raw_user_paths(ast.parse("out = folder / f'{user.user_id}.json'")) == [1]
    assert _raw_user_paths(ast.parse("Path(root, batch.user_ids[0])")) == [1]
    assert _raw_user_paths(ast.parse("out = folder / shard_name(rows)")) == []


def test_user_ids_are_never_used_raw_in_file_paths() -> None:
    raw = [
        f"{path.relative_to(REPO_ROOT)}:{line}"
        for path in SOURCES
        for line in _raw_user_paths(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert raw == []

