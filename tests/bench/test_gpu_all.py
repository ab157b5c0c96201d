"""bench/gpu_all.py: choosing and installing wheels offline, reading the pieces' outputs, and the whole
driver in its tiny CPU mode (every piece present and ok, timings consistent, every target judged)."""

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import gpu_all  # noqa: E402
from gpu_all import TARGETS, WHEELS, Wheel  # noqa: E402

RICH_TABLE = """\
│               val/ndcg                │          0.7031109233697255          │
│        val/ndcg_history_budget        │          0.675004502137502           │
"""
CLOSING_LINES = """\
bump: validate: checkpoint runs/tiny/version_0/checkpoints/last.ckpt (step 2), logging to runs/tiny/version_0
bump: fit: last checkpoint: runs/tiny/version_0/checkpoints/last.ckpt
bump: error: ValueError: not an output
"""


def fake_wheel(folder: Path, name: str, version: str, requires: str) -> Path:
    """A minimal pure-Python wheel whose module ``name`` holds ``VERSION = version``."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Dist: {requires}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{dist_info}/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{dist_info}/RECORD"])
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


def test_a_wheel_is_needed_when_missing_or_older_than_its_pin():
    wheel = Wheel("transformers", "5.24.0")
    assert gpu_all.needs_install(wheel, None)
    assert gpu_all.needs_install(wheel, "5.17.0")  # what the H200 image has
    assert not gpu_all.needs_install(wheel, "5.24.0")
    assert not gpu_all.needs_install(wheel, "5.25.1")


def test_wheel_file_takes_the_pinned_version_for_this_interpreter(tmp_path):
    for tag in ("py310", "py311", "py312", "py313"):
        (tmp_path / f"multiprocess-0.70.19-{tag}-none-any.whl").touch()
    (tmp_path / "multiprocess-0.70.18-py3-none-any.whl").touch()
    (tmp_path / "rouge_score-0.1.2-py3-none-any.whl").touch()
    here = f"py{sys.version_info.major}{sys.version_info.minor}"
    assert gpu_all.wheel_file(tmp_path, Wheel("multiprocess", "0.70.19")).name == f"multiprocess-0.70.19-{here}-none-any.whl"
    assert gpu_all.wheel_file(tmp_path, Wheel("rouge_score", "0.1.2")).name == "rouge_score-0.1.2-py3-none-any.whl"
    assert gpu_all.wheel_file(tmp_path, Wheel("dill", "0.4.1")) is None


def test_install_wheels_puts_missing_ones_in_the_site_folder_once_and_their_needs_are_checked(tmp_path, monkeypatch):
    folder, site = tmp_path / "whl", tmp_path / "site"
    folder.mkdir(), site.mkdir()
    fake_wheel(folder, "bumpfakepkg", "1.0", requires="bumpnotherepkg>=1")
    monkeypatch.setattr(gpu_all, "WHEELS", (Wheel("bumpfakepkg", "1.0"), Wheel("bumpabsentpkg", "2.0")))
    report = gpu_all.install_wheels(folder, site, tmp_path / "pip.log")
    assert report == {
        "needed_here": ["bumpfakepkg==1.0", "bumpabsentpkg==2.0"],
        "missing_files": ["bumpabsentpkg"],
        "installed": ["bumpfakepkg-1.0-py3-none-any.whl"],
    }
    assert (site / "bumpfakepkg" / "__init__.py").read_text() == "VERSION = '1.0'\n"
    assert gpu_all.installed_version("bumpfakepkg", [str(site)]) == "1.0"
    again = gpu_all.install_wheels(folder, site, tmp_path / "pip.log")
    assert again["needed_here"] == ["bumpabsentpkg==2.0"] and again["installed"] == []
    assert gpu_all.dependency_report([str(site), *sys.path])["unmet"] == ["bumpnotherepkg>=1 (found None)"]


def test_fetch_commands_download_every_pin_and_build_the_sdist_only_one(tmp_path):
    download, build = gpu_all.fetch_commands(tmp_path)
    assert download[3:5] == ["download", "--no-deps"] and ["--python-version", gpu_all.FETCH_PYTHON] == download[6:8]
    assert build[3:5] == ["wheel", "--no-deps"]
    pins = [arg for arg in download + build if "==" in arg]
    assert sorted(pins) == sorted(wheel.pin for wheel in WHEELS)
    assert build[-1] == "rouge_score==0.1.2"


def test_outputs_are_read_from_the_clis_closing_lines_and_the_metric_table(tmp_path):
    outputs = gpu_all.run_outputs(CLOSING_LINES, tmp_path)
    assert outputs == {"last checkpoint": str(tmp_path / "runs/tiny/version_0/checkpoints/last.ckpt")}
    assert gpu_all.validate_figures(RICH_TABLE + CLOSING_LINES, tmp_path)["val_ndcg"] == pytest.approx(0.70311092)
    assert gpu_all.validate_figures("val/ndcg      0.5\n", tmp_path)["val_ndcg"] == 0.5  # plain-text table
    with pytest.raises(gpu_all.PieceError):
        gpu_all.validate_figures("val/ndcg_history_full  0.8\n", tmp_path)
    assert gpu_all.last_json('noise\n{"a": 1}\n{"b": 2}\ntrailing text\n') == {"b": 2}


def test_targets_are_met_at_or_under_their_limits_and_missing_figures_fail():
    targets = gpu_all.evaluate_targets({"step_s": 6.0, "peak_memory_gb": 81.0, "rollouts_s": 0.5, "judge_s": 3.0})
    assert {key: target["met"] for key, target in targets.items()} == {
        "step_s": True, "peak_memory_gb": False, "rollouts_s": True, "judge_s": True, "update_s": False,
    }
    assert targets["update_s"]["value"] is None and targets["step_s"]["limit"] == TARGETS["step_s"]


def test_a_piece_past_the_deadline_is_killed_and_the_rest_are_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_all, "MIN_PIECE_S", 0.5)

    def sleeper(seconds: float):
        return lambda results: [sys.executable, "-c", f"import time; time.sleep({seconds}); print('{{\"slept\": {seconds}}}')"]

    def read(output: str, cwd: Path) -> dict:
        return gpu_all.last_json(output)

    plan = [
        gpu_all.Piece("quick", 10, sleeper(0), read),
        gpu_all.Piece("orphan", 10, lambda results: None, read),  # what it needs is missing
        gpu_all.Piece("long", 10, sleeper(60), read),
        gpu_all.Piece("late", 10, sleeper(0), read),
    ]
    results = gpu_all.run_all(plan, time.perf_counter() + 3, tmp_path, dict(os.environ), tmp_path)
    assert results["quick"]["status"] == "ok" and results["quick"]["figures"] == {"slept": 0}
    assert results["orphan"] == {"status": "skipped", "reason": "a piece it needs failed"}
    assert results["long"]["status"] == "timeout" and results["long"]["wall_s"] < 5
    assert results["late"]["status"] == "skipped" and "left of the budget" in results["late"]["reason"]


@pytest.mark.slow
def test_tiny_cpu_run_reports_every_piece_ok_with_consistent_timings(tmp_path):
    done = subprocess.run(
        [sys.executable, str(BENCH / "gpu_all.py"), "--tiny", "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary == json.loads((tmp_path / "out" / "summary.json").read_text())
    assert all(wheel.pin in done.stdout.splitlines()[0] for wheel in WHEELS)  # the wheel list comes first
    assert summary["mode"] == "tiny-cpu" and summary["ok"] is True and summary["environment"]["unmet"] == []
    pieces = summary["pieces"]
    assert list(pieces) == ["equivalence", "step", "fit", "validate", "fsdp"]
    assert all(piece["status"] == "ok" and piece["wall_s"] > 0 for piece in pieces.values()), pieces
    rounding = 0.005 * len(pieces) + 0.05  # pieces are rounded to 0.01 s, the total to 0.1 s
    assert sum(piece["wall_s"] for piece in pieces.values()) <= summary["wall_s"] + rounding
    step = pieces["step"]["figures"]
    phases = [step[key] for key in ("rollouts_s", "judge_s", "update_s")]
    assert all(value > 0 for value in phases) and step["step_s"] > 0 and sum(phases) <= step["step_s"]
    assert set(summary["targets"]) == set(TARGETS)
    assert all(isinstance(target["met"], bool) for target in summary["targets"].values())
    assert summary["targets_apply"] is False
    fit = pieces["fit"]["figures"]
    assert Path(fit["outputs"]["last checkpoint"]).is_file() and fit["profiles_cached"] > 0
    assert 0 <= pieces["validate"]["figures"]["val_ndcg"] <= 1
    assert pieces["equivalence"]["figures"]["ok"] is True
