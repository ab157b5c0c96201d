"""A killed-and-resumed Lightning fit continues the data order with no batch repeated or skipped."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from bump_pl.data import BumpDataModule, UserGroupBatch
from bump_pl.models.tiny import tiny_tokenizer


class _Recorder(pl.LightningModule):
    """Records the user ids of every training batch; a zero loss keeps the optimizer step trivial."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[tuple[str, ...]] = []

    def training_step(self, batch: UserGroupBatch, batch_idx: int) -> torch.Tensor:
        self.seen.append(tuple(batch.user_ids))
        return self.weight.sum() * 0.0

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(data_dir: Path, checkpoints: Path, ckpt_path: Path | None = None) -> list[tuple[str, ...]]:
    module = _Recorder()
    data = BumpDataModule(data_dir, tiny_tokenizer(), users_per_batch=4, heldout_per_user=3, min_context_items=2,
                          max_prompt_tokens=None, seed=7)
    trainer = pl.Trainer(
        accelerator="cpu", max_epochs=2, use_distributed_sampler=False, logger=False, limit_val_batches=0,
        num_sanity_val_steps=0, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[ModelCheckpoint(dirpath=checkpoints, every_n_train_steps=3, save_top_k=-1, filename="{step}")],
    )
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)
    return module.seen


@pytest.mark.slow
def test_resume_mid_epoch_continues_the_data_order(synthetic_lamp3: Path, tmp_path: Path) -> None:
    full = _fit(synthetic_lamp3, tmp_path / "ckpt")
    assert len(full) == 14 and full[:7] != full[7:]  # 28 users / U=4 = 7 batches per epoch, reshuffled
    for step in (3, 6, 9):  # mid epoch 0, last batch of epoch 0 pending, mid epoch 1
        resumed = _fit(synthetic_lamp3, tmp_path / f"again{step}", tmp_path / "ckpt" / f"step={step}.ckpt")
        assert resumed == full[step:], step
