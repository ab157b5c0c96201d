"""log_text: one table to TensorBoard (text), W&B-style loggers (log_table), file loggers (text.jsonl)."""

import json
import sys

import pytest
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from bump_pl.text_logging import TEXT_FILE, log_text

HEADER = ["user", "reward", "profile"]
ROWS = [["u1", 0.5, "likes | jazz\nand films"], ["u2", 0.25, "hikes"]]


class FakeWandbLogger:
    """What log_text uses of lightning's WandbLogger: ``log_table(key, columns, data, step)``."""

    def __init__(self) -> None:
        self.tables = []

    def log_table(self, key, columns=None, data=None, dataframe=None, step=None):
        self.tables.append((key, columns, data, step))


def test_tensorboard_gets_a_markdown_table(tmp_path):
    logger = TensorBoardLogger(save_dir=str(tmp_path), name="tb", version=0)
    log_text([logger], "train/samples", HEADER, ROWS, step=7)
    logger.experiment.flush()
    events = EventAccumulator(logger.log_dir, size_guidance={"tensors": 0}).Reload()
    (event,) = events.Tensors("train/samples/text_summary")
    assert event.step == 7
    assert event.tensor_proto.string_val[0].decode() == (
        "| user | reward | profile |\n|---|---|---|\n| u1 | 0.5 | likes / jazz and films |\n| u2 | 0.25 | hikes |"
    )


def test_a_wandb_logger_gets_a_table_of_the_raw_cells():
    logger = FakeWandbLogger()
    log_text([logger], "profiles/val", HEADER, ROWS, step=3)
    assert logger.tables == [("profiles/val", HEADER, ROWS, 3)]
    assert "wandb" not in sys.modules  # nothing here imports wandb; the real logger does, when present


def test_a_csv_logger_gets_one_json_line_per_table(tmp_path):
    logger = CSVLogger(save_dir=str(tmp_path), name="csv", version=0)
    log_text([logger], "train/samples", HEADER, ROWS, step=1)
    log_text([logger], "profiles/val", ["user", "profile"], [["u3", "reads"]], step=2)
    lines = (tmp_path / "csv" / "version_0" / TEXT_FILE).read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"tag": "train/samples", "step": 1, "columns": HEADER, "rows": ROWS},
        {"tag": "profiles/val", "step": 2, "columns": ["user", "profile"], "rows": [["u3", "reads"]]},
    ]


def test_every_configured_logger_gets_the_table_and_one_without_text_is_named(tmp_path):
    class NoTextLogger:
        log_dir = None

    csv, wandb = CSVLogger(save_dir=str(tmp_path), name="csv", version=0), FakeWandbLogger()
    with pytest.warns(UserWarning, match=r"NoTextLogger takes no text .* 'train/samples'"):
        log_text([csv, wandb, NoTextLogger()], "train/samples", HEADER, ROWS, step=4)
    assert len(wandb.tables) == 1 and (tmp_path / "csv" / "version_0" / TEXT_FILE).is_file()
