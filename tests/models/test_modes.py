"""The temporary eval mode gives each submodule back its own mode."""

from __future__ import annotations

import torch

from bump_pl.models.modes import eval_mode


def test_eval_mode_restores_each_submodules_own_mode() -> None:
    outer = torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Sequential(torch.nn.Dropout(0.5)))
    outer.train()
    outer[1].eval()  # e.g. a frozen judge inside a training module
    with eval_mode(outer):
        assert not any(module.training for module in outer.modules())
    assert outer.training and outer[0].training and not outer[1].training and not outer[1][0].training
